package group

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// member is one member of a group. Fields are guarded by the group's mu.
type member struct {
	id, instanceID       string
	clientID, clientHost string
	sessionTimeout       time.Duration
	rebalanceTimeout     time.Duration
	protocolType         string
	protocols            []Protocol
	assignment           []byte

	joinCh       chan JoinResult // set while a JoinGroup waits for the rebalance
	syncCh       chan SyncResult // set while a SyncGroup waits for the leader
	supportsSkip bool            // the waiting JoinGroup is v9+
	isNew        bool            // joined, not yet through a completed join phase

	hbSeq   uint64 // bumped whenever the heartbeat deadline moves; stale timers see a different value
	hbTimer *time.Timer
}

func (m *member) stopTimer() {
	m.hbSeq++
	if m.hbTimer != nil {
		m.hbTimer.Stop()
		m.hbTimer = nil
	}
}

// metadata returns the member's metadata for protocol, nil if it has none.
func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols are exactly what the member has.
func (m *member) matches(protocols []Protocol) bool {
	if len(protocols) != len(m.protocols) {
		return false
	}
	for i, p := range protocols {
		if p.Name != m.protocols[i].Name || !bytes.Equal(p.Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

type offsetEntry struct {
	meta.GroupOffset // Revision: etcd revision of the commit
}

// group is one consumer group's state machine and committed offsets.
// Everything below mu is guarded by it.
type group struct {
	c    *Coordinator
	name string

	loaded   chan struct{} // closed once loaded from etcd
	loadErr  error         // set before loaded is closed
	gone     chan struct{} // closed once removed from the coordinator's map
	goneOnce sync.Once

	writeMu    sync.Mutex // serializes state writes to etcd
	writtenSeq uint64     // seq of the last snapshot written; guarded by writeMu

	mu             sync.Mutex
	removed        bool // deleted, expired or unloaded: do not use, look up again
	state          State
	prevState      State
	stateTime      time.Time
	protocolType   string
	protocol       string
	generation     int32
	leader         string
	members        map[string]*member
	static         map[string]string // group.instance.id -> member id
	pending        map[string]uint64 // KIP-394 member ids handed out, not yet joined -> timer seq
	pendingSync    map[string]bool   // members expected to SyncGroup in this generation
	newMemberAdded bool              // a member joined during the initial rebalance delay
	joinSeq        uint64
	joinTimer      *time.Timer
	syncSeq        uint64
	syncTimer      *time.Timer
	snapSeq        uint64 // snapshots taken
	stateRev       int64  // mod revision of the state key in etcd, 0: absent
	inflight       int    // offset commits between validation and applying their etcd result
	offsets        map[meta.TopicPartition]offsetEntry
	// txnOffsets are the pending offsets of open transactions, by
	// producer id (txn_offsets.go).
	txnOffsets map[int64]*pendingTxn
	// cg is set for a group of the KIP-848 consumer protocol
	// (consumer.go); members, pending and the classic fields are unused then.
	cg *consumerGroup
}

func newGroup(c *Coordinator, name string) *group {
	return &group{
		c: c, name: name,
		loaded:      make(chan struct{}),
		gone:        make(chan struct{}),
		state:       Empty,
		prevState:   Empty,
		stateTime:   time.Now(),
		members:     map[string]*member{},
		static:      map[string]string{},
		pending:     map[string]uint64{},
		pendingSync: map[string]bool{},
		offsets:     map[meta.TopicPartition]offsetEntry{},
		txnOffsets:  map[int64]*pendingTxn{},
	}
}

// install sets the group from what etcd holds (g.mu held). A group with
// members comes back Stable, its members alive for one session timeout
// from now; those that do not heartbeat by then are removed and the group
// rebalances, as after a Kafka coordinator failover.
func (g *group) install(d meta.GroupData) {
	g.stateRev = d.StateRevision
	for _, t := range d.TxnOffsets {
		g.txnOffsets[t.ProducerID] = newPendingTxn(t)
	}
	for _, o := range d.Offsets {
		g.offsets[meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = offsetEntry{o}
	}
	st := d.State
	if st == nil {
		return
	}
	if st.Consumer != nil {
		g.installConsumer(st)
		return
	}
	g.protocolType = st.ProtocolType
	g.protocol = st.Protocol
	g.generation = st.Generation
	g.leader = st.Leader
	if st.StateTimeMs > 0 {
		g.stateTime = time.UnixMilli(st.StateTimeMs)
	}
	for _, pm := range st.Members {
		m := &member{
			id: pm.MemberID, instanceID: pm.InstanceID,
			clientID: pm.ClientID, clientHost: pm.ClientHost,
			sessionTimeout:   time.Duration(pm.SessionTimeoutMs) * time.Millisecond,
			rebalanceTimeout: time.Duration(pm.RebalanceTimeoutMs) * time.Millisecond,
			protocolType:     st.ProtocolType,
			protocols:        []Protocol{{Name: st.Protocol, Metadata: pm.Metadata}},
			assignment:       pm.Assignment,
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.instanceID != "" {
			g.static[m.instanceID] = m.id
		}
	}
	if len(g.members) == 0 {
		g.leader = ""
		return
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.anyMemberID()
	}
	g.state, g.prevState = Stable, Stable
	for _, m := range g.members {
		g.scheduleHeartbeat(m, m.sessionTimeout)
	}
}

// virgin reports whether the group holds nothing at all: never used, or
// looked up without being created.
func (g *group) virgin() bool {
	return g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && len(g.txnOffsets) == 0 &&
		g.stateRev == 0 && g.inflight == 0 && g.generation == 0 && g.protocolType == ""
}

// snapshot is the group state to persist, with the order it was taken in.
type snapshot struct {
	seq uint64
	st  meta.GroupState
}

// snapshot captures the group for etcd (g.mu held). assignment, when not
// nil, replaces the members' assignments (the leader's SyncGroup, not yet
// applied until written).
func (g *group) snapshot(assignment map[string][]byte) snapshot {
	g.snapSeq++
	st := meta.GroupState{
		Group: g.name, State: Empty.String(), ProtocolType: g.protocolType, Protocol: g.protocol,
		Generation: g.generation, Leader: g.leader, StateTimeMs: g.stateTime.UnixMilli(),
	}
	if len(g.members) > 0 {
		st.State = Stable.String()
	}
	if g.cg != nil {
		st.Consumer = g.cg.export()
		if len(g.cg.members) > 0 {
			st.State = Stable.String()
		}
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		a := m.assignment
		if assignment != nil {
			a = assignment[id]
		}
		st.Members = append(st.Members, meta.GroupMember{
			MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			SessionTimeoutMs:   int32(m.sessionTimeout / time.Millisecond),
			RebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond),
			Metadata:           m.metadata(g.protocol),
			Assignment:         a,
		})
	}
	return snapshot{seq: g.snapSeq, st: st}
}

// persistAsync writes snap in the background and then calls then (with
// g.mu held, unless nil).
func (g *group) persistAsync(snap snapshot, then func(err error)) {
	g.c.goBackground(func() {
		err := g.c.persist(g, snap)
		if then == nil {
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		then(err)
	})
}

func (g *group) transition(s State) {
	g.prevState = g.state
	g.state = s
	g.stateTime = time.Now()
}

func (g *group) anyMemberID() string {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return ""
	}
	sort.Strings(ids)
	return ids[0]
}

// newMemberID is Kafka's form: the client id (or the instance id of a
// static member), a dash, a random UUID.
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s", prefix, h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// rebalanceTimeout is the longest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// supportedCounts counts, per protocol name, the members supporting it.
func (g *group) supportedCounts() map[string]int {
	counts := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			counts[p.Name]++
		}
	}
	return counts
}

// supportsProtocols is whether a member with these protocols may join: any
// protocol type into an empty group; otherwise the group's type and at
// least one protocol every current member supports.
func (g *group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	counts := g.supportedCounts()
	for _, p := range protocols {
		if counts[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol of the next generation: among those
// every member supports, the one most members list first; ties go to the
// leader's preference.
func (g *group) selectProtocol() string {
	counts := g.supportedCounts()
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if counts[p.Name] == len(g.members) {
				votes[p.Name]++
				break
			}
		}
	}
	order := g.members[g.leader]
	if order == nil {
		order = g.members[g.anyMemberID()]
	}
	best, bestVotes := "", -1
	if order != nil {
		for _, p := range order.protocols {
			if counts[p.Name] == len(g.members) && votes[p.Name] > bestVotes {
				best, bestVotes = p.Name, votes[p.Name]
			}
		}
	}
	return best
}

// validateMember is Kafka's check of a (member id, instance id) pair: a
// known instance id must belong to that member id (FENCED_INSTANCE_ID
// otherwise), and the member id must be known (UNKNOWN_MEMBER_ID).
func (g *group) validateMember(memberID, instanceID string) error {
	if instanceID != "" {
		owner, ok := g.static[instanceID]
		if !ok {
			return fmt.Errorf("%w: static member %q is not in group %q", kerr.UnknownMemberID, instanceID, g.name)
		}
		if owner != memberID {
			return fmt.Errorf("%w: group.instance.id %q of group %q belongs to member %s, not %s", kerr.FencedInstanceID, instanceID, g.name, owner, memberID)
		}
	}
	if _, ok := g.members[memberID]; !ok {
		return fmt.Errorf("%w: member %q is not in group %q", kerr.UnknownMemberID, memberID, g.name)
	}
	return nil
}

func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

// remove takes a member out; waiting requests of its get UNKNOWN_MEMBER_ID.
func (g *group) remove(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	m.stopTimer()
	unknown := fmt.Errorf("%w: member %s was removed from group %q", kerr.UnknownMemberID, id, g.name)
	g.completeJoin(m, JoinResult{Err: unknown, Generation: -1})
	g.completeSync(m, SyncResult{Err: unknown})
	delete(g.members, id)
	if m.instanceID != "" && g.static[m.instanceID] == id {
		delete(g.static, m.instanceID)
	}
	delete(g.pendingSync, id)
	if g.leader == id {
		g.leader = g.anyMemberID()
	}
}

// completeJoin answers the member's waiting JoinGroup, if any.
func (g *group) completeJoin(m *member, res JoinResult) bool {
	if m.joinCh == nil {
		return false
	}
	m.joinCh <- res
	m.joinCh = nil
	return true
}

func (g *group) completeSync(m *member, res SyncResult) bool {
	if m.syncCh == nil {
		return false
	}
	m.syncCh <- res
	m.syncCh = nil
	return true
}

// awaitJoin gives the member a fresh JoinGroup waiter; an older waiter (a
// retried request) is told to rejoin.
func (g *group) awaitJoin(m *member, supportsSkip bool) chan JoinResult {
	g.completeJoin(m, JoinResult{Err: fmt.Errorf("%w: superseded by a newer JoinGroup", kerr.RebalanceInProgress), MemberID: m.id, Generation: -1})
	m.joinCh = make(chan JoinResult, 1)
	m.supportsSkip = supportsSkip
	return m.joinCh
}

func (g *group) awaitSync(m *member) chan SyncResult {
	g.completeSync(m, SyncResult{Err: fmt.Errorf("%w: superseded by a newer SyncGroup", kerr.RebalanceInProgress)})
	m.syncCh = make(chan SyncResult, 1)
	return m.syncCh
}

func (g *group) hasAllMembersJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return false
		}
	}
	return true
}

