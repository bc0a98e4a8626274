package server

// Consumer groups end to end: franz-go kgo group consumers (eager and
// cooperative), raw kmsg requests for every error code, and a broker
// restart in the middle. Real clients from other languages are in
// group_clients_test.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
	"github.com/stratalog/strata/meta/embedetcd"
)

// Group timings of these tests: short so that rebalances are quick.
const (
	testSessionTimeout  = 1500 * time.Millisecond
	testHeartbeat       = 150 * time.Millisecond
	testRebalanceDelay  = 300 * time.Millisecond
	testRebalanceWithin = testSessionTimeout + 4*time.Second // a dead member's partitions move within this
)

// groupBroker starts a broker whose group coordinator uses short timings.
func groupBroker(t *testing.T, mutate ...func(*Config)) *testBroker {
	t.Helper()
	return startBroker(t, append([]func(*Config){func(c *Config) {
		c.Groups = group.Config{
			InitialRebalanceDelay: testRebalanceDelay,
			MinSessionTimeout:     100 * time.Millisecond,
		}
	}}, mutate...)...)
}

// member is one kgo group consumer whose assignment and records the test
// tracks.
type member struct {
	name string
	cl   *kgo.Client

	mu       sync.Mutex
	owned    map[int32]bool
	records  []*kgo.Record
	stopPoll chan struct{}
	polled   chan struct{}

	sever func() // cuts the client off the network (see severableDialer)
}

func (m *member) assignment() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for p, ok := range m.owned {
		if ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func (m *member) consumed() []*kgo.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.records)
}

// severableDialer dials normally until sever is called; then every
// connection it made is closed and new dials fail, so the client cannot
// reach the broker any more (a process that died, as far as the broker
// can tell).
type severableDialer struct {
	mu      sync.Mutex
	severed bool
	conns   []net.Conn
}

func (d *severableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.severed {
		return nil, errors.New("severed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *severableDialer) sever() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.severed = true
	for _, c := range d.conns {
		c.Close()
	}
}

// startMember starts a group consumer of topic in grp that polls until
// stopped. Extra options go last.
func startMember(t testing.TB, tb *testBroker, name, grp, topic string, opts ...kgo.Opt) *member {
	t.Helper()
	m := &member{name: name, owned: map[int32]bool{}, stopPoll: make(chan struct{}), polled: make(chan struct{})}
	d := &severableDialer{}
	m.sever = d.sever
	set := func(_ context.Context, _ *kgo.Client, ps map[string][]int32, v bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range ps[topic] {
			m.owned[p] = v
		}
	}
	base := []kgo.Opt{
		kgo.ClientID(name),
		kgo.Dialer(d.dial),
		kgo.ConsumerGroup(grp),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(testSessionTimeout),
		kgo.HeartbeatInterval(testHeartbeat),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) { set(ctx, cl, ps, true) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) { set(ctx, cl, ps, false) }),
		kgo.OnPartitionsLost(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) { set(ctx, cl, ps, false) }),
	}
	m.cl = tb.client(append(base, opts...)...)
	go func() {
		defer close(m.polled)
		for {
			select {
			case <-m.stopPoll:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			fs := m.cl.PollFetches(ctx)
			cancel()
			if fs.IsClientClosed() {
				return
			}
			recs := fs.Records()
			if len(recs) > 0 {
				m.mu.Lock()
				m.records = append(m.records, recs...)
				m.mu.Unlock()
			}
		}
	}()
	return m
}

// stop ends polling (the client stays open).
func (m *member) stop() {
	select {
	case <-m.stopPoll:
	default:
		close(m.stopPoll)
	}
	<-m.polled
}

// leave stops polling and closes the client: it leaves the group.
func (m *member) leave() {
	m.stop()
	m.cl.Close()
}

// assignee is a group consumer whose assignment the test can see: a kgo
// member here, or a client process (group_clients_test.go).
type assignee interface {
	label() string
	assignment() []int32
}

func (m *member) label() string { return m.name }

// waitBalanced waits until the members together own every partition of an
// n-partition topic, each exactly once, every member at least one (when
// there are enough partitions), and the assignment has held still for a
// moment. It returns the time it took.
func waitBalanced[A assignee](t testing.TB, members []A, n int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	stableSince := time.Time{}
	for {
		desc, ok := balanced(members, n)
		switch {
		case !ok:
			stableSince = time.Time{}
		case desc != last:
			stableSince = time.Now()
		case time.Since(stableSince) > 3*testHeartbeat:
			return stableSince.Sub(start)
		}
		last = desc
		if time.Since(start) > within {
			t.Fatalf("no balanced assignment of %d partitions within %v; last: %s", n, within, describeAssignment(members))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func balanced[A assignee](members []A, n int) (string, bool) {
	seen := map[int32]string{}
	for _, m := range members {
		a := m.assignment()
		if len(a) == 0 && len(members) <= n {
			return "", false
		}
		for _, p := range a {
			if _, dup := seen[p]; dup {
				return "", false
			}
			seen[p] = m.label()
		}
	}
	return describeAssignment(members), len(seen) == n
}

func describeAssignment[A assignee](members []A) string {
	s := ""
	for _, m := range members {
		s += fmt.Sprintf("%s=%v ", m.label(), m.assignment())
	}
	return s
}

// produceN writes n records round-robin over the partitions of topic,
// values "<prefix>-<i>".
func produceN(t *testing.T, tb *testBroker, topic string, partitions, n int, prefix string) {
	t.Helper()
	ctx := testCtx(t)
	// Uncompressed: kafka-python without python3-snappy cannot read snappy,
	// kgo's default.
	pr := tb.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < n; i++ {
		pr.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i), Partition: int32(i % partitions)}, nil)
	}
	if err := pr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	pr.Close()
}

