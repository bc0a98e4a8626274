package server

// KIP-848 consumer groups end to end: franz-go kgo members with
// kgo.ServerSideBalancer (kgo speaks ConsumerGroupHeartbeat v1 when the
// broker offers it), raw kmsg frames for the error paths, and a
// coordinator failover between three brokers.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
)

// consumerGroupBroker starts a broker whose consumer groups time out
// members quickly.
func consumerGroupBroker(t *testing.T, mutate ...func(*Config)) *testBroker {
	t.Helper()
	return startBroker(t, append([]func(*Config){func(c *Config) {
		c.Groups = group.Config{
			InitialRebalanceDelay:     testRebalanceDelay,
			MinSessionTimeout:         100 * time.Millisecond,
			ConsumerSessionTimeout:    testSessionTimeout,
			ConsumerHeartbeatInterval: testHeartbeat,
		}
	}}, mutate...)...)
}

// startConsumerMember starts a kgo member of the KIP-848 protocol.
func startConsumerMember(t *testing.T, tb *testBroker, name, grp, topic string, opts ...kgo.Opt) *member {
	t.Helper()
	return startMember(t, tb, name, grp, topic, append([]kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}, opts...)...)
}

// describeConsumerGroup sends ConsumerGroupDescribe for one group.
func describeConsumerGroup(t *testing.T, tb *testBroker, grp string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{grp}
	resp := rawRoundTrip[*kmsg.ConsumerGroupDescribeResponse](t, tb, req)
	if len(resp.Groups) != 1 {
		t.Fatalf("ConsumerGroupDescribe: %d groups", len(resp.Groups))
	}
	return resp.Groups[0]
}

// ownershipWatch describes the group over and over while a test runs and
// records any partition the coordinator shows in two members' assignments
// at once.
type ownershipWatch struct {
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	double []string
	seen   int
}

func watchOwnership(t *testing.T, tb *testBroker, grp string) *ownershipWatch {
	w := &ownershipWatch{stop: make(chan struct{}), done: make(chan struct{})}
	cl := tb.client()
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			req := kmsg.NewPtrConsumerGroupDescribeRequest()
			req.Groups = []string{grp}
			resp, err := req.RequestWith(context.Background(), cl)
			if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
				continue
			}
			owner := map[string]string{}
			w.mu.Lock()
			w.seen++
			for _, m := range resp.Groups[0].Members {
				for _, tp := range m.Assignment.TopicPartitions {
					for _, p := range tp.Partitions {
						k := fmt.Sprintf("%s/%d", tp.Topic, p)
						if o, dup := owner[k]; dup {
							w.double = append(w.double, fmt.Sprintf("%s owned by %s and %s at group epoch %d", k, o, m.MemberID, resp.Groups[0].Epoch))
						}
						owner[k] = m.MemberID
					}
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *ownershipWatch) check(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.double) > 0 {
		t.Fatalf("partitions owned twice: %v", w.double)
	}
	if w.seen == 0 {
		t.Fatal("the ownership watch never described the group")
	}
}

// waitEven waits until the members own every partition once and no
// member owns two more than another.
func waitEven(t *testing.T, members []*member, n int) {
	t.Helper()
	waitBalanced(t, members, n, 30*time.Second)
	lo, hi := n, 0
	for _, m := range members {
		lo, hi = min(lo, len(m.assignment())), max(hi, len(m.assignment()))
	}
	if hi-lo > 1 {
		t.Fatalf("uneven assignment: %s", describeAssignment(members))
	}
}