func (g *group) canRebalance() bool {
	return g.state == Stable || g.state == CompletingRebalance || g.state == Empty
}

// --- timers. Each callback takes g.mu and does nothing if its sequence
// number is no longer current or the group was removed.

func (g *group) scheduleHeartbeat(m *member, d time.Duration) {
	m.stopTimer()
	seq := m.hbSeq
	m.hbTimer = time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.removed || g.members[m.id] != m || m.hbSeq != seq {
			return
		}
		g.expireHeartbeat(m)
	})
}

// expireHeartbeat runs when a member's deadline passed without a
// heartbeat. Members waiting in a JoinGroup or SyncGroup are alive (the
// rebalance and sync timeouts deal with them), except new members that
// never completed a join.
func (g *group) expireHeartbeat(m *member) {
	if !m.isNew && (m.joinCh != nil || m.syncCh != nil) {
		return
	}
	g.c.log.Info("member session expired, removing it", "group", g.name, "member", m.id, "session_timeout", m.sessionTimeout)
	g.removeMemberAndUpdate(m.id, "session timeout of "+m.id)
}

func (g *group) schedulePending(id string, d time.Duration) {
	g.pending[id]++
	seq := g.pending[id]
	time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.removed || g.pending[id] != seq {
			return
		}
		delete(g.pending, id)
		if g.state == PreparingRebalance && g.hasAllMembersJoined() {
			g.completeJoinPhase()
		}
	})
}