func createTopic(t *testing.T, tb *testBroker, topic string, partitions int32) {
	t.Helper()
	resp, err := tb.admin().CreateTopic(testCtx(t), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// waitConsumed waits until the members together consumed n records and
// checks that no record was consumed twice and that each came from a
// partition its consumer owned at the end.
func waitConsumed(t *testing.T, members []*member, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		total := 0
		for _, m := range members {
			total += len(m.consumed())
		}
		if total >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d of %d records", total, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // anything extra would show up now
	seen := map[string]string{}
	for _, m := range members {
		owned := map[int32]bool{}
		for _, p := range m.assignment() {
			owned[p] = true
		}
		for _, r := range m.consumed() {
			k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
			if other, dup := seen[k]; dup {
				t.Fatalf("record %s consumed by %s and %s", k, other, m.name)
			}
			seen[k] = m.name
			if !owned[r.Partition] {
				t.Fatalf("%s consumed %s but owns %v", m.name, k, m.assignment())
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), n)
	}
}

func TestGroupConsumersShareTopic(t *testing.T) {
	tb := groupBroker(t)
	balancers := []struct {
		name string
		opt  kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	}
	for _, b := range balancers {
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/%d", b.name, n), func(t *testing.T) {
				topic := fmt.Sprintf("share-%s-%d", b.name, n)
				grp := "g-" + topic
				createTopic(t, tb, topic, 6)
				var members []*member
				for i := 0; i < n; i++ {
					members = append(members, startMember(t, tb, fmt.Sprintf("m%d", i), grp, topic, kgo.Balancers(b.opt)))
				}
				waitBalanced(t, members, 6, 20*time.Second)
				for _, m := range members {
					if a := m.assignment(); len(a) != 6/n {
						t.Fatalf("%s owns %v; want %d partitions each: %s", m.name, a, 6/n, describeAssignment(members))
					}
				}
				produceN(t, tb, topic, 6, 300, "r")
				waitConsumed(t, members, 300)
				// The broker's view matches the clients'.
				dg, err := tb.admin().DescribeGroups(testCtx(t), grp)
				if err != nil {
					t.Fatal(err)
				}
				d := dg[grp]
				if d.State != "Stable" || len(d.Members) != n || d.Protocol != b.name {
					t.Fatalf("described %s state %s protocol %s with %d members", grp, d.State, d.Protocol, len(d.Members))
				}
				for _, m := range members {
					if err := m.cl.CommitUncommittedOffsets(testCtx(t)); err != nil {
						t.Fatalf("%s commit: %v", m.name, err)
					}
				}
				offs, err := tb.admin().FetchOffsets(testCtx(t), grp)
				if err != nil {
					t.Fatal(err)
				}
				for p := int32(0); p < 6; p++ {
					if o, ok := offs.Lookup(topic, p); !ok || o.At != 50 {
						t.Fatalf("committed offset of %s/%d: %+v (found %v), want 50", topic, p, o, ok)
					}
				}
				for _, m := range members {
					m.leave()
				}
			})
		}
	}
	// The coordinator's metrics count what happened.
	resp, err := http.Get("http://" + tb.srv.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"strata_group_rebalances_total", "strata_group_committed_offsets_total", "strata_groups_loaded"} {
		var v float64
		for _, line := range strings.Split(string(body), "\n") {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				fmt.Sscan(rest, &v)
			}
		}
		if v <= 0 {
			t.Fatalf("metric %s = %v, want > 0", name, v)
		}
	}
}

func TestGroupMemberLeavesAndDies(t *testing.T) {
	tb := groupBroker(t)
	for _, b := range []struct {
		name string
		opt  kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(b.name, func(t *testing.T) {
			topic := "churn-" + b.name
			grp := "g-" + topic
			createTopic(t, tb, topic, 6)
			m0 := startMember(t, tb, "m0", grp, topic, kgo.Balancers(b.opt))
			m1 := startMember(t, tb, "m1", grp, topic, kgo.Balancers(b.opt))
			m2 := startMember(t, tb, "m2", grp, topic, kgo.Balancers(b.opt))
			waitBalanced(t, []*member{m0, m1, m2}, 6, 20*time.Second)

			// m2 leaves cleanly (LeaveGroup): the others take its partitions
			// without waiting for a session timeout.
			gone := m2.assignment()
			m2.leave()
			took := waitBalanced(t, []*member{m0, m1}, 6, testRebalanceWithin)
			t.Logf("%s: partitions %v of the leaving member moved in %v", b.name, gone, took)
			if took > testSessionTimeout+time.Second {
				t.Fatalf("a clean leave took %v to rebalance; session timeout is %v", took, testSessionTimeout)
			}

			// m1 dies: its connections are cut and it can never reach the
			// broker again. Its session expires and m0 takes everything.
			gone = m1.assignment()
			m1.stop()
			m1.sever()
			took = waitBalanced(t, []*member{m0}, 6, testRebalanceWithin)
			t.Logf("%s: partitions %v of the dead member moved in %v", b.name, gone, took)
			if took < testSessionTimeout-500*time.Millisecond {
				t.Fatalf("dead member's partitions moved after %v, before its %v session could expire", took, testSessionTimeout)
			}
			produceN(t, tb, topic, 6, 60, "after")
			waitConsumed(t, []*member{m0}, 60)
			m0.leave()
		})
	}
}