// TestConsumerGroupMembership runs 1, 3 and 10 KIP-848 members over 6
// partitions: joins, a leave, a member that dies (its session times out),
// every record consumed once, the assignment even after each change, no
// partition owned by two members at once in any description.
func TestConsumerGroupMembership(t *testing.T) {
	tb := consumerGroupBroker(t)
	const topic, grp, parts = "kip848", "g-kip848", 6
	createTopic(t, tb, topic, parts)
	watch := watchOwnership(t, tb, grp)

	members := []*member{startConsumerMember(t, tb, "c0", grp, topic)}
	waitEven(t, members, parts)
	d := describeConsumerGroup(t, tb, grp)
	if d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberEpoch != d.Epoch || d.AssignorName != "uniform" {
		t.Fatalf("one member: %+v", d)
	}
	produceN(t, tb, topic, parts, 60, "a")

	for i := 1; i < 3; i++ {
		members = append(members, startConsumerMember(t, tb, fmt.Sprintf("c%d", i), grp, topic))
	}
	waitEven(t, members, parts)
	produceN(t, tb, topic, parts, 60, "b")

	for i := 3; i < 10; i++ {
		members = append(members, startConsumerMember(t, tb, fmt.Sprintf("c%d", i), grp, topic))
	}
	waitEven(t, members, parts)
	d = describeConsumerGroup(t, tb, grp)
	if len(d.Members) != 10 || d.State != "Stable" {
		t.Fatalf("ten members: state %s, %d members", d.State, len(d.Members))
	}
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version = 5
	lg.TypesFilter = []string{"consumer"}
	listed := rawRoundTrip[*kmsg.ListGroupsResponse](t, tb, lg)
	if len(listed.Groups) != 1 || listed.Groups[0].Group != grp || listed.Groups[0].GroupType != "consumer" || listed.Groups[0].GroupState != "Stable" {
		t.Fatalf("ListGroups of type consumer: %+v", listed.Groups)
	}

	// Leaves: 10 -> 3 members, with partitions moving to the rest.
	for _, m := range members[3:] {
		m.leave()
	}
	members = members[:3]
	waitEven(t, members, parts)
	produceN(t, tb, topic, parts, 60, "c")

	// A member dies: it stops heartbeating without leaving; its session
	// times out and its partitions go to the other two.
	dead := members[2]
	dead.stop()
	dead.sever()
	waitEven(t, members[:2], parts)
	produceN(t, tb, topic, parts, 60, "d")

	// Every record once (records of the dead member count: it consumed
	// them while it owned their partitions).
	all := map[string]bool{}
	for _, m := range append(members, dead) {
		for _, r := range m.consumed() {
			all[string(r.Value)] = true
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(all) < 240 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		for _, m := range members[:2] {
			for _, r := range m.consumed() {
				all[string(r.Value)] = true
			}
		}
	}
	if len(all) != 240 {
		t.Fatalf("consumed %d distinct records of 240", len(all))
	}
	watch.check(t)
	for _, m := range members[:2] {
		m.leave()
	}
	dead.cl.Close()
}

// TestConsumerGroupStaticMember restarts a static KIP-848 member: it
// leaves with epoch -2, its instance rejoins with epoch 0 under a new
// member id and takes over its partitions without the group epoch moving
// or the other member losing anything.
func TestConsumerGroupStaticMember(t *testing.T) {
	tb := consumerGroupBroker(t, func(c *Config) { c.Groups.ConsumerSessionTimeout = 6 * time.Second })
	const topic, grp = "kip848-static", "g-kip848-static"
	createTopic(t, tb, topic, 6)
	s0 := startConsumerMember(t, tb, "s0", grp, topic, kgo.InstanceID("instance-0"))
	s1 := startConsumerMember(t, tb, "s1", grp, topic, kgo.InstanceID("instance-1"))
	waitEven(t, []*member{s0, s1}, 6)
	epoch := describeConsumerGroup(t, tb, grp).Epoch
	before0, before1 := s0.assignment(), s1.assignment()

	s1.leave()
	d := describeConsumerGroup(t, tb, grp)
	var left bool
	for _, m := range d.Members {
		left = left || deref(m.InstanceID) == "instance-1" && m.MemberEpoch == -2
	}
	if !left || len(d.Members) != 2 {
		t.Fatalf("after the static leave: %+v", d.Members)
	}
	s1b := startConsumerMember(t, tb, "s1b", grp, topic, kgo.InstanceID("instance-1"))
	waitEven(t, []*member{s0, s1b}, 6)
	if got := s1b.assignment(); !slices.Equal(got, before1) {
		t.Fatalf("returning static member owns %v, owned %v before", got, before1)
	}
	if d := describeConsumerGroup(t, tb, grp); d.Epoch != epoch || !slices.Equal(s0.assignment(), before0) {
		t.Fatalf("group epoch %d -> %d, other member %v -> %v; want no change", epoch, d.Epoch, before0, s0.assignment())
	}
	produceN(t, tb, topic, 6, 60, "s")
	waitConsumed(t, []*member{s0, s1b}, 60)
	s0.leave()
	s1b.leave()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestConsumerGroupFailover kills the coordinator of a KIP-848 group among
// three brokers: another broker loads the group (members, epochs,
// assignment) from etcd and the members go on consuming.
func TestConsumerGroupFailover(t *testing.T) {
	ctx := testCtx(t)
	brokers := groupCluster(t, 3, consumerGroupBroker, func(c *Config) { c.Groups.ConsumerSessionTimeout = 10 * time.Second })
	// A group coordinated by broker 3, so the members (bootstrapped at
	// broker 1) survive its death.
	find := func(tb *testBroker, key string) int32 { return findCoordinator(t, tb, key) }
	grp := ""
	deadline := time.Now().Add(20 * time.Second)
	for grp == "" {
		if time.Now().After(deadline) {
			t.Fatal("no group placed on broker 3")
		}
		for i := 0; i < 30 && grp == ""; i++ {
			key := fmt.Sprintf("failover-%d", i)
			if find(brokers[0], key) == 3 && find(brokers[1], key) == 3 && find(brokers[2], key) == 3 {
				grp = key
			}
		}
		if grp == "" {
			time.Sleep(200 * time.Millisecond)
		}
	}
	const topic = "kip848-failover"
	resp, err := brokers[0].admin().CreateTopic(ctx, 6, 3, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	b1 := brokers[0]
	members := []*member{
		startConsumerMember(t, b1, "f0", grp, topic),
		startConsumerMember(t, b1, "f1", grp, topic),
		startConsumerMember(t, b1, "f2", grp, topic),
	}
	waitEven(t, members, 6)
	before := describeConsumerGroup(t, brokers[2], grp)
	produceN(t, b1, topic, 6, 60, "x")
	waitConsumed(t, members, 60)
	for _, m := range members {
		if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
	}

	brokers[2].stop() // the coordinator dies
	// The group moves to a surviving broker, which serves it from etcd:
	// same members and epochs, no rebalance needed.
	var after kmsg.ConsumerGroupDescribeResponseGroup
	deadline = time.Now().Add(30 * time.Second)
	for {
		c := find(b1, grp)
		if c != 3 {
			tb := brokers[c-1]
			after = describeConsumerGroup(t, tb, grp)
			if after.ErrorCode == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never served after the failover: %+v", after)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ids := func(d kmsg.ConsumerGroupDescribeResponseGroup) []string {
		var out []string
		for _, m := range d.Members {
			out = append(out, m.MemberID)
		}
		slices.Sort(out)
		return out
	}
	// The same members (ids from etcd, not members that joined again).
	if after.Epoch < before.Epoch || !slices.Equal(ids(after), ids(before)) {
		t.Fatalf("after the failover: epoch %d (was %d), members %v (were %v)", after.Epoch, before.Epoch, ids(after), ids(before))
	}
	produceN(t, b1, topic, 6, 60, "y")
	waitConsumed(t, members, 120)
	for _, m := range members {
		m.leave()
	}
}

// TestConsumerGroupErrorCodes drives ConsumerGroupHeartbeat with raw
// frames through its error paths.
func TestConsumerGroupErrorCodes(t *testing.T) {
	tb := consumerGroupBroker(t)
	createTopic(t, tb, "kip848-raw", 4)
	hb := func(mutate func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group = "g-raw"
		req.MemberID = "member-a"
		req.RebalanceTimeoutMillis = 5000
		req.SubscribedTopicNames = []string{"kip848-raw"}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		mutate(req)
		return rawRoundTrip[*kmsg.ConsumerGroupHeartbeatResponse](t, tb, req)
	}
	str := func(s string) *string { return &s }

	// A join gets epoch 1 and the whole topic.
	joined := hb(func(*kmsg.ConsumerGroupHeartbeatRequest) {})
	if joined.ErrorCode != 0 || joined.MemberEpoch != 1 || joined.Assignment == nil || len(joined.Assignment.Topics) != 1 || len(joined.Assignment.Topics[0].Partitions) != 4 {
		t.Fatalf("join: %+v", joined)
	}
	if joined.HeartbeatIntervalMillis != int32(testHeartbeat/time.Millisecond) {
		t.Fatalf("heartbeat interval %d", joined.HeartbeatIntervalMillis)
	}
	owned := []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: joined.Assignment.Topics[0].TopicID, Partitions: joined.Assignment.Topics[0].Partitions}}

	cases := []struct {
		name   string
		mutate func(*kmsg.ConsumerGroupHeartbeatRequest)
		want   *kerr.Error
	}{
		{"empty member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest},
		{"empty group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidRequest},
		{"join with owned partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "member-b"; r.Topics = owned }, kerr.InvalidRequest},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID = "member-b"
			r.SubscribedTopicNames = nil
		}, kerr.InvalidRequest},
		{"epoch below -2", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID = "member-b"
			r.ServerAssignor = str("roundrobin")
		}, kerr.UnsupportedAssignor},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID = "member-b"
			r.SubscribedTopicNames = nil
			r.SubscribedTopicRegex = str("kip848-(")
		}, kerr.InvalidRegularExpression},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "nobody"; r.MemberEpoch = 1 }, kerr.UnknownMemberID},
		{"epoch ahead", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 7; r.Topics = owned }, kerr.FencedMemberEpoch},
		{"unknown group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "g-none"; r.MemberEpoch = 1 }, kerr.GroupIDNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, c.name, hb(c.mutate).ErrorCode, c.want)
		})
	}

	// v0: the coordinator picks the member id.
	v0 := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Version, r.MemberID, r.Group = 0, "", "g-raw-v0" })
	if v0.ErrorCode != 0 || v0.MemberID == nil || *v0.MemberID == "" || v0.MemberEpoch != 1 {
		t.Fatalf("v0 join: %+v", v0)
	}

	// Static members: an instance in use cannot be taken over
	// (UNRELEASED_INSTANCE_ID) until it leaves with epoch -2.
	static := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "static-1"; r.InstanceID = str("inst") })
	wantCode(t, "static join", static.ErrorCode, nil)
	wantCode(t, "instance in use", hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "static-2"; r.InstanceID = str("inst") }).ErrorCode, kerr.UnreleasedInstanceID)
	wantCode(t, "wrong instance", hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.MemberID = "member-a"
		r.MemberEpoch = joined.MemberEpoch
		r.InstanceID = str("inst")
	}).ErrorCode, kerr.FencedInstanceID)
	left := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.MemberID = "static-1"
		r.MemberEpoch = -2
		r.InstanceID = str("inst")
	})
	if left.ErrorCode != 0 || left.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", left)
	}
	back := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "static-2"; r.InstanceID = str("inst") })
	if back.ErrorCode != 0 || back.MemberEpoch != static.MemberEpoch {
		t.Fatalf("static takeover: %+v, want the old member's epoch %d", back, static.MemberEpoch)
	}

	// The classic protocol cannot join a consumer group with members;
	// the consumer protocol cannot join a classic group with members.
	m := newRawMember(t, tb, "g-raw")
	wantCode(t, "classic join of a consumer group", m.join("kip848-raw").ErrorCode, kerr.InconsistentGroupProtocol)
	classic := newRawMember(t, tb, "g-classic")
	if r := classic.join("kip848-raw"); r.ErrorCode == kerr.MemberIDRequired.Code {
		r = classic.join("kip848-raw")
		wantCode(t, "classic join", r.ErrorCode, nil)
	}
	wantCode(t, "consumer join of a classic group", hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "g-classic" }).ErrorCode, kerr.GroupIDNotFound)
	if d := describeConsumerGroup(t, tb, "g-classic"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %v", kerr.ErrorForCode(d.ErrorCode))
	}

	// OffsetCommit by member id and epoch: an older epoch is stale.
	commit := func(epoch int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 9
		req.Group, req.MemberID, req.Generation = "g-raw", "member-a", epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "kip848-raw"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rawRoundTrip[*kmsg.OffsetCommitResponse](t, tb, req).Topics[0].Partitions[0].ErrorCode
	}
	cur := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = joined.MemberEpoch; r.Topics = nil })
	wantCode(t, "heartbeat", cur.ErrorCode, nil)
	wantCode(t, "commit at the current epoch", commit(cur.MemberEpoch), nil)
	if cur.MemberEpoch > 1 {
		wantCode(t, "commit at an old epoch", commit(1), kerr.StaleMemberEpoch)
	}
	wantCode(t, "commit at a future epoch", commit(cur.MemberEpoch+5), kerr.FencedMemberEpoch)
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 9
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group, fg.MemberID, fg.MemberEpoch = "g-raw", str("member-a"), cur.MemberEpoch+5
	of.Groups = append(of.Groups, fg)
	wantCode(t, "fetch at a wrong epoch", rawRoundTrip[*kmsg.OffsetFetchResponse](t, tb, of).Groups[0].ErrorCode, kerr.StaleMemberEpoch)

	// Leaving: the member is gone.
	wantCode(t, "leave", hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -1 }).ErrorCode, nil)
	wantCode(t, "heartbeat after leaving", hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = cur.MemberEpoch }).ErrorCode, kerr.UnknownMemberID)
}