func (g *group) scheduleJoin(d time.Duration, fn func()) {
	g.cancelJoinTimer()
	seq := g.joinSeq
	g.joinTimer = time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.removed || g.joinSeq != seq {
			return
		}
		fn()
	})
}

func (g *group) cancelJoinTimer() {
	g.joinSeq++
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
	}
}

func (g *group) scheduleSync() {
	g.cancelSyncTimer()
	seq, gen := g.syncSeq, g.generation
	g.syncTimer = time.AfterFunc(g.rebalanceTimeout(), func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.removed || g.syncSeq != seq {
			return
		}
		g.expirePendingSync(gen)
	})
}

func (g *group) cancelSyncTimer() {
	g.syncSeq++
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
}

// --- the state machine (g.mu held throughout).

// prepareRebalance starts a rebalance: members waiting in SyncGroup are
// told to rejoin, and the join phase ends when every member rejoined or
// the rebalance timeout passed. The first rebalance of an empty group
// waits InitialRebalanceDelay for more members, extended (up to the
// rebalance timeout) while new ones keep coming.
func (g *group) prepareRebalance(reason string) {
	if g.state == CompletingRebalance {
		g.resetAndPropagateAssignment(fmt.Errorf("%w: group %q is rebalancing", kerr.RebalanceInProgress, g.name))
	}
	g.cancelSyncTimer()
	clear(g.pendingSync)
	initial := g.state == Empty
	g.transition(PreparingRebalance)
	g.c.log.Info("preparing to rebalance group", "group", g.name, "generation", g.generation, "members", len(g.members), "reason", reason)
	if initial {
		delay := g.c.cfg.InitialRebalanceDelay
		remaining := max(g.rebalanceTimeout()-delay, 0)
		g.scheduleInitialJoin(delay, remaining)
		return
	}
	if g.hasAllMembersJoined() {
		g.completeJoinPhase()
		return
	}
	g.scheduleJoin(g.rebalanceTimeout(), g.completeJoinPhase)
}