// TestGroupResumesAfterBrokerRestart commits part of what was consumed,
// restarts the broker with consumers attached, and checks that consumption
// goes on without a gap and that new consumers of the group start exactly
// at the committed offsets: nothing skipped, and nothing redelivered except
// the tail consumed after the last commit.
func TestGroupResumesAfterBrokerRestart(t *testing.T) {
	tb := groupBroker(t)
	const topic, grp, parts = "restart", "g-restart", 6
	createTopic(t, tb, topic, parts)
	produceN(t, tb, topic, parts, 300, "a") // 50 per partition
	opts := []kgo.Opt{kgo.DisableAutoCommit(), kgo.Balancers(kgo.RangeBalancer())}
	m0 := startMember(t, tb, "m0", grp, topic, opts...)
	m1 := startMember(t, tb, "m1", grp, topic, opts...)
	members := []*member{m0, m1}
	waitBalanced(t, members, parts, 20*time.Second)
	waitConsumed(t, members, 300)
	for _, m := range members {
		if err := m.cl.CommitUncommittedOffsets(testCtx(t)); err != nil {
			t.Fatalf("%s commit: %v", m.name, err)
		}
	}

	tb.restart()

	// The consumers stay in the group (the restarted coordinator loads it
	// from etcd) and read on from where they were.
	produceN(t, tb, topic, parts, 120, "b") // 20 more per partition
	waitConsumed(t, members, 420)
	committed := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		committed[p] = 50
	}
	// Commit only what was consumed up to offset 60 of each partition; the
	// rest (10 per partition) is the uncommitted tail.
	for _, m := range members {
		offs := map[string]map[int32]kgo.EpochOffset{topic: {}}
		for _, p := range m.assignment() {
			offs[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: 60}
			committed[p] = 60
		}
		var cerr error
		m.cl.CommitOffsetsSync(testCtx(t), offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) { cerr = err })
		if cerr != nil {
			t.Fatalf("%s commit after restart: %v", m.name, cerr)
		}
	}
	for _, m := range members {
		m.leave()
	}

	tb.restart()

	// New consumers start at the committed offsets.
	n0 := startMember(t, tb, "n0", grp, topic, opts...)
	n1 := startMember(t, tb, "n1", grp, topic, opts...)
	waitBalanced(t, []*member{n0, n1}, parts, 20*time.Second)
	waitConsumed(t, []*member{n0, n1}, parts*10)
	for _, m := range []*member{n0, n1} {
		first := map[int32]int64{}
		for _, r := range m.consumed() {
			if f, ok := first[r.Partition]; !ok || r.Offset < f {
				first[r.Partition] = r.Offset
			}
		}
		for p, f := range first {
			if f != committed[p] {
				t.Fatalf("%s started partition %d at offset %d, committed %d", m.name, p, f, committed[p])
			}
		}
	}
	for _, m := range []*member{n0, n1} {
		m.leave()
	}
}

// rawMember is a group member driven by hand with kmsg requests through
// its own kgo client (a JoinGroup parks its connection until the rebalance
// ends, so members do not share clients).
type rawMember struct {
	t   *testing.T
	cl  *kgo.Client
	grp string
	id  string
	gen int32
	// instance is the group.instance.id of a static member.
	instance *string
}

func newRawMember(t *testing.T, tb *testBroker, grp string) *rawMember {
	return &rawMember{t: t, cl: tb.client(), grp: grp}
}

func consumerProtocol(topics ...string) kmsg.JoinGroupRequestProtocol {
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = topics
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	p.Metadata = md.AppendTo(nil)
	return p
}

func (m *rawMember) joinReq(protocolType string, topics ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group = m.grp
	req.MemberID = m.id
	req.InstanceID = m.instance
	req.SessionTimeoutMillis = 5000
	req.RebalanceTimeoutMillis = 5000
	req.ProtocolType = protocolType
	req.Protocols = []kmsg.JoinGroupRequestProtocol{consumerProtocol(topics...)}
	return req
}

// join sends one JoinGroup and records the member id and generation it got.
func (m *rawMember) join(topics ...string) *kmsg.JoinGroupResponse {
	m.t.Helper()
	resp, err := m.joinReq("consumer", topics...).RequestWith(testCtx(m.t), m.cl)
	if err != nil {
		m.t.Fatalf("JoinGroup: %v", err)
	}
	if resp.MemberID != "" {
		m.id = resp.MemberID
	}
	if resp.ErrorCode == 0 {
		m.gen = resp.Generation
	}
	return resp
}

