package group

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// consumerClient drives one KIP-848 member against a coordinator the way
// a client does: it owns what the last response assigned and reports it.
type consumerClient struct {
	t      *testing.T
	c      *Coordinator
	group  string
	id     string
	epoch  int32
	owned  Assignment
	topics []string
	regex  *string
	meta   *[]TopicMeta
}

func (cl *consumerClient) heartbeat() ConsumerHeartbeatResult {
	cl.t.Helper()
	req := ConsumerHeartbeatRequest{
		Group: cl.group, MemberID: cl.id, MemberEpoch: cl.epoch, RebalanceTimeout: -1,
		Owned: cl.owned.clone(), Topics: *cl.meta, Version: 1, ClientID: "client",
	}
	if cl.epoch == 0 {
		req.RebalanceTimeout = 5 * time.Second
		req.SubscribedTopics, req.SubscribedRegex = cl.topics, cl.regex
		req.Owned = Assignment{}
	}
	res := cl.c.ConsumerHeartbeat(testCtx(cl.t), req)
	if res.Err == nil {
		cl.epoch = res.MemberEpoch
		if res.Assignment != nil {
			cl.owned = res.Assignment.clone()
		}
	}
	return res
}

func newConsumerClient(t *testing.T, c *Coordinator, group, id string, meta *[]TopicMeta, topics ...string) *consumerClient {
	return &consumerClient{t: t, c: c, group: group, id: id, owned: Assignment{}, topics: topics, meta: meta}
}

// noDoubleOwnership fails if two clients own one partition.
func noDoubleOwnership(t *testing.T, clients ...*consumerClient) {
	t.Helper()
	owner := map[topicPartition]string{}
	for _, cl := range clients {
		for topic, ps := range cl.owned {
			for _, p := range ps {
				if o, dup := owner[topicPartition{topic, p}]; dup {
					t.Fatalf("%s/%d owned by %s and %s", topic, p, o, cl.id)
				}
				owner[topicPartition{topic, p}] = cl.id
			}
		}
	}
}

// TestConsumerGroupHandoff: a second member gets partitions only after the
// first one's heartbeat reported them revoked.
func TestConsumerGroupHandoff(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	topics := []TopicMeta{{Name: "t", ID: [16]byte{1}, Partitions: 4}}
	a := newConsumerClient(t, c, "g", "a", &topics, "t")
	b := newConsumerClient(t, c, "g", "b", &topics, "t")
	if res := a.heartbeat(); res.Err != nil || res.MemberEpoch != 1 || a.owned.count() != 4 {
		t.Fatalf("first join: %+v", res)
	}
	// b joins: epoch 2, but a still owns everything.
	if res := b.heartbeat(); res.Err != nil || res.MemberEpoch != 2 || b.owned.count() != 0 {
		t.Fatalf("second join: %+v owned %v", res, b.owned)
	}
	d, _ := c.DescribeConsumerGroup(testCtx(t), "g")
	if d.State != "Reconciling" || d.Epoch != 2 {
		t.Fatalf("while reconciling: %+v", d)
	}
	// a is told to revoke two, staying at epoch 1.
	res := a.heartbeat()
	if res.Err != nil || res.MemberEpoch != 1 || a.owned.count() != 2 {
		t.Fatalf("revocation: %+v owned %v", res, a.owned)
	}
	noDoubleOwnership(t, a, b)
	// b still waits: a has not confirmed yet (the revoked ones are a's
	// until its next heartbeat reports them gone).
	if b.heartbeat(); b.owned.count() != 0 {
		t.Fatalf("b got %v before a revoked", b.owned)
	}
	// a confirms: epoch 2; then b gets the rest.
	if res := a.heartbeat(); res.MemberEpoch != 2 {
		t.Fatalf("a after revoking: %+v", res)
	}
	if b.heartbeat(); b.owned.count() != 2 {
		t.Fatalf("b after a revoked: %v", b.owned)
	}
	noDoubleOwnership(t, a, b)
	d, _ = c.DescribeConsumerGroup(testCtx(t), "g")
	if d.State != "Stable" || d.AssignmentEpoch != 2 {
		t.Fatalf("after the handoff: %+v", d)
	}

	// An old epoch with more than the member owns now is fenced; the
	// previous epoch with a subset is accepted (a lost response).
	stale := *a
	stale.epoch, stale.owned = 1, Assignment{"t": {0, 1, 2, 3}}
	wantErr(t, "old epoch, more partitions", stale.heartbeat().Err, kerr.FencedMemberEpoch)
	stale.epoch, stale.owned = 1, a.owned.clone()
	wantErr(t, "previous epoch, subset", stale.heartbeat().Err, nil)

	// Commits: by member epoch.
	commit := func(member string, epoch int32) error {
		return c.CommitOffsets(testCtx(t), CommitRequest{Group: "g", MemberID: member, Generation: epoch,
			Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: 1, LeaderEpoch: -1}}})[0]
	}
	wantErr(t, "commit at the current epoch", commit("a", 2), nil)
	wantErr(t, "commit at an old epoch", commit("a", 1), kerr.StaleMemberEpoch)
	wantErr(t, "commit by nobody", commit("z", 2), kerr.UnknownMemberID)
	wantErr(t, "simple commit with members", commit("", -1), kerr.UnknownMemberID)
	txnCommit := func(member string, epoch int32) error {
		return c.CommitTxnOffsets(testCtx(t), TxnCommitRequest{Group: "g", TransactionalID: "tx", ProducerID: 7, MemberID: member, Generation: epoch,
			Offsets: []CommitOffset{{Topic: "t", Partition: 1, Offset: 3, LeaderEpoch: -1}}})[0]
	}
	wantErr(t, "transactional commit at an old epoch", txnCommit("a", 1), kerr.StaleMemberEpoch)
	wantErr(t, "transactional commit at the current epoch", txnCommit("a", 2), nil)
	wantErr(t, "fetch at an old epoch", c.CheckFetchMember(testCtx(t), "g", "a", 1), kerr.StaleMemberEpoch)
	wantErr(t, "admin fetch", c.CheckFetchMember(testCtx(t), "g", "", -1), nil)

	// Classic members cannot join while consumer members are there.
	wantErr(t, "classic join", c.Join(testCtx(t), joinReq("g", "", time.Second, "t")).Err, kerr.InconsistentGroupProtocol)
}