func (g *group) scheduleInitialJoin(delay, remaining time.Duration) {
	g.scheduleJoin(delay, func() {
		if g.newMemberAdded && remaining > 0 {
			g.newMemberAdded = false
			next := min(g.c.cfg.InitialRebalanceDelay, remaining)
			g.scheduleInitialJoin(next, max(remaining-delay, 0))
			return
		}
		g.completeJoinPhase()
	})
}

func (g *group) maybePrepareRebalanceOrCompleteJoin(reason string) {
	if g.canRebalance() {
		g.prepareRebalance(reason)
		return
	}
	g.maybeCompleteJoinPhase()
}

// maybeCompleteJoinPhase ends the join phase early once everybody joined,
// except during the initial rebalance delay.
func (g *group) maybeCompleteJoinPhase() {
	if g.state == PreparingRebalance && g.hasAllMembersJoined() && g.prevState != Empty {
		g.completeJoinPhase()
	}
}

// completeJoinPhase ends the join phase: dynamic members that did not
// rejoin are removed, the generation advances, and every waiting member
// gets its JoinGroup response (the leader with the members' metadata).
func (g *group) completeJoinPhase() {
	g.cancelJoinTimer()
	for id, m := range g.members {
		if m.joinCh == nil && m.instanceID == "" {
			g.c.log.Info("member did not rejoin in time, removing it", "group", g.name, "member", id)
			g.remove(id)
		}
	}
	if len(g.members) > 0 && !g.electJoinedLeader() {
		// Only static members that have not rejoined remain: wait another
		// rebalance timeout (or until their sessions expire).
		g.scheduleJoin(g.rebalanceTimeout(), g.completeJoinPhase)
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.leader = ""
		g.transition(Empty)
		g.c.log.Info("group is empty", "group", g.name, "generation", g.generation)
		g.persistAsync(g.snapshot(nil), nil)
		return
	}
	g.protocol = g.selectProtocol()
	g.transition(CompletingRebalance)
	g.c.metrics.rebalances.Inc()
	g.c.log.Info("group rebalanced", "group", g.name, "generation", g.generation, "members", len(g.members),
		"protocol", g.protocol, "leader", g.leader)
	for _, m := range g.members {
		res := JoinResult{
			MemberID: m.id, Generation: g.generation, ProtocolType: g.protocolType,
			Protocol: g.protocol, Leader: g.leader,
		}
		if m.id == g.leader {
			res.Members = g.joinMembers()
		}
		g.completeJoin(m, res)
		g.scheduleHeartbeat(m, m.sessionTimeout)
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	g.scheduleSync()
}

// electJoinedLeader keeps the leader if it rejoined, else picks a member
// that did; false if none did.
func (g *group) electJoinedLeader() bool {
	if l := g.members[g.leader]; l != nil && l.joinCh != nil {
		return true
	}
	ids := make([]string, 0, len(g.members))
	for id, m := range g.members {
		if m.joinCh != nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return false
	}
	sort.Strings(ids)
	g.leader = ids[0]
	return true
}

func (g *group) joinMembers() []JoinMember {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]JoinMember, 0, len(ids))
	for _, id := range ids {
		m := g.members[id]
		out = append(out, JoinMember{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadata(g.protocol)})
	}
	return out
}