// TestConsumerGroupRegex subscribes a KIP-848 member by regex (kgo sends
// subscribed_topic_regex; the broker resolves it): a topic created later
// that matches is assigned and consumed, one that does not is not.
func TestConsumerGroupRegex(t *testing.T) {
	tb := consumerGroupBroker(t)
	createTopic(t, tb, "re-orders-eu", 2)
	createTopic(t, tb, "re-audit", 1)
	cl := tb.client(kgo.ConsumerGroup("g-regex"), kgo.ConsumeRegex(), kgo.ConsumeTopics("re-orders-.*"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(300*time.Millisecond))
	produceN(t, tb, "re-orders-eu", 2, 10, "eu")
	produceN(t, tb, "re-audit", 1, 5, "audit")
	seen := map[string]int{}
	consume := func(topic string, n int) {
		t.Helper()
		ctx := testCtx(t)
		for seen[topic] < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %v, want %d of %s", seen, n, topic)
			}
			fs.EachRecord(func(r *kgo.Record) { seen[r.Topic]++ })
		}
	}
	consume("re-orders-eu", 10)
	epoch := describeConsumerGroup(t, tb, "g-regex").Epoch
	createTopic(t, tb, "re-orders-us", 3)
	produceN(t, tb, "re-orders-us", 3, 9, "us")
	consume("re-orders-us", 9)
	d := describeConsumerGroup(t, tb, "g-regex")
	if d.Epoch <= epoch || len(d.Members) != 1 || deref(d.Members[0].SubscribedTopicRegex) == "" {
		t.Fatalf("after the new topic: epoch %d (was %d), %+v", d.Epoch, epoch, d.Members)
	}
	if seen["re-audit"] != 0 {
		t.Fatalf("consumed %d records of a topic the regex does not match", seen["re-audit"])
	}
	cl.Close()
}