// TestConsumerGroupMetadataChanges: new partitions, a new topic matching a
// regex subscription, each bump the group epoch and are assigned.
func TestConsumerGroupMetadataChanges(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	topics := []TopicMeta{{Name: "orders-eu", ID: [16]byte{1}, Partitions: 2}, {Name: "audit", ID: [16]byte{2}, Partitions: 1}, {Name: "__consumer_offsets", ID: [16]byte{3}, Partitions: 50}}
	re := "orders-.*|__.*"
	a := newConsumerClient(t, c, "g", "a", &topics)
	a.regex = &re
	a.heartbeat()
	if !a.owned.equal(Assignment{"orders-eu": {0, 1}}) {
		t.Fatalf("regex subscription: %v", a.owned)
	}
	epoch := a.epoch
	topics[0].Partitions = 3
	a.heartbeat()
	if a.epoch != epoch+1 || !a.owned.equal(Assignment{"orders-eu": {0, 1, 2}}) {
		t.Fatalf("after a new partition: epoch %d (was %d), %v", a.epoch, epoch, a.owned)
	}
	topics = append(topics, TopicMeta{Name: "orders-us", ID: [16]byte{4}, Partitions: 1})
	a.heartbeat()
	if a.epoch != epoch+2 || !a.owned.equal(Assignment{"orders-eu": {0, 1, 2}, "orders-us": {0}}) {
		t.Fatalf("after a new matching topic: epoch %d, %v", a.epoch, a.owned)
	}
	// Nothing changed: no bump.
	a.heartbeat()
	if a.epoch != epoch+2 {
		t.Fatalf("epoch moved without a change: %d", a.epoch)
	}
}

