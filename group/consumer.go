package group

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// The KIP-848 consumer protocol: a group whose members heartbeat with
// ConsumerGroupHeartbeat and get their partitions from the coordinator.
// The group epoch advances on every change of membership, subscription or
// subscribed topics' metadata; the target assignment is computed for it by
// a server-side assignor; each member reconciles towards its target
// (reconcile.go) and carries its own member epoch.

// TopicMeta is one topic as the consumer protocol needs it.
type TopicMeta struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// consumerGroup is the KIP-848 state of a group (guarded by the group's mu).
type consumerGroup struct {
	groupEpoch      int32
	assignmentEpoch int32
	assignor        string
	subscribed      map[string]int32 // topic -> partitions, as of groupEpoch
	members         map[string]*consumerMember
	static          map[string]string // instance id -> member id
	// owners is who owns (or still revokes) each partition: no partition
	// is given to a member while another one is its owner.
	owners map[topicPartition]string
	// topics is the topic metadata of the last heartbeat, for assignments
	// computed off a heartbeat (a member's session expiring).
	topics map[string]TopicMeta
}

// consumerMember is one member of a consumer group.
type consumerMember struct {
	id, instanceID, rackID string
	clientID, clientHost   string
	rebalanceTimeout       time.Duration
	topicNames             []string
	regex                  string
	re                     *regexp.Regexp
	serverAssignor         string
	left                   bool // a static member that left with epoch -2
	reconciliation
	target Assignment

	sessionSeq   uint64
	sessionTimer *time.Timer
	revokeSeq    uint64
	revokeTimer  *time.Timer
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		subscribed: map[string]int32{},
		members:    map[string]*consumerMember{},
		static:     map[string]string{},
		owners:     map[topicPartition]string{},
		topics:     map[string]TopicMeta{},
	}
}

func (m *consumerMember) stopTimers() {
	m.sessionSeq++
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
		m.sessionTimer = nil
	}
	m.stopRevokeTimer()
}

func (m *consumerMember) stopRevokeTimer() {
	m.revokeSeq++
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
		m.revokeTimer = nil
	}
}

// subscribes reports whether the member's subscription (names or regex)
// covers topic.
func (m *consumerMember) subscribes(topic string) bool {
	if m.re != nil {
		return m.re.MatchString(topic)
	}
	return slices.Contains(m.topicNames, topic)
}

// compileSubscriptionRegex compiles a subscribed_topic_regex (RE2 syntax)
// so that it matches whole topic names, as Kafka does.
func compileSubscriptionRegex(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}

// isInternalTopic is a topic regex subscriptions never match.
func isInternalTopic(name string) bool { return strings.HasPrefix(name, "__") }

// state is the group state as Kafka names it for consumer groups.
func (cg *consumerGroup) state() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.groupEpoch != cg.assignmentEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.Epoch != cg.assignmentEpoch || m.State != stateStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

// classicState is the state DescribeGroups shows for a consumer group.
func (cg *consumerGroup) classicState() string {
	switch cg.state() {
	case "Empty":
		return Empty.String()
	case "Assigning":
		return PreparingRebalance.String()
	case "Reconciling":
		return CompletingRebalance.String()
	}
	return Stable.String()
}

// setReconciliation moves m to r and keeps the owner map in step.
func (cg *consumerGroup) setReconciliation(m *consumerMember, r reconciliation) {
	cg.release(m)
	m.reconciliation = r
	for _, a := range []Assignment{r.Assigned, r.PendingRevocation} {
		for t, ps := range a {
			for _, p := range ps {
				cg.owners[topicPartition{t, p}] = m.id
			}
		}
	}
}

// release forgets m as the owner of its partitions.
func (cg *consumerGroup) release(m *consumerMember) {
	for _, a := range []Assignment{m.Assigned, m.PendingRevocation} {
		for t, ps := range a {
			for _, p := range ps {
				tp := topicPartition{t, p}
				if cg.owners[tp] == m.id {
					delete(cg.owners, tp)
				}
			}
		}
	}
}

// ownedByOther is reconcile's view of the owners, for member id.
func (cg *consumerGroup) ownedByOther(id string) func(string, int32) bool {
	return func(t string, p int32) bool {
		o, ok := cg.owners[topicPartition{t, p}]
		return ok && o != id
	}
}

// resolvedTopics returns the member's subscribed topics that exist.
func (cg *consumerGroup) resolvedTopics(m *consumerMember) map[string]bool {
	out := map[string]bool{}
	if m.re != nil {
		for name := range cg.topics {
			if !isInternalTopic(name) && m.re.MatchString(name) {
				out[name] = true
			}
		}
		return out
	}
	for _, t := range m.topicNames {
		if _, ok := cg.topics[t]; ok {
			out[t] = true
		}
	}
	return out
}