// joinAsync runs join in the background.
func (m *rawMember) joinAsync(topics ...string) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		resp, err := m.joinReq("consumer", topics...).RequestWith(context.Background(), m.cl)
		if err != nil {
			resp = nil
		} else if resp.ErrorCode == 0 {
			m.id, m.gen = resp.MemberID, resp.Generation
		}
		ch <- resp
	}()
	return ch
}

func (m *rawMember) sync(assign map[string][]byte) *kmsg.SyncGroupResponse {
	m.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = m.grp, m.gen, m.id, m.instance
	pt, pn := "consumer", "range"
	req.ProtocolType, req.Protocol = &pt, &pn
	for id, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	resp, err := req.RequestWith(testCtx(m.t), m.cl)
	if err != nil {
		m.t.Fatalf("SyncGroup: %v", err)
	}
	return resp
}

func (m *rawMember) heartbeat() int16 {
	m.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = m.grp, m.gen, m.id, m.instance
	resp, err := req.RequestWith(testCtx(m.t), m.cl)
	if err != nil {
		m.t.Fatalf("Heartbeat: %v", err)
	}
	return resp.ErrorCode
}

// commit commits offset for each topic/partition pair; metadata may be nil.
func (m *rawMember) commit(metadata *string, tps ...any) []int16 {
	m.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = m.grp, m.gen, m.id, m.instance
	for i := 0; i < len(tps); i += 2 {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = tps[i].(string)
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = int32(tps[i+1].(int)), 7, metadata
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(testCtx(m.t), m.cl)
	if err != nil {
		m.t.Fatalf("OffsetCommit: %v", err)
	}
	var codes []int16
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(wantCode))
	}
}

