package group

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Member epochs with a meaning of their own in ConsumerGroupHeartbeat.
const (
	joinEpoch        = 0
	leaveEpoch       = -1
	leaveStaticEpoch = -2
)

// ConsumerHeartbeatRequest is a ConsumerGroupHeartbeat. Nil fields are
// "unchanged since the last heartbeat", as on the wire.
type ConsumerHeartbeatRequest struct {
	Group       string
	MemberID    string // v0: "" on the first join (the coordinator picks one)
	MemberEpoch int32
	InstanceID  *string
	RackID      *string
	// RebalanceTimeout is how long the member may take to revoke; < 0:
	// unchanged.
	RebalanceTimeout time.Duration
	SubscribedTopics []string
	SubscribedRegex  *string
	ServerAssignor   *string
	// Owned is what the member owns, by topic name (topic ids already
	// resolved); nil: unchanged.
	Owned Assignment
	// Topics is the current topic metadata (the coordinator resolves
	// subscriptions and sees metadata changes through it).
	Topics     []TopicMeta
	ClientID   string
	ClientHost string
	// Version is the request version: v1+ members pick their member id.
	Version int16
}

// ConsumerHeartbeatResult answers a ConsumerGroupHeartbeat.
type ConsumerHeartbeatResult struct {
	Err               error
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	// Assignment is the member's assignment by topic name; nil: not sent
	// (unchanged).
	Assignment Assignment
}

func invalidRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{kerr.InvalidRequest}, args...)...)
}

// validateConsumerHeartbeat is Kafka's check of the request's shape.
func validateConsumerHeartbeat(req ConsumerHeartbeatRequest) error {
	switch {
	case req.Group == "":
		return invalidRequest("GroupId can't be empty")
	case req.Version >= 1 && req.MemberID == "":
		return invalidRequest("MemberId can't be empty")
	case req.InstanceID != nil && *req.InstanceID == "":
		return invalidRequest("InstanceId can't be empty")
	case req.RackID != nil && *req.RackID == "":
		return invalidRequest("RackId can't be empty")
	case req.MemberEpoch < leaveStaticEpoch:
		return invalidRequest("MemberEpoch %d is invalid", req.MemberEpoch)
	case req.MemberEpoch == joinEpoch && req.RebalanceTimeout < 0:
		return invalidRequest("RebalanceTimeoutMs must be provided in first request")
	case req.MemberEpoch == joinEpoch && (req.Owned == nil || len(req.Owned) > 0):
		return invalidRequest("TopicPartitions must be empty when (re-)joining")
	case req.MemberEpoch == joinEpoch && req.SubscribedTopics == nil && req.SubscribedRegex == nil:
		return invalidRequest("SubscribedTopicNames or SubscribedTopicRegex must be set in first request")
	case req.ServerAssignor != nil && assignorByName(*req.ServerAssignor) == nil:
		return fmt.Errorf("%w: assignor %q is not one of uniform, range", kerr.UnsupportedAssignor, *req.ServerAssignor)
	}
	if req.SubscribedRegex != nil && *req.SubscribedRegex != "" {
		if _, err := compileSubscriptionRegex(*req.SubscribedRegex); err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidRegularExpression, err)
		}
	}
	return nil
}