// removeMemberAndUpdate removes a member that failed or left, and moves the
// group on: a rebalance, or the end of the join phase if everybody else
// already rejoined.
func (g *group) removeMemberAndUpdate(id, reason string) {
	g.remove(id)
	switch g.state {
	case Stable, CompletingRebalance:
		g.maybePrepareRebalanceOrCompleteJoin(reason)
	case PreparingRebalance:
		if g.hasAllMembersJoined() {
			g.completeJoinPhase()
		}
	}
}

// resetAndPropagateAssignment answers every waiting SyncGroup with err.
func (g *group) resetAndPropagateAssignment(err error) {
	for _, m := range g.members {
		m.assignment = nil
		if g.completeSync(m, SyncResult{Err: err}) {
			g.scheduleHeartbeat(m, m.sessionTimeout)
		}
	}
}

// setAndPropagateAssignment applies the leader's assignment and answers
// every waiting SyncGroup.
func (g *group) setAndPropagateAssignment(assignment map[string][]byte) {
	for _, m := range g.members {
		m.assignment = assignment[m.id]
		if g.completeSync(m, SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}) {
			g.scheduleHeartbeat(m, m.sessionTimeout)
		}
	}
}

func (g *group) removePendingSync(id string) {
	delete(g.pendingSync, id)
	switch g.state {
	case Dead, Empty, PreparingRebalance:
		g.cancelSyncTimer()
	case CompletingRebalance, Stable:
		if len(g.pendingSync) == 0 {
			g.cancelSyncTimer()
		}
	}
}

// expirePendingSync removes members that did not send SyncGroup within
// the rebalance timeout of the generation's start, and rebalances.
func (g *group) expirePendingSync(gen int32) {
	if gen != g.generation || (g.state != CompletingRebalance && g.state != Stable) || len(g.pendingSync) == 0 {
		return
	}
	var ids []string
	for id := range g.pendingSync {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	g.c.log.Info("members did not sync in time, removing them", "group", g.name, "members", ids)
	for _, id := range ids {
		g.remove(id)
	}
	g.prepareRebalance(fmt.Sprintf("removing %v on pending sync expiration", ids))
}

// subscribedTopics returns the topics the members of a consumer group
// subscribe to, from their consumer-protocol metadata; ok false if the
// group is not a consumer group or some metadata cannot be read.
func (g *group) subscribedTopics() (map[string]bool, bool) {
	if g.cg != nil {
		topics := map[string]bool{}
		for t := range g.cg.subscribed {
			topics[t] = true
		}
		return topics, true
	}
	if g.protocolType != "consumer" || g.protocol == "" {
		return nil, false
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		md := m.metadata(g.protocol)
		var cm kmsg.ConsumerMemberMetadata
		if md == nil || cm.ReadFrom(md) != nil {
			return nil, false
		}
		for _, t := range cm.Topics {
			topics[t] = true
		}
	}
	return topics, true
}