// TestGroupErrorCodes drives groups with raw requests into every error the
// group APIs answer.
func TestGroupErrorCodes(t *testing.T) {
	tb := groupBroker(t)
	ctx := testCtx(t)
	createTopic(t, tb, "t", 2)
	createTopic(t, tb, "u", 1)
	cl := tb.client()

	// INVALID_GROUP_ID: group APIs with an empty group id.
	empty := newRawMember(t, tb, "")
	resp, err := empty.joinReq("consumer", "t").RequestWith(ctx, empty.cl)
	if err == nil {
		wantCode(t, "JoinGroup with an empty group", resp.ErrorCode, kerr.InvalidGroupID)
	} else if !errors.Is(err, kerr.InvalidGroupID) {
		t.Fatalf("JoinGroup with an empty group: %v, want INVALID_GROUP_ID", err)
	}

	a := newRawMember(t, tb, "errs")
	// INVALID_SESSION_TIMEOUT: below the broker's minimum.
	req := a.joinReq("consumer", "t")
	req.SessionTimeoutMillis = 10
	jr, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "JoinGroup with a 10ms session", jr.ErrorCode, kerr.InvalidSessionTimeout)
	// INCONSISTENT_GROUP_PROTOCOL: no protocol type.
	jr, err = a.joinReq("", "t").RequestWith(ctx, a.cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "JoinGroup without a protocol type", jr.ErrorCode, kerr.InconsistentGroupProtocol)
	// MEMBER_ID_REQUIRED, then the real join.
	wantCode(t, "first JoinGroup", a.join("t").ErrorCode, kerr.MemberIDRequired)
	if jr := a.join("t"); jr.ErrorCode != 0 || jr.Generation != 1 || jr.LeaderID != a.id || len(jr.Members) != 1 {
		t.Fatalf("JoinGroup: %+v", jr)
	}
	wantCode(t, "SyncGroup", a.sync(map[string][]byte{a.id: []byte("x")}).ErrorCode, nil)
	wantCode(t, "Heartbeat", a.heartbeat(), nil)

	// UNKNOWN_MEMBER_ID and ILLEGAL_GENERATION.
	bogus := &rawMember{t: t, cl: cl, grp: "errs", id: "bogus", gen: a.gen}
	wantCode(t, "Heartbeat of an unknown member", bogus.heartbeat(), kerr.UnknownMemberID)
	wantCode(t, "OffsetCommit of an unknown member", bogus.commit(nil, "t", 0)[0], kerr.UnknownMemberID)
	simple := &rawMember{t: t, cl: cl, grp: "errs", gen: -1}
	wantCode(t, "simple OffsetCommit to a group with members", simple.commit(nil, "t", 0)[0], kerr.UnknownMemberID)
	old := &rawMember{t: t, cl: cl, grp: "errs", id: a.id, gen: a.gen + 5}
	wantCode(t, "Heartbeat of a wrong generation", old.heartbeat(), kerr.IllegalGeneration)
	wantCode(t, "OffsetCommit of a wrong generation", old.commit(nil, "t", 0)[0], kerr.IllegalGeneration)
	nogroup := &rawMember{t: t, cl: cl, grp: "never-existed", id: "m", gen: 3}
	// (franz-go sends OffsetCommit v9: GROUP_ID_NOT_FOUND;
	// TestOffsetCommitUnknownGroupByVersion has the older versions.)
	wantCode(t, "OffsetCommit with a generation to an unknown group", nogroup.commit(nil, "t", 0)[0], kerr.GroupIDNotFound)

	// One commit request: good partitions commit, bad ones fail alone.
	big := string(make([]byte, 5000))
	codes := a.commit(nil, "t", 0, "t", 7, "nope", 0)
	wantCode(t, "commit t/0", codes[0], nil)
	wantCode(t, "commit t/7", codes[1], kerr.UnknownTopicOrPartition)
	wantCode(t, "commit nope/0", codes[2], kerr.UnknownTopicOrPartition)
	wantCode(t, "commit with 5000 bytes of metadata", a.commit(&big, "t", 1)[0], kerr.OffsetMetadataTooLarge)
	wantCode(t, "commit u/0", a.commit(nil, "u", 0)[0], nil)

	// NON_EMPTY_GROUP, GROUP_SUBSCRIBED_TO_TOPIC, GROUP_ID_NOT_FOUND.
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"errs", "never-existed"}
	dresp, err := dg.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DeleteGroups of a group with members", dresp.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "DeleteGroups of an unknown group", dresp.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "errs"
	for _, tp := range []string{"t", "u"} {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = tp
		rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
		od.Topics = append(od.Topics, rt)
	}
	odr, err := od.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "OffsetDelete", odr.ErrorCode, nil)
	wantCode(t, "OffsetDelete of a subscribed topic", odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	wantCode(t, "OffsetDelete of an unsubscribed topic", odr.Topics[1].Partitions[0].ErrorCode, nil)
	od.Group = "never-existed"
	if odr, err = od.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "OffsetDelete of an unknown group", odr.ErrorCode, kerr.GroupIDNotFound)

	// INCONSISTENT_GROUP_PROTOCOL: another protocol type into the group.
	c := newRawMember(t, tb, "errs")
	jr, err = c.joinReq("connect", "t").RequestWith(ctx, c.cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "JoinGroup with another protocol type", jr.ErrorCode, kerr.InconsistentGroupProtocol)

	// REBALANCE_IN_PROGRESS: a second member joins.
	b := newRawMember(t, tb, "errs")
	wantCode(t, "second member's first JoinGroup", b.join("t").ErrorCode, kerr.MemberIDRequired)
	bJoined := b.joinAsync("t")
	deadline := time.Now().Add(5 * time.Second)
	for a.heartbeat() != kerr.RebalanceInProgress.Code {
		if time.Now().After(deadline) {
			t.Fatal("heartbeat never reported the rebalance")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantCode(t, "SyncGroup during PreparingRebalance", a.sync(nil).ErrorCode, kerr.RebalanceInProgress)
	wantCode(t, "OffsetCommit during PreparingRebalance", a.commit(nil, "t", 0)[0], nil)
	if jr := a.join("t"); jr.ErrorCode != 0 || jr.Generation != 2 {
		t.Fatalf("rejoin: %+v", jr)
	}
	if jr := <-bJoined; jr == nil || jr.ErrorCode != 0 || jr.Generation != 2 {
		t.Fatalf("second member's join: %+v", jr)
	}
	wantCode(t, "OffsetCommit during CompletingRebalance", a.commit(nil, "t", 0)[0], kerr.RebalanceInProgress)
	// INCONSISTENT_GROUP_PROTOCOL: SyncGroup v5 naming another protocol.
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Group, sreq.Generation, sreq.MemberID = "errs", a.gen, a.id
	other := "roundrobin"
	sreq.Protocol = &other
	sresp, err := sreq.RequestWith(ctx, a.cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "SyncGroup naming another protocol", sresp.ErrorCode, kerr.InconsistentGroupProtocol)
	bSynced := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.Generation, r.MemberID = "errs", b.gen, b.id
		resp, _ := r.RequestWith(context.Background(), b.cl)
		bSynced <- resp
	}()
	if sr := a.sync(map[string][]byte{a.id: []byte("A"), b.id: []byte("B")}); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "A" {
		t.Fatalf("leader sync: %+v", sr)
	}
	if sr := <-bSynced; sr == nil || sr.ErrorCode != 0 || string(sr.MemberAssignment) != "B" {
		t.Fatalf("follower sync: %+v", sr)
	}

	// LeaveGroup v5, batched: one known, one unknown member.
	lg := kmsg.NewPtrLeaveGroupRequest()
	lg.Group = "errs"
	lg.Members = []kmsg.LeaveGroupRequestMember{{MemberID: b.id}, {MemberID: "bogus"}}
	lr, err := lg.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "LeaveGroup", lr.ErrorCode, nil)
	wantCode(t, "LeaveGroup of a member", lr.Members[0].ErrorCode, nil)
	wantCode(t, "LeaveGroup of an unknown member", lr.Members[1].ErrorCode, kerr.UnknownMemberID)

	// FENCED_INSTANCE_ID: a static member restarted with a new member id.
	s1 := newRawMember(t, tb, "static")
	inst := "instance-1"
	s1.instance = &inst
	if jr := s1.join("t"); jr.ErrorCode != 0 {
		t.Fatalf("static join: %+v", jr)
	}
	wantCode(t, "static SyncGroup", s1.sync(map[string][]byte{s1.id: []byte("S")}).ErrorCode, nil)
	s2 := newRawMember(t, tb, "static")
	s2.instance = &inst
	if jr := s2.join("t"); jr.ErrorCode != 0 || jr.Generation != s1.gen || jr.MemberID == s1.id {
		t.Fatalf("static rejoin: %+v (old member %s generation %d)", jr, s1.id, s1.gen)
	}
	if sr := s2.sync(nil); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "S" {
		t.Fatalf("static member's sync after restart: %+v", sr)
	}
	wantCode(t, "Heartbeat of the fenced instance", s1.heartbeat(), kerr.FencedInstanceID)
	wantCode(t, "OffsetCommit of the fenced instance", s1.commit(nil, "t", 0)[0], kerr.FencedInstanceID)
	wantCode(t, "SyncGroup of the fenced instance", s1.sync(nil).ErrorCode, kerr.FencedInstanceID)
	wantCode(t, "Heartbeat of the new instance", s2.heartbeat(), nil)

	// The group empties; then it can be deleted, once.
	lg.Group = "static"
	lg.Members = []kmsg.LeaveGroupRequestMember{{MemberID: s2.id, InstanceID: &inst}}
	if lr, err = lg.RequestWith(ctx, cl); err != nil || lr.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v %v", lr, err)
	}
	dg.Groups = []string{"static"}
	if dresp, err = dg.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DeleteGroups of an empty group", dresp.Groups[0].ErrorCode, nil)
	if dresp, err = dg.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DeleteGroups of a deleted group", dresp.Groups[0].ErrorCode, kerr.GroupIDNotFound)
}