// ConsumerHeartbeat handles a ConsumerGroupHeartbeat: joins, leaves,
// subscription changes and reconciliation. A change of what is persisted
// (members, epochs, assignments) is written to etcd before the answer.
func (c *Coordinator) ConsumerHeartbeat(ctx context.Context, req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	fail := func(err error) ConsumerHeartbeatResult {
		return ConsumerHeartbeatResult{Err: err, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	}
	if err := validateConsumerHeartbeat(req); err != nil {
		return fail(err)
	}
	g, err := c.lockGroup(ctx, req.Group, req.MemberEpoch == joinEpoch)
	if err != nil {
		return fail(err)
	}
	if g == nil {
		return fail(fmt.Errorf("%w: group %q does not exist", kerr.GroupIDNotFound, req.Group))
	}
	if err := g.useConsumerProtocol(req.MemberEpoch == joinEpoch); err != nil {
		g.mu.Unlock()
		return fail(err)
	}
	cg := g.cg
	cg.topics = make(map[string]TopicMeta, len(req.Topics))
	for _, t := range req.Topics {
		cg.topics[t.Name] = t
	}
	before := g.persistedConsumerState()
	var res ConsumerHeartbeatResult
	switch req.MemberEpoch {
	case leaveEpoch, leaveStaticEpoch:
		res = g.consumerLeave(req)
	default:
		res = g.consumerHeartbeat(req)
	}
	var snap *snapshot
	if res.Err == nil && g.persistedConsumerState() != before {
		s := g.snapshot(nil)
		snap = &s
	}
	g.mu.Unlock()
	if snap == nil {
		return res
	}
	if err := c.persist(g, *snap); err != nil && err != errStale {
		// Memory is ahead of etcd: start again from etcd.
		c.unload(g, "consumer group state not persisted")
		return fail(err)
	}
	return res
}

// persistedConsumerState is a cheap fingerprint of what etcd holds for
// the consumer group: it changes whenever export() would.
func (g *group) persistedConsumerState() string {
	cg := g.cg
	if cg == nil {
		return ""
	}
	return fmt.Sprint(cg.export())
}

// useConsumerProtocol makes g a consumer group for a heartbeat (g.mu
// held). An empty group of the classic protocol (or a new one) becomes a
// consumer group on a join; a classic group with members is not a
// consumer group (GROUP_ID_NOT_FOUND, as Kafka answers with
// group.consumer.migration.policy=disabled).
func (g *group) useConsumerProtocol(joining bool) error {
	if g.cg != nil {
		return nil
	}
	if g.state == Dead {
		return fmt.Errorf("%w: group %q is being removed", kerr.CoordinatorNotAvailable, g.name)
	}
	if len(g.members) > 0 || len(g.pending) > 0 || g.state != Empty {
		return fmt.Errorf("%w: group %q is not a consumer group (it uses the classic protocol)", kerr.GroupIDNotFound, g.name)
	}
	if !joining {
		return fmt.Errorf("%w: group %q is not a consumer group", kerr.GroupIDNotFound, g.name)
	}
	g.cg = newConsumerGroup()
	g.cg.groupEpoch = g.generation // epochs keep growing across a conversion
	g.cg.assignmentEpoch = g.generation
	g.protocolType, g.protocol, g.leader = "consumer", "", ""
	return nil
}

// newConsumerMemberID is what Kafka generates for v0 members: a UUID,
// base64 URL-encoded.
func newConsumerMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// consumerHeartbeat handles a join (epoch 0) or a heartbeat (g.mu held).
func (g *group) consumerHeartbeat(req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	cg := g.cg
	fail := func(err error) ConsumerHeartbeatResult {
		return ConsumerHeartbeatResult{Err: err, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	}
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}
	// One request advances the group epoch once, whatever it changed
	// (a join usually brings a subscription and new topic metadata too).
	startEpoch := cg.groupEpoch
	var m *consumerMember
	if req.MemberEpoch == joinEpoch {
		if req.MemberID == "" {
			req.MemberID = newConsumerMemberID()
		}
		var err error
		if m, err = g.consumerJoin(req, instance); err != nil {
			return fail(err)
		}
	} else {
		m = cg.members[req.MemberID]
		if m == nil {
			return fail(fmt.Errorf("%w: member %s is not in group %q", kerr.UnknownMemberID, req.MemberID, g.name))
		}
		if err := cg.checkInstance(m, instance); err != nil {
			return fail(err)
		}
		if err := checkMemberEpoch(m, req.MemberEpoch, req.Owned); err != nil {
			return fail(err)
		}
	}
	g.updateSubscription(m, req)
	if md := cg.subscriptionMetadata(); !equalCounts(md, cg.subscribed) {
		cg.subscribed = md
		g.bumpGroupEpoch("subscribed topics metadata changed")
	}
	if cg.groupEpoch > startEpoch+1 {
		cg.groupEpoch = startEpoch + 1
		g.generation = cg.groupEpoch
	}
	if cg.groupEpoch > cg.assignmentEpoch {
		cg.computeTarget()
		g.c.metrics.rebalances.Inc()
	}
	prev := m.reconciliation
	next := reconcile(prev, cg.assignmentEpoch, m.target, req.Owned, cg.ownedByOther(m.id))
	changed := next.Epoch != prev.Epoch || next.State != prev.State || !next.Assigned.equal(prev.Assigned) || !next.PendingRevocation.equal(prev.PendingRevocation)
	if changed {
		cg.setReconciliation(m, next)
	}
	if m.State == stateUnrevoked && prev.State != stateUnrevoked {
		g.scheduleRevocation(m)
	} else if m.State != stateUnrevoked {
		m.stopRevokeTimer()
	}
	g.scheduleSession(m)
	res := ConsumerHeartbeatResult{MemberID: m.id, MemberEpoch: m.Epoch, HeartbeatInterval: g.c.cfg.ConsumerHeartbeatInterval}
	if changed || req.MemberEpoch == joinEpoch || req.Owned != nil {
		res.Assignment = m.Assigned.clone()
	}
	return res
}

// consumerJoin adds the member of a join (epoch 0), or finds it: a member
// rejoining with its id, or a static member whose instance left (epoch
// -2), whose assignment and epoch the new member takes over.
func (g *group) consumerJoin(req ConsumerHeartbeatRequest, instance string) (*consumerMember, error) {
	cg := g.cg
	if instance != "" {
		if ownerID, ok := cg.static[instance]; ok && ownerID != req.MemberID {
			old := cg.members[ownerID]
			if !old.left {
				return nil, fmt.Errorf("%w: instance %q of group %q is still used by member %s", kerr.UnreleasedInstanceID, instance, g.name, ownerID)
			}
			if cg.members[req.MemberID] != nil {
				return nil, invalidRequest("member %s of group %q already exists", req.MemberID, g.name)
			}
			m := &consumerMember{id: req.MemberID, instanceID: instance, target: old.target, serverAssignor: old.serverAssignor,
				topicNames: old.topicNames, regex: old.regex, re: old.re, rebalanceTimeout: old.rebalanceTimeout}
			r := old.reconciliation
			old.stopTimers()
			cg.release(old)
			delete(cg.members, ownerID)
			cg.members[m.id] = m
			cg.static[instance] = m.id
			cg.setReconciliation(m, r)
			g.c.log.Info("static member replaced", "group", g.name, "instance", instance, "old", ownerID, "member", m.id, "epoch", r.Epoch)
			g.fillMember(m, req)
			return m, nil
		}
	}
	if m := cg.members[req.MemberID]; m != nil {
		if err := cg.checkInstance(m, instance); err != nil {
			return nil, err
		}
		m.left = false
		g.fillMember(m, req)
		return m, nil
	}
	if limit := g.c.cfg.MaxGroupSize; limit > 0 && len(cg.members) >= limit {
		return nil, fmt.Errorf("%w: group %q has %d members", kerr.GroupMaxSizeReached, g.name, limit)
	}
	m := &consumerMember{id: req.MemberID, instanceID: instance, target: Assignment{}}
	m.reconciliation = reconciliation{State: stateStable, Assigned: Assignment{}, PendingRevocation: Assignment{}}
	cg.members[m.id] = m
	if instance != "" {
		cg.static[instance] = m.id
	}
	if len(cg.members) == 1 {
		g.transition(Stable)
	}
	g.fillMember(m, req)
	g.c.log.Info("consumer group member joins", "group", g.name, "member", m.id, "instance", instance)
	g.bumpGroupEpoch("member " + m.id + " joined")
	return m, nil
}

// fillMember sets what a join says about the member.
func (g *group) fillMember(m *consumerMember, req ConsumerHeartbeatRequest) {
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.left = false
}

// checkInstance is Kafka's instance check: an instance id given must be
// the member's.
func (cg *consumerGroup) checkInstance(m *consumerMember, instance string) error {
	if instance == "" || instance == m.instanceID {
		return nil
	}
	if owner, ok := cg.static[instance]; ok && owner != m.id {
		return fmt.Errorf("%w: instance %q belongs to member %s, not %s", kerr.FencedInstanceID, instance, owner, m.id)
	}
	return fmt.Errorf("%w: member %s has no instance %q", kerr.UnknownMemberID, m.id, instance)
}

// checkMemberEpoch is Kafka's fencing of a heartbeat's epoch: only the
// current one, or the previous one when the member owns no more than its
// assignment (the response that bumped it may have been lost).
func checkMemberEpoch(m *consumerMember, epoch int32, owned Assignment) error {
	if m.left {
		return fmt.Errorf("%w: static member %s left the group", kerr.FencedMemberEpoch, m.id)
	}
	switch {
	case epoch == m.Epoch:
		return nil
	case epoch > m.Epoch:
		return fmt.Errorf("%w: epoch %d is ahead of the member's %d", kerr.FencedMemberEpoch, epoch, m.Epoch)
	case epoch == m.PreviousEpoch && owned != nil && owned.subsetOf(m.Assigned):
		return nil
	}
	return fmt.Errorf("%w: epoch %d, the member is at %d", kerr.FencedMemberEpoch, epoch, m.Epoch)
}

// updateSubscription applies the subscription fields of a heartbeat; a
// change bumps the group epoch.
func (g *group) updateSubscription(m *consumerMember, req ConsumerHeartbeatRequest) {
	changed := false
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	if req.RebalanceTimeout >= 0 {
		m.rebalanceTimeout = req.RebalanceTimeout
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.serverAssignor {
		m.serverAssignor = *req.ServerAssignor
		changed = true
	}
	if req.SubscribedTopics != nil {
		names := slices.Clone(req.SubscribedTopics)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topicNames) || m.regex != "" {
			m.topicNames, m.regex, m.re = names, "", nil
			changed = true
		}
	}
	if req.SubscribedRegex != nil && *req.SubscribedRegex != m.regex {
		if *req.SubscribedRegex == "" {
			m.regex, m.re = "", nil
		} else {
			m.regex = *req.SubscribedRegex
			m.re, _ = compileSubscriptionRegex(m.regex) // validated
			m.topicNames = nil
		}
		changed = true
	}
	if changed {
		g.bumpGroupEpoch("member " + m.id + " changed its subscription")
	}
}

// consumerLeave handles a leave (epoch -1) or a static member's leave
// (epoch -2, it may come back).
func (g *group) consumerLeave(req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	cg := g.cg
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}
	m := cg.members[req.MemberID]
	if m == nil && instance != "" && req.MemberEpoch == leaveStaticEpoch {
		if id, ok := cg.static[instance]; ok {
			return ConsumerHeartbeatResult{Err: fmt.Errorf("%w: instance %q belongs to member %s", kerr.FencedInstanceID, instance, id), MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
		}
	}
	if m == nil {
		return ConsumerHeartbeatResult{Err: fmt.Errorf("%w: member %s is not in group %q", kerr.UnknownMemberID, req.MemberID, g.name), MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	}
	if err := cg.checkInstance(m, instance); err != nil {
		return ConsumerHeartbeatResult{Err: err, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	}
	// Epoch -2 without an instance id (franz-go sends none) is the
	// member's own static leave when the member is static.
	if req.MemberEpoch == leaveStaticEpoch && m.instanceID != "" {
		m.left = true
		m.stopRevokeTimer()
		g.scheduleSession(m) // removed unless its instance comes back in time
		g.c.log.Info("static member left temporarily", "group", g.name, "member", m.id, "instance", instance)
	} else {
		g.removeConsumerMember(m, "member "+m.id+" left")
	}
	return ConsumerHeartbeatResult{MemberID: req.MemberID, MemberEpoch: req.MemberEpoch, HeartbeatInterval: g.c.cfg.ConsumerHeartbeatInterval}
}

// removeConsumerMember takes m out of the group: its partitions are free,
// the group epoch advances.
func (g *group) removeConsumerMember(m *consumerMember, reason string) {
	cg := g.cg
	m.stopTimers()
	cg.release(m)
	delete(cg.members, m.id)
	if m.instanceID != "" && cg.static[m.instanceID] == m.id {
		delete(cg.static, m.instanceID)
	}
	g.bumpGroupEpoch(reason)
	if len(cg.members) == 0 {
		g.transition(Empty)
		g.c.log.Info("consumer group is empty", "group", g.name, "epoch", cg.groupEpoch)
	}
}

func (g *group) bumpGroupEpoch(reason string) {
	g.cg.groupEpoch++
	g.generation = g.cg.groupEpoch
	g.c.log.Info("consumer group epoch bumped", "group", g.name, "epoch", g.cg.groupEpoch, "members", len(g.cg.members), "reason", reason)
}

// scheduleSession (re)starts the member's session timer: no heartbeat for
// ConsumerSessionTimeout and it is removed.
func (g *group) scheduleSession(m *consumerMember) {
	m.sessionSeq++
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
	}
	seq := m.sessionSeq
	m.sessionTimer = time.AfterFunc(g.c.cfg.ConsumerSessionTimeout, func() {
		g.expireConsumerMember(m, func() bool { return m.sessionSeq == seq }, "session timeout")
	})
}

// scheduleRevocation gives the member its rebalance timeout to revoke
// PendingRevocation; after that it is removed (Kafka fences it).
func (g *group) scheduleRevocation(m *consumerMember) {
	m.stopRevokeTimer()
	seq, timeout := m.revokeSeq, m.rebalanceTimeout
	if timeout <= 0 {
		timeout = g.c.cfg.ConsumerSessionTimeout
	}
	m.revokeTimer = time.AfterFunc(timeout, func() {
		g.expireConsumerMember(m, func() bool { return m.revokeSeq == seq && m.State == stateUnrevoked }, "rebalance timeout (partitions not revoked)")
	})
}

// expireConsumerMember removes m from a timer if current() still holds,
// and persists the group.
func (g *group) expireConsumerMember(m *consumerMember, current func() bool, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed || g.cg == nil || g.cg.members[m.id] != m || !current() {
		return
	}
	g.c.log.Info("consumer group member expired, removing it", "group", g.name, "member", m.id, "reason", why)
	g.removeConsumerMember(m, why+" of "+m.id)
	g.persistAsync(g.snapshot(nil), func(err error) {
		if err != nil && err != errStale {
			g.c.log.Warn("consumer group state not persisted after a member expired", "group", g.name, "err", err)
		}
	})
}

func equalCounts(a, b map[string]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