// subscriptionMetadata is the partition count of every topic some member
// subscribes to.
func (cg *consumerGroup) subscriptionMetadata() map[string]int32 {
	out := map[string]int32{}
	for _, m := range cg.members {
		for t := range cg.resolvedTopics(m) {
			out[t] = cg.topics[t].Partitions
		}
	}
	return out
}

// chooseAssignor is the assignor most members ask for; ties and no
// preference go to the first configured one (uniform).
func (cg *consumerGroup) chooseAssignor() assignor {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.serverAssignor != "" {
			votes[m.serverAssignor]++
		}
	}
	best := assignors[0]
	for _, a := range assignors {
		if votes[a.name()] > votes[best.name()] {
			best = a
		}
	}
	return best
}

// computeTarget computes the target assignment of the current group epoch.
func (cg *consumerGroup) computeTarget() {
	a := cg.chooseAssignor()
	ids := sortedKeys(cg.members)
	members := make([]assignorMember, 0, len(ids))
	previous := map[string]Assignment{}
	for _, id := range ids {
		m := cg.members[id]
		members = append(members, assignorMember{id: id, topics: cg.resolvedTopics(m)})
		previous[id] = m.target
	}
	result := a.assign(members, cg.subscribed, previous)
	for _, id := range ids {
		cg.members[id].target = result[id]
	}
	cg.assignor = a.name()
	cg.assignmentEpoch = cg.groupEpoch
}

// export is the group's consumer state for etcd.
func (cg *consumerGroup) export() *meta.ConsumerGroupState {
	st := &meta.ConsumerGroupState{
		GroupEpoch: cg.groupEpoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: cg.assignor,
		SubscribedTopics: cg.subscribed,
	}
	ids := sortedKeys(cg.members)
	for _, id := range ids {
		m := cg.members[id]
		st.Members = append(st.Members, meta.ConsumerGroupMember{
			MemberID: m.id, InstanceID: m.instanceID, RackID: m.rackID,
			ClientID: m.clientID, ClientHost: m.clientHost,
			RebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond),
			SubscribedTopics:   m.topicNames, SubscribedRegex: m.regex, ServerAssignor: m.serverAssignor,
			State: string(m.State), Left: m.left,
			MemberEpoch: m.Epoch, PreviousMemberEpoch: m.PreviousEpoch,
			Assigned: m.Assigned, PendingRevocation: m.PendingRevocation, Target: m.target,
		})
	}
	return st
}

// importConsumerGroup rebuilds a consumer group from etcd. A regex that no
// longer compiles (it compiled when it was accepted) subscribes to nothing.
func importConsumerGroup(st *meta.ConsumerGroupState) *consumerGroup {
	cg := newConsumerGroup()
	cg.groupEpoch, cg.assignmentEpoch, cg.assignor = st.GroupEpoch, st.AssignmentEpoch, st.Assignor
	for t, n := range st.SubscribedTopics {
		cg.subscribed[t] = n
	}
	for _, pm := range st.Members {
		m := &consumerMember{
			id: pm.MemberID, instanceID: pm.InstanceID, rackID: pm.RackID,
			clientID: pm.ClientID, clientHost: pm.ClientHost,
			rebalanceTimeout: time.Duration(pm.RebalanceTimeoutMs) * time.Millisecond,
			topicNames:       pm.SubscribedTopics, regex: pm.SubscribedRegex, serverAssignor: pm.ServerAssignor,
			left:   pm.Left,
			target: Assignment(pm.Target).normalized(),
		}
		if m.regex != "" {
			m.re, _ = compileSubscriptionRegex(m.regex)
			if m.re == nil {
				m.re = regexp.MustCompile(`^\b$`) // matches no topic name
			}
		}
		state := memberState(pm.State)
		if state != stateUnrevoked && state != stateUnreleased {
			state = stateStable
		}
		cg.members[m.id] = m
		if m.instanceID != "" {
			cg.static[m.instanceID] = m.id
		}
		cg.setReconciliation(m, reconciliation{
			State: state, Epoch: pm.MemberEpoch, PreviousEpoch: pm.PreviousMemberEpoch,
			Assigned: Assignment(pm.Assigned).normalized(), PendingRevocation: Assignment(pm.PendingRevocation).normalized(),
		})
	}
	return cg
}

// ConsumerMemberDescription is one member in ConsumerGroupDescribe.
type ConsumerMemberDescription struct {
	MemberID, InstanceID, RackID string
	ClientID, ClientHost         string
	MemberEpoch                  int32
	SubscribedTopics             []string
	SubscribedRegex              string
	Assigned                     Assignment
	Target                       Assignment
}

// ConsumerDescription answers ConsumerGroupDescribe for one group.
type ConsumerDescription struct {
	Group           string
	State           string // Empty, Assigning, Reconciling, Stable
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerMemberDescription
}