// rawRoundTrip sends req at its version on a fresh connection and reads
// the response of the same version.
func rawRoundTrip[R kmsg.Response](t *testing.T, tb *testBroker, req kmsg.Request) R {
	t.Helper()
	rc := dialRaw(t, tb)
	rc.send(req)
	resp := req.ResponseKind().(R)
	resp.SetVersion(req.GetVersion())
	rc.recv(resp, req.Key())
	return resp
}

// TestGroupAPIVersions covers the old and new request shapes clients use:
// OffsetCommit v0-v2 (simple commits, retention), OffsetFetch v1, v7
// (null topics, require_stable) and v8 (several groups), JoinGroup v0
// (no member id round trip), LeaveGroup v0, ListGroups filters,
// DescribeGroups.
func TestGroupAPIVersions(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "t", 2)

	commit := func(version int16, grp string, part int32, offset int64) {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = version
		req.Group = grp
		if version >= 2 {
			req.RetentionTimeMillis = 3600_000
		}
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = part, offset
		md := fmt.Sprintf("v%d", version)
		rp.Metadata = &md
		if version == 1 {
			rp.Timestamp = time.Now().UnixMilli()
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := rawRoundTrip[*kmsg.OffsetCommitResponse](t, tb, req)
		wantCode(t, fmt.Sprintf("OffsetCommit v%d", version), resp.Topics[0].Partitions[0].ErrorCode, nil)
	}
	commit(0, "old", 0, 5)
	commit(1, "old", 1, 6)
	commit(2, "two", 0, 7)

	// v1: explicit partitions, -1 for no commit, no group-level error.
	f1 := kmsg.NewPtrOffsetFetchRequest()
	f1.Version = 1
	f1.Group = "old"
	f1.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}, {Topic: "x", Partitions: []int32{0}}}
	r1 := rawRoundTrip[*kmsg.OffsetFetchResponse](t, tb, f1)
	if len(r1.Topics) != 2 || r1.Topics[0].Partitions[0].Offset != 5 || r1.Topics[0].Partitions[1].Offset != 6 ||
		*r1.Topics[0].Partitions[0].Metadata != "v0" || r1.Topics[1].Partitions[0].Offset != -1 || r1.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("OffsetFetch v1: %+v", r1.Topics)
	}
	// v7: null topics is every committed partition.
	f7 := kmsg.NewPtrOffsetFetchRequest()
	f7.Version = 7
	f7.Group = "old"
	f7.RequireStable = true
	r7 := rawRoundTrip[*kmsg.OffsetFetchResponse](t, tb, f7)
	if r7.ErrorCode != 0 || len(r7.Topics) != 1 || len(r7.Topics[0].Partitions) != 2 {
		t.Fatalf("OffsetFetch v7 of all partitions: %+v", r7)
	}
	// v8: two groups in one request, one unknown.
	f8 := kmsg.NewPtrOffsetFetchRequest()
	f8.Version = 8
	for _, g := range []string{"two", "unknown"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		f8.Groups = append(f8.Groups, rg)
	}
	r8 := rawRoundTrip[*kmsg.OffsetFetchResponse](t, tb, f8)
	if len(r8.Groups) != 2 || r8.Groups[0].ErrorCode != 0 || len(r8.Groups[0].Topics) != 1 ||
		r8.Groups[0].Topics[0].Partitions[0].Offset != 7 || len(r8.Groups[1].Topics) != 0 {
		t.Fatalf("OffsetFetch v8: %+v", r8.Groups)
	}

	// JoinGroup v0: no MEMBER_ID_REQUIRED round trip, no rebalance timeout.
	j0 := kmsg.NewPtrJoinGroupRequest()
	j0.Version = 0
	j0.Group = "v0"
	j0.SessionTimeoutMillis = 3000
	j0.ProtocolType = "consumer"
	j0.Protocols = []kmsg.JoinGroupRequestProtocol{consumerProtocol("t")}
	jr := rawRoundTrip[*kmsg.JoinGroupResponse](t, tb, j0)
	if jr.ErrorCode != 0 || jr.Generation != 1 || jr.MemberID == "" || jr.LeaderID != jr.MemberID || *jr.Protocol != "range" {
		t.Fatalf("JoinGroup v0: %+v", jr)
	}
	s0 := kmsg.NewPtrSyncGroupRequest()
	s0.Version = 0
	s0.Group, s0.Generation, s0.MemberID = "v0", 1, jr.MemberID
	s0.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte("a")}}
	if sr := rawRoundTrip[*kmsg.SyncGroupResponse](t, tb, s0); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "a" {
		t.Fatalf("SyncGroup v0: %+v", sr)
	}
	h0 := kmsg.NewPtrHeartbeatRequest()
	h0.Version = 0
	h0.Group, h0.Generation, h0.MemberID = "v0", 1, jr.MemberID
	wantCode(t, "Heartbeat v0", rawRoundTrip[*kmsg.HeartbeatResponse](t, tb, h0).ErrorCode, nil)

	// DescribeGroups v5 with authorized operations; unknown groups are Dead.
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version = 5
	dg.Groups = []string{"v0", "old", "unknown"}
	dg.IncludeAuthorizedOperations = true
	dr := rawRoundTrip[*kmsg.DescribeGroupsResponse](t, tb, dg)
	if len(dr.Groups) != 3 {
		t.Fatalf("DescribeGroups: %+v", dr)
	}
	v0, old, unknown := dr.Groups[0], dr.Groups[1], dr.Groups[2]
	if v0.State != "Stable" || v0.ProtocolType != "consumer" || v0.Protocol != "range" || len(v0.Members) != 1 ||
		string(v0.Members[0].MemberAssignment) != "a" || v0.Members[0].ClientID != "raw" || v0.Members[0].ClientHost != "/127.0.0.1" || v0.AuthorizedOperations <= 0 {
		t.Fatalf("DescribeGroups v0: %+v", v0)
	}
	if old.State != "Empty" || old.ProtocolType != "" || len(old.Members) != 0 || unknown.State != "Dead" || unknown.ErrorCode != 0 {
		t.Fatalf("DescribeGroups old %+v unknown %+v", old, unknown)
	}

	// ListGroups v4 filters by state, v5 by type.
	list := func(version int16, states, types []string) []string {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = version
		req.StatesFilter, req.TypesFilter = states, types
		resp := rawRoundTrip[*kmsg.ListGroupsResponse](t, tb, req)
		wantCode(t, "ListGroups", resp.ErrorCode, nil)
		var out []string
		for _, g := range resp.Groups {
			out = append(out, g.Group+":"+g.GroupState)
		}
		slices.Sort(out)
		return out
	}
	if got := list(0, nil, nil); !slices.Equal(got, []string{"old:", "two:", "v0:"}) {
		t.Fatalf("ListGroups v0: %v", got)
	}
	if got := list(4, []string{"stable"}, nil); !slices.Equal(got, []string{"v0:Stable"}) {
		t.Fatalf("ListGroups v4 Stable: %v", got)
	}
	if got := list(5, nil, []string{"consumer"}); len(got) != 0 {
		t.Fatalf("ListGroups v5 of type consumer: %v", got)
	}
	if got := list(5, []string{"Empty"}, []string{"classic"}); !slices.Equal(got, []string{"old:Empty", "two:Empty"}) {
		t.Fatalf("ListGroups v5 Empty classic: %v", got)
	}

	// LeaveGroup v0: one member, top-level error.
	l0 := kmsg.NewPtrLeaveGroupRequest()
	l0.Version = 0
	l0.Group, l0.MemberID = "v0", jr.MemberID
	wantCode(t, "LeaveGroup v0", rawRoundTrip[*kmsg.LeaveGroupResponse](t, tb, l0).ErrorCode, nil)
	wantCode(t, "LeaveGroup v0 again", rawRoundTrip[*kmsg.LeaveGroupResponse](t, tb, l0).ErrorCode, kerr.UnknownMemberID)
}