// TestConsumerGroupFailoverFromEtcd: a second coordinator on the same etcd
// serves the group as the first left it: members, epochs, assignments.
func TestConsumerGroupFailoverFromEtcd(t *testing.T) {
	store := newStore(t)
	c1 := New(testConfig(), store)
	topics := []TopicMeta{{Name: "t", ID: [16]byte{1}, Partitions: 4}}
	a := newConsumerClient(t, c1, "g", "a", &topics, "t")
	b := newConsumerClient(t, c1, "g", "b", &topics, "t")
	a.heartbeat()
	b.heartbeat()
	a.heartbeat()
	a.heartbeat()
	b.heartbeat()
	before, err := c1.DescribeConsumerGroup(testCtx(t), "g")
	if err != nil || before.State != "Stable" {
		t.Fatalf("before: %+v %v", before, err)
	}
	c1.Close()

	c2 := newCoordinator(t, store)
	after, err := c2.DescribeConsumerGroup(testCtx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	if after.Epoch != before.Epoch || len(after.Members) != 2 {
		t.Fatalf("after: %+v, before %+v", after, before)
	}
	for i := range after.Members {
		if after.Members[i].MemberEpoch != before.Members[i].MemberEpoch || !after.Members[i].Assigned.equal(before.Members[i].Assigned) {
			t.Fatalf("member %d: %+v, was %+v", i, after.Members[i], before.Members[i])
		}
	}
	a.c, b.c = c2, c2
	for _, cl := range []*consumerClient{a, b} {
		owned := cl.owned.clone()
		if res := cl.heartbeat(); res.Err != nil || !cl.owned.equal(owned) {
			t.Fatalf("%s after the failover: %+v, owns %v (owned %v)", cl.id, res, cl.owned, owned)
		}
	}
}

// TestConsumerGroupSessionTimeout: a member that stops heartbeating is
// removed; its partitions go to the other one. A static member that left
// with epoch -2 is kept for the session timeout, then removed too.
func TestConsumerGroupSessionTimeout(t *testing.T) {
	c := newCoordinator(t, newStore(t), func(cfg *Config) { cfg.ConsumerSessionTimeout = 300 * time.Millisecond })
	topics := []TopicMeta{{Name: "t", ID: [16]byte{1}, Partitions: 2}}
	a := newConsumerClient(t, c, "g", "a", &topics, "t")
	b := newConsumerClient(t, c, "g", "b", &topics, "t")
	a.heartbeat()
	b.heartbeat()
	eventually(t, "b to be removed and a to own everything", func() bool {
		a.heartbeat()
		return a.owned.count() == 2
	})
	d, _ := c.DescribeConsumerGroup(testCtx(t), "g")
	if len(d.Members) != 1 {
		t.Fatalf("members after b's session expired: %+v", d.Members)
	}
	res := c.ConsumerHeartbeat(testCtx(t), ConsumerHeartbeatRequest{Group: "g", MemberID: "b", MemberEpoch: 2, RebalanceTimeout: -1, Version: 1})
	wantErr(t, "heartbeat of the expired member", res.Err, kerr.UnknownMemberID)
}

// TestConsumerGroupProtocolSwitch: an empty classic group becomes a
// consumer group on the first consumer-protocol join and back again; a
// classic group with members stays classic (GROUP_ID_NOT_FOUND).
func TestConsumerGroupProtocolSwitch(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	topics := []TopicMeta{{Name: "t", ID: [16]byte{1}, Partitions: 1}}
	ctx := testCtx(t)
	first := joinNew(t, ctx, c, joinReq("g", "", time.Second, "t"))
	joined := wait(t, first)
	if joined.Err != nil {
		t.Fatal(joined.Err)
	}
	a := newConsumerClient(t, c, "g", "a", &topics, "t")
	wantErr(t, "consumer join of a classic group with members", a.heartbeat().Err, kerr.GroupIDNotFound)
	if errs, err := c.Leave(ctx, "g", []LeaveMember{{MemberID: joined.MemberID}}); err != nil || errs[0] != nil {
		t.Fatalf("leave: %v %v", err, errs)
	}
	wantErr(t, "consumer join of the empty classic group", a.heartbeat().Err, nil)
	if a.epoch <= joined.Generation {
		t.Fatalf("epoch %d after the classic generation %d: epochs must go on growing", a.epoch, joined.Generation)
	}
	l, _ := c.ListGroups(ctx, nil, []string{"consumer"})
	if len(l) != 1 || l[0].Type != ConsumerGroupType {
		t.Fatalf("ListGroups: %+v", l)
	}
	a.epoch = leaveEpoch
	wantErr(t, "leave", a.heartbeat().Err, nil)
	if res := wait(t, joinNew(t, ctx, c, joinReq("g", "", time.Second, "t"))); res.Err != nil {
		t.Fatalf("classic join of the empty consumer group: %v", res.Err)
	}
}

// TestConsumerGroupRevocationTimeout: a member told to revoke that keeps
// heartbeating without giving the partitions up is removed after its
// rebalance timeout, and the waiting member gets them.
func TestConsumerGroupRevocationTimeout(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	topics := []TopicMeta{{Name: "t", ID: [16]byte{1}, Partitions: 2}}
	a := newConsumerClient(t, c, "g", "a", &topics, "t")
	b := newConsumerClient(t, c, "g", "b", &topics, "t")
	res := c.ConsumerHeartbeat(testCtx(t), ConsumerHeartbeatRequest{Group: "g", MemberID: "a", RebalanceTimeout: 200 * time.Millisecond,
		SubscribedTopics: []string{"t"}, Owned: Assignment{}, Topics: topics, Version: 1})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	a.epoch, a.owned = res.MemberEpoch, res.Assignment
	b.heartbeat()
	a.heartbeat() // told to revoke one
	if a.owned.count() != 1 {
		t.Fatalf("a after b joined: %v", a.owned)
	}
	stubborn := Assignment{"t": {0, 1}} // keeps reporting both
	eventually(t, "a to be fenced for not revoking", func() bool {
		res := c.ConsumerHeartbeat(testCtx(t), ConsumerHeartbeatRequest{Group: "g", MemberID: "a", MemberEpoch: a.epoch, RebalanceTimeout: -1, Owned: stubborn, Topics: topics, Version: 1})
		return errors.Is(res.Err, kerr.UnknownMemberID)
	})
	eventually(t, "b to own both partitions", func() bool {
		b.heartbeat()
		return b.owned.count() == 2
	})
}

// TestConsumerGroupStaticLeaveExpires: a static member that left with
// epoch -2 and does not come back is removed after the session timeout.
func TestConsumerGroupStaticLeaveExpires(t *testing.T) {
	c := newCoordinator(t, newStore(t), func(cfg *Config) { cfg.ConsumerSessionTimeout = 200 * time.Millisecond })
	topics := []TopicMeta{{Name: "t", ID: [16]byte{1}, Partitions: 2}}
	inst := "i"
	res := c.ConsumerHeartbeat(testCtx(t), ConsumerHeartbeatRequest{Group: "g", MemberID: "s", InstanceID: &inst, RebalanceTimeout: time.Second,
		SubscribedTopics: []string{"t"}, Owned: Assignment{}, Topics: topics, Version: 1})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	res = c.ConsumerHeartbeat(testCtx(t), ConsumerHeartbeatRequest{Group: "g", MemberID: "s", MemberEpoch: leaveStaticEpoch, RebalanceTimeout: -1, Topics: topics, Version: 1})
	if res.Err != nil || res.MemberEpoch != leaveStaticEpoch {
		t.Fatalf("static leave: %+v", res)
	}
	if d, _ := c.DescribeConsumerGroup(testCtx(t), "g"); len(d.Members) != 1 || d.Members[0].MemberEpoch != leaveStaticEpoch {
		t.Fatalf("after the static leave: %+v", d)
	}
	eventually(t, "the departed static member to expire", func() bool {
		d, _ := c.DescribeConsumerGroup(testCtx(t), "g")
		return len(d.Members) == 0 && d.State == "Empty"
	})
}

// TestConsumerGroupMaxSize: group.max.size caps consumer groups too.
func TestConsumerGroupMaxSize(t *testing.T) {
	c := newCoordinator(t, newStore(t), func(cfg *Config) { cfg.MaxGroupSize = 1 })
	topics := []TopicMeta{{Name: "t", ID: [16]byte{1}, Partitions: 1}}
	wantErr(t, "first member", newConsumerClient(t, c, "g", "a", &topics, "t").heartbeat().Err, nil)
	wantErr(t, "second member", newConsumerClient(t, c, "g", "b", &topics, "t").heartbeat().Err, kerr.GroupMaxSizeReached)
}