func (cg *consumerGroup) describe(name string) ConsumerDescription {
	d := ConsumerDescription{Group: name, State: cg.state(), Epoch: cg.groupEpoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: cg.assignor}
	if d.Assignor == "" {
		d.Assignor = cg.chooseAssignor().name()
	}
	ids := sortedKeys(cg.members)
	for _, id := range ids {
		m := cg.members[id]
		epoch := m.Epoch
		if m.left {
			epoch = leaveStaticEpoch
		}
		topics := slices.Clone(m.topicNames)
		if m.re != nil {
			topics = sortedKeys(cg.resolvedTopics(m))
		}
		d.Members = append(d.Members, ConsumerMemberDescription{
			MemberID: m.id, InstanceID: m.instanceID, RackID: m.rackID,
			ClientID: m.clientID, ClientHost: m.clientHost, MemberEpoch: epoch,
			SubscribedTopics: topics, SubscribedRegex: m.regex,
			Assigned: m.Assigned.clone(), Target: m.target.clone(),
		})
	}
	return d
}

func (cg *consumerGroup) String() string {
	return fmt.Sprintf("consumer group epoch %d (assignment %d), %d members", cg.groupEpoch, cg.assignmentEpoch, len(cg.members))
}

// installConsumer sets a consumer group from etcd (g.mu held). Every
// member gets one session timeout from now to heartbeat again, as after a
// Kafka coordinator failover.
func (g *group) installConsumer(st *meta.GroupState) {
	g.cg = importConsumerGroup(st.Consumer)
	g.protocolType, g.protocol, g.generation = "consumer", "", g.cg.groupEpoch
	if st.StateTimeMs > 0 {
		g.stateTime = time.UnixMilli(st.StateTimeMs)
	}
	if len(g.cg.members) == 0 {
		return
	}
	g.state, g.prevState = Stable, Stable
	for _, m := range g.cg.members {
		g.scheduleSession(m)
		if m.State == stateUnrevoked {
			g.scheduleRevocation(m)
		}
	}
}

// validateCommit is Kafka's check of an OffsetCommit to a consumer group:
// generation -1 without a member id (admin tools, consumers that assign
// partitions themselves) only while the group has no members; otherwise
// the member's current epoch (STALE_MEMBER_EPOCH for an older one,
// FENCED_MEMBER_EPOCH for a newer one).
func (cg *consumerGroup) validateCommit(group, memberID string, epoch int32) error {
	if epoch < 0 && memberID == "" {
		if len(cg.members) == 0 {
			return nil
		}
		return fmt.Errorf("%w: group %q has members; only they can commit", kerr.UnknownMemberID, group)
	}
	return cg.validateMemberEpoch(group, memberID, epoch)
}

// validateMemberEpoch checks an offset request's member id and epoch.
func (cg *consumerGroup) validateMemberEpoch(group, memberID string, epoch int32) error {
	m := cg.members[memberID]
	if m == nil {
		return fmt.Errorf("%w: member %s is not in group %q", kerr.UnknownMemberID, memberID, group)
	}
	switch {
	case m.left:
		return fmt.Errorf("%w: static member %s left group %q", kerr.UnknownMemberID, memberID, group)
	case epoch > m.Epoch:
		return fmt.Errorf("%w: epoch %d, member %s is at %d", kerr.FencedMemberEpoch, epoch, memberID, m.Epoch)
	case epoch < m.Epoch:
		return fmt.Errorf("%w: epoch %d, member %s is at %d", kerr.StaleMemberEpoch, epoch, memberID, m.Epoch)
	}
	return nil
}

// describeClassic is a consumer group as DescribeGroups shows it: protocol
// type "consumer", the assignor as protocol, each member's subscription and
// assignment in the consumer protocol's encoding.
func (cg *consumerGroup) describeClassic(name string) Description {
	cd := cg.describe(name)
	d := Description{Group: name, State: cg.classicState(), ProtocolType: "consumer", Protocol: cd.Assignor}
	for _, m := range cd.Members {
		sub := kmsg.NewConsumerMemberMetadata()
		sub.Version = 3
		sub.Topics = m.SubscribedTopics
		if m.RackID != "" {
			sub.Rack = &m.RackID
		}
		asg := kmsg.NewConsumerMemberAssignment()
		asg.Version = 3
		for _, t := range sortedKeys(m.Assigned) {
			at := kmsg.NewConsumerMemberAssignmentTopic()
			at.Topic, at.Partitions = t, m.Assigned[t]
			asg.Topics = append(asg.Topics, at)
		}
		d.Members = append(d.Members, MemberDescription{
			MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Metadata: sub.AppendTo(nil), Assignment: asg.AppendTo(nil),
		})
	}
	return d
}