// TestGroupCoordinatorPlacement runs two brokers on one etcd: each group
// has one coordinator, both brokers agree which, the other broker answers
// NOT_COORDINATOR, and clients bootstrapped anywhere find it.
// groupCluster starts n brokers (ids 1..n) sharing one embedded etcd and
// object store, each by start (groupBroker or consumerGroupBroker) with
// mutate applied last.
func groupCluster(t *testing.T, n int32, start func(*testing.T, ...func(*Config)) *testBroker, mutate ...func(*Config)) []*testBroker {
	t.Helper()
	ectx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	e, err := embedetcd.Start(ectx, embedetcd.Config{Dir: t.TempDir()}, testLogger())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	var brokers []*testBroker
	store := "file://" + filepath.Join(t.TempDir(), "objects")
	for id := int32(1); id <= n; id++ {
		brokers = append(brokers, start(t, append([]func(*Config){func(c *Config) {
			c.BrokerID = id
			c.EtcdEndpoints = e.Endpoints()
			c.ObjectStore = store
			c.BrokerTTL = 2 * time.Second
		}}, mutate...)...))
	}
	t.Cleanup(func() {
		for _, b := range brokers {
			b.stop()
		}
		e.Close()
	})
	return brokers
}

// findCoordinator asks tb which broker coordinates group key.
func findCoordinator(t *testing.T, tb *testBroker, key string) int32 {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 2
	req.CoordinatorKey = key
	return rawRoundTrip[*kmsg.FindCoordinatorResponse](t, tb, req).NodeID
}

func TestGroupCoordinatorPlacement(t *testing.T) {
	ctx := testCtx(t)
	brokers := groupCluster(t, 2, groupBroker)
	b1, b2 := brokers[0], brokers[1]
	cl1 := b1.client()

	// Wait until both brokers see each other and agree on coordinators.
	find := func(tb *testBroker, key string) int32 { return findCoordinator(t, tb, key) }
	var on2 string
	deadline := time.Now().Add(15 * time.Second)
	for on2 == "" {
		if time.Now().After(deadline) {
			t.Fatal("brokers never agreed on group coordinators spread over both")
		}
		seen := map[int32]bool{}
		agree := true
		cand := ""
		for i := 0; i < 20; i++ {
			key := fmt.Sprintf("placed-%d", i)
			c1, c2 := find(b1, key), find(b2, key)
			agree = agree && c1 == c2
			seen[c1] = true
			if c1 == 2 && cand == "" {
				cand = key
			}
		}
		if agree && seen[1] && seen[2] {
			on2 = cand
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Broker 1 refuses the group broker 2 coordinates.
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 7
	of.Group = on2
	if r := rawRoundTrip[*kmsg.OffsetFetchResponse](t, b1, of); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("OffsetFetch at the wrong broker: %v, want NOT_COORDINATOR", kerr.ErrorForCode(r.ErrorCode))
	}

	// Consumers bootstrapped at broker 1 only find the coordinator and
	// share a topic whose partitions live on both brokers.
	resp, err := kadm.NewClient(cl1).CreateTopic(ctx, 4, 1, nil, "placed")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	m0 := startMember(t, b1, "m0", on2, "placed")
	m1 := startMember(t, b1, "m1", on2, "placed")
	waitBalanced(t, []*member{m0, m1}, 4, 20*time.Second)
	produceN(t, b1, "placed", 4, 80, "p")
	waitConsumed(t, []*member{m0, m1}, 80)
	for _, m := range []*member{m0, m1} {
		if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The committed offsets, asked through broker 1, come from broker 2.
	offs, err := kadm.NewClient(cl1).FetchOffsets(ctx, on2)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 4; p++ {
		if o, ok := offs.Lookup("placed", p); !ok || o.At != 20 {
			t.Fatalf("committed offset of placed/%d: %+v (found %v), want 20", p, o, ok)
		}
	}
	listed, err := kadm.NewClient(cl1).ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := listed[on2]; !ok || l.Coordinator != 2 {
		t.Fatalf("ListGroups over both brokers: %+v", listed)
	}
	m0.leave()
	m1.leave()
}

// TestGroupStaticMemberRestart restarts a static member (KIP-345): it comes
// back under its group.instance.id with its old partitions, and the group
// does not rebalance (the other member's generation and assignment stay).
func TestGroupStaticMemberRestart(t *testing.T) {
	tb := groupBroker(t)
	const topic, grp = "static", "g-static"
	createTopic(t, tb, topic, 6)
	static := func(id string) []kgo.Opt {
		return []kgo.Opt{kgo.InstanceID(id), kgo.SessionTimeout(6 * time.Second), kgo.Balancers(kgo.RangeBalancer())}
	}
	s0 := startMember(t, tb, "s0", grp, topic, static("instance-0")...)
	s1 := startMember(t, tb, "s1", grp, topic, static("instance-1")...)
	waitBalanced(t, []*member{s0, s1}, 6, 20*time.Second)
	_, gen := s0.cl.GroupMetadata()
	before0, before1 := s0.assignment(), s1.assignment()

	s1.leave() // a static member does not send LeaveGroup on close
	s1b := startMember(t, tb, "s1b", grp, topic, static("instance-1")...)
	waitBalanced(t, []*member{s0, s1b}, 6, 20*time.Second)
	if got := s1b.assignment(); !slices.Equal(got, before1) {
		t.Fatalf("restarted static member owns %v, owned %v before", got, before1)
	}
	if _, g := s0.cl.GroupMetadata(); g != gen || !slices.Equal(s0.assignment(), before0) {
		t.Fatalf("other member: generation %d -> %d, partitions %v -> %v; want no rebalance", gen, g, before0, s0.assignment())
	}
	produceN(t, tb, topic, 6, 60, "s")
	waitConsumed(t, []*member{s0, s1b}, 60)
	s0.leave()
	s1b.leave()
}
