package group

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
)

func tps(pairs ...any) []meta.TopicPartition {
	var out []meta.TopicPartition
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, meta.TopicPartition{Topic: pairs[i].(string), Partition: int32(pairs[i+1].(int))})
	}
	return out
}

func TestSimpleCommitFetchAndDelete(t *testing.T) {
	store := newStore(t)
	c := newCoordinator(t, store)
	ctx := testCtx(t)

	// Fetching a group that does not exist: -1 everywhere, nothing created.
	got, err := c.FetchOffsets(ctx, "kcat", tps("t", 0), false)
	if err != nil || len(got) != 1 || got[0].Offset != -1 || got[0].LeaderEpoch != -1 {
		t.Fatalf("fetch unknown group: %+v %v", got, err)
	}
	if d, _ := c.DescribeGroup(ctx, "kcat"); d.State != "Dead" {
		t.Fatalf("unknown group described as %s, want Dead", d.State)
	}
	wantErr(t, "commit with a generation to an unknown group",
		c.CommitOffsets(ctx, CommitRequest{Group: "kcat", Generation: 3, MemberID: "m", Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})[0], kerr.GroupIDNotFound)

	// A simple commit (generation -1, no member) creates the group.
	errs := c.CommitOffsets(ctx, CommitRequest{Group: "kcat", Generation: -1, Offsets: []CommitOffset{
		{Topic: "t", Partition: 0, Offset: 10, LeaderEpoch: 3, Metadata: "hello"},
		{Topic: "t", Partition: 1, Offset: 20, LeaderEpoch: -1},
		{Topic: "t", Partition: 2, Offset: 30, Metadata: strings.Repeat("x", 5000)},
	}})
	wantErr(t, "commit p0", errs[0], nil)
	wantErr(t, "commit p1", errs[1], nil)
	wantErr(t, "commit with metadata too large", errs[2], kerr.OffsetMetadataTooLarge)
	got, err = c.FetchOffsets(ctx, "kcat", tps("t", 0, "t", 1, "t", 2, "u", 0), true)
	if err != nil {
		t.Fatal(err)
	}
	want := []FetchedOffset{
		{Topic: "t", Partition: 0, Offset: 10, LeaderEpoch: 3, Metadata: "hello"},
		{Topic: "t", Partition: 1, Offset: 20, LeaderEpoch: -1},
		{Topic: "t", Partition: 2, Offset: -1, LeaderEpoch: -1},
		{Topic: "u", Partition: 0, Offset: -1, LeaderEpoch: -1},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fetch[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	all, _ := c.FetchOffsets(ctx, "kcat", nil, false)
	if len(all) != 2 || all[0].Partition != 0 || all[1].Partition != 1 {
		t.Fatalf("fetch all: %+v", all)
	}
	// It is in etcd: one transaction wrote both.
	d, err := store.LoadGroup(ctx, "kcat")
	if err != nil || len(d.Offsets) != 2 || d.Offsets[0].Revision != d.Offsets[1].Revision || d.State != nil {
		t.Fatalf("etcd holds %+v %v", d, err)
	}
	ls, err := c.ListGroups(ctx, nil, nil)
	if err != nil || len(ls) != 1 || ls[0].Group != "kcat" || ls[0].State != "Empty" || ls[0].ProtocolType != "" || ls[0].Type != "classic" {
		t.Fatalf("list: %+v %v", ls, err)
	}

	// OffsetDelete on an empty group deletes.
	derrs, err := c.DeleteOffsets(ctx, "kcat", tps("t", 1))
	if err != nil || derrs[0] != nil {
		t.Fatalf("delete offsets: %v %v", derrs, err)
	}
	got, _ = c.FetchOffsets(ctx, "kcat", tps("t", 1), false)
	if got[0].Offset != -1 {
		t.Fatalf("deleted offset still there: %+v", got)
	}
	_, err = c.DeleteOffsets(ctx, "nope", tps("t", 1))
	wantErr(t, "delete offsets of unknown group", err, kerr.GroupIDNotFound)

	// DeleteGroups removes the group and its offsets.
	wantErr(t, "delete group", c.DeleteGroup(ctx, "kcat"), nil)
	wantErr(t, "delete it again", c.DeleteGroup(ctx, "kcat"), kerr.GroupIDNotFound)
	if d, _ := store.LoadGroup(ctx, "kcat"); !d.Empty() {
		t.Fatalf("etcd still holds %+v", d)
	}
	got, _ = c.FetchOffsets(ctx, "kcat", tps("t", 0), false)
	if got[0].Offset != -1 {
		t.Fatalf("offset of deleted group: %+v", got)
	}
}

func TestOffsetDeleteKeepsSubscribedTopics(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	ctx := testCtx(t)
	ids, gen := stableGroup(t, c, "g", 1, 10*time.Second) // subscribes to "t"
	errs := c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: gen, MemberID: ids[0], Offsets: []CommitOffset{
		{Topic: "t", Partition: 0, Offset: 5}, {Topic: "old", Partition: 0, Offset: 7},
	}})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	derrs, err := c.DeleteOffsets(ctx, "g", tps("t", 0, "old", 0))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete subscribed", derrs[0], kerr.GroupSubscribedToTopic)
	wantErr(t, "delete unsubscribed", derrs[1], nil)
	got, _ := c.FetchOffsets(ctx, "g", nil, false)
	if len(got) != 1 || got[0].Topic != "t" || got[0].Offset != 5 {
		t.Fatalf("after delete: %+v", got)
	}
}

func TestGroupSurvivesCoordinatorRestart(t *testing.T) {
	store := newStore(t)
	c1 := New(testConfig(), store)
	ctx := testCtx(t)
	const session = 600 * time.Millisecond
	ids, gen := stableGroup(t, c1, "g", 2, session)
	errs := c1.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: gen, MemberID: ids[0], Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: 42, LeaderEpoch: 1, Metadata: "m"}}})
	wantErr(t, "commit", errs[0], nil)
	before, _ := c1.DescribeGroup(ctx, "g")
	c1.Close()

	c2 := newCoordinator(t, store)
	// Described from etcd: the same generation, members and assignments.
	after, err := c2.DescribeGroup(ctx, "g")
	if err != nil || after.State != "Stable" || len(after.Members) != 2 || after.Protocol != "range" {
		t.Fatalf("after restart: %+v %v", after, err)
	}
	for i := range before.Members {
		b, a := before.Members[i], after.Members[i]
		if b.MemberID != a.MemberID || string(b.Assignment) != string(a.Assignment) || string(b.Metadata) != string(a.Metadata) || b.ClientHost != a.ClientHost {
			t.Fatalf("member %d before %+v after %+v", i, b, a)
		}
	}
	got, _ := c2.FetchOffsets(ctx, "g", tps("t", 0), false)
	if got[0].Offset != 42 || got[0].LeaderEpoch != 1 || got[0].Metadata != "m" {
		t.Fatalf("offset after restart: %+v", got)
	}
	// Members resume with their ids and generation; only the one that keeps
	// heartbeating stays once the other's session runs out.
	wantErr(t, "heartbeat after restart", c2.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: ids[0]}), nil)
	eventually(t, "the silent member to expire", func() bool {
		return c2.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: ids[0]}) != nil
	})
	r := wait(t, joinAsync(ctx, c2, joinReq("g", ids[0], session, "t")))
	if r.Err != nil || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin after restart: %+v", r)
	}
	// An empty group persists as Empty with the next generation.
	if errs, err := c2.Leave(ctx, "g", []LeaveMember{{MemberID: ids[0]}}); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	eventually(t, "empty state in etcd", func() bool {
		d, _ := store.LoadGroup(ctx, "g")
		return d.State != nil && d.State.State == "Empty" && d.State.Generation == gen+2 && len(d.State.Members) == 0
	})
}

func TestOffsetRetention(t *testing.T) {
	store := newStore(t)
	const retention = 300 * time.Millisecond
	c := newCoordinator(t, store, func(cfg *Config) {
		cfg.OffsetsRetention = retention
		cfg.RetentionCheckInterval = 50 * time.Millisecond
	})
	ctx := testCtx(t)
	// A consumer group with a member keeps its offsets.
	ids, gen := stableGroup(t, c, "active", 1, 5*time.Second)
	wantErr(t, "commit", c.CommitOffsets(ctx, CommitRequest{Group: "active", Generation: gen, MemberID: ids[0], Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})[0], nil)
	// A simple-commit group expires per offset.
	wantErr(t, "simple commit", c.CommitOffsets(ctx, CommitRequest{Group: "simple", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})[0], nil)
	// A consumer group that became empty expires a retention period later.
	ids2, gen2 := stableGroup(t, c, "left", 1, 5*time.Second)
	wantErr(t, "commit", c.CommitOffsets(ctx, CommitRequest{Group: "left", Generation: gen2, MemberID: ids2[0], Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})[0], nil)
	if _, err := c.Leave(ctx, "left", []LeaveMember{{MemberID: ids2[0]}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "simple and empty groups to be removed", func() bool {
		a, _ := store.LoadGroup(ctx, "simple")
		b, _ := store.LoadGroup(ctx, "left")
		return a.Empty() && b.Empty()
	})
	if el := time.Since(start); el < retention-100*time.Millisecond {
		t.Fatalf("offsets expired after %v, retention %v", el, retention)
	}
	ls, _ := c.ListGroups(ctx, nil, nil)
	if len(ls) != 1 || ls[0].Group != "active" {
		t.Fatalf("groups left: %+v", ls)
	}
	// Keep the active member alive past the retention: its offsets stay.
	for i := 0; i < 8; i++ {
		wantErr(t, "heartbeat", c.Heartbeat(ctx, HeartbeatRequest{Group: "active", Generation: gen, MemberID: ids[0]}), nil)
		time.Sleep(60 * time.Millisecond)
	}
	got, _ := c.FetchOffsets(ctx, "active", tps("t", 0), false)
	if got[0].Offset != 1 {
		t.Fatalf("active group lost its offset: %+v", got)
	}
	// Explicit retention (OffsetCommit v2-v4) applies once the group is empty.
	wantErr(t, "commit with retention", c.CommitOffsets(ctx, CommitRequest{Group: "explicit", Generation: -1, Retention: time.Hour, Offsets: []CommitOffset{{Topic: "t", Offset: 9}}})[0], nil)
	time.Sleep(retention + 200*time.Millisecond)
	got, _ = c.FetchOffsets(ctx, "explicit", tps("t", 0), false)
	if got[0].Offset != 9 {
		t.Fatalf("offset with an hour of explicit retention expired: %+v", got)
	}
}

func TestGroupPlacementAndFencing(t *testing.T) {
	store := newStore(t)
	var live1, live2 atomic.Pointer[[]int32]
	both := []int32{1, 2}
	live1.Store(&both)
	live2.Store(&both)
	liveOf := func(p *atomic.Pointer[[]int32]) func() []int32 { return func() []int32 { return *p.Load() } }
	c1 := newCoordinator(t, store, func(cfg *Config) {
		cfg.BrokerID = 1
		cfg.Brokers = liveOf(&live1)
		cfg.OwnershipCheckInterval = time.Hour
	})
	c2 := newCoordinator(t, store, func(cfg *Config) {
		cfg.BrokerID = 2
		cfg.Brokers = liveOf(&live2)
		cfg.OwnershipCheckInterval = time.Hour
	})
	only2 := []int32{2}
	ctx := testCtx(t)

	// Both agree on the coordinator of every group, and both own some.
	owned := map[int32]int{}
	var g1 string // a group broker 1 coordinates
	for i := 0; i < 50; i++ {
		name := "group-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		a, b := c1.CoordinatorFor(name), c2.CoordinatorFor(name)
		if a != b {
			t.Fatalf("%s: coordinators disagree: %d vs %d", name, a, b)
		}
		owned[a]++
		if a == 1 && g1 == "" {
			g1 = name
		}
	}
	if owned[1] == 0 || owned[2] == 0 {
		t.Fatalf("placement %v: both brokers should coordinate some groups", owned)
	}
	// The other broker refuses.
	wantErr(t, "commit at the wrong broker", c2.CommitOffsets(ctx, CommitRequest{Group: g1, Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})[0], kerr.NotCoordinator)
	_, err := c2.FetchOffsets(ctx, g1, tps("t", 0), false)
	wantErr(t, "fetch at the wrong broker", err, kerr.NotCoordinator)
	wantErr(t, "commit at the coordinator", c1.CommitOffsets(ctx, CommitRequest{Group: g1, Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})[0], nil)

	// Broker 1 leaves the cluster (in broker 2's view): broker 2 takes the
	// group over, loads it from etcd and writes its state. Broker 1, which
	// has not noticed yet, is fenced on its next write.
	live2.Store(&only2)
	ids, gen := stableGroup(t, c2, g1, 1, 5*time.Second)
	got, _ := c2.FetchOffsets(ctx, g1, tps("t", 0), false)
	if got[0].Offset != 1 {
		t.Fatalf("new coordinator sees %+v, want the old commit", got)
	}
	wantErr(t, "commit by the stale coordinator", c1.CommitOffsets(ctx, CommitRequest{Group: g1, Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 99}}})[0], kerr.NotCoordinator)
	wantErr(t, "commit by the new coordinator", c2.CommitOffsets(ctx, CommitRequest{Group: g1, Generation: gen, MemberID: ids[0], Offsets: []CommitOffset{{Topic: "t", Offset: 2}}})[0], nil)
	d, _ := store.LoadGroup(ctx, g1)
	if len(d.Offsets) != 1 || d.Offsets[0].Offset != 2 {
		t.Fatalf("etcd holds %+v", d.Offsets)
	}
	// Once broker 1 sees the new broker list it drops the group.
	live1.Store(&only2)
	c1.dropUnowned()
	c1.mu.Lock()
	_, still := c1.groups[g1]
	c1.mu.Unlock()
	if still {
		t.Fatal("broker 1 still holds a group it no longer coordinates")
	}
}

// TestCommitManyOffsets: one OffsetCommit of 5,000 partitions is more than
// one etcd transaction holds (128 operations by default); it is committed
// whole, survives a coordinator change, and is deleted whole.
func TestCommitManyOffsets(t *testing.T) {
	store := newStore(t)
	c1 := New(testConfig(), store)
	ctx := testCtx(t)
	const n = 5_000
	req := CommitRequest{Group: "wide", Generation: -1}
	var parts []meta.TopicPartition
	for p := range int32(n) {
		req.Offsets = append(req.Offsets, CommitOffset{Topic: "t", Partition: p, Offset: int64(p) + 1, LeaderEpoch: -1})
		parts = append(parts, meta.TopicPartition{Topic: "t", Partition: p})
	}
	for i, err := range c1.CommitOffsets(ctx, req) {
		wantErr(t, fmt.Sprintf("commit of partition %d", i), err, nil)
	}
	c1.Close()

	c2 := newCoordinator(t, store)
	check := func(what string, want func(p int32) int64) {
		t.Helper()
		got, err := c2.FetchOffsets(ctx, "wide", parts, false)
		if err != nil || len(got) != n {
			t.Fatalf("%s: %d offsets, %v", what, len(got), err)
		}
		for i, o := range got {
			if o.Offset != want(int32(i)) {
				t.Fatalf("%s: partition %d at %d, want %d", what, i, o.Offset, want(int32(i)))
			}
		}
	}
	check("after a coordinator change", func(p int32) int64 { return int64(p) + 1 })
	errs, err := c2.DeleteOffsets(ctx, "wide", parts)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("delete of partition %d", i), err, nil)
	}
	check("after delete", func(int32) int64 { return -1 })
	if d, err := store.LoadGroup(ctx, "wide"); err != nil || len(d.Offsets) != 0 {
		t.Fatalf("etcd after delete: %d offsets, %v", len(d.Offsets), err)
	}
}

// TestCommitAfterTheGroupEmptied follows Kafka's ClassicGroup
// validateOffsetCommit: generation -1 on an Empty group is a simple
// commit whatever member id it carries (a consumer that left, or an
// admin tool that sends the last member id it knew), while a generation
// of a group that moved on is refused.
func TestCommitAfterTheGroupEmptied(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	ctx := testCtx(t)
	ids, gen := stableGroup(t, c, "g", 1, 10*time.Second)
	member := ids[0]
	offs := []CommitOffset{{Topic: "t", Offset: 7, LeaderEpoch: -1}}
	wantErr(t, "member commit", c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: gen, MemberID: member, Offsets: offs})[0], nil)
	wantErr(t, "generation -1 while the member is in", c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: -1, MemberID: member, Offsets: offs})[0], kerr.IllegalGeneration)
	if lerrs, err := c.Leave(ctx, "g", []LeaveMember{{MemberID: member}}); err != nil || lerrs[0] != nil {
		t.Fatalf("leave: %v %v", lerrs, err)
	}
	eventually(t, "group empty", func() bool {
		d, _ := c.DescribeGroup(ctx, "g")
		return d.State == "Empty"
	})
	for _, tc := range []struct {
		name       string
		generation int32
		member     string
		want       *kerr.Error
	}{
		{name: "generation -1, no member", generation: -1, want: nil},
		{name: "generation -1 with the old member id", generation: -1, member: member, want: nil},
		{name: "the old generation and member", generation: gen, member: member, want: kerr.UnknownMemberID},
	} {
		offs[0].Offset++
		wantErr(t, tc.name, c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: tc.generation, MemberID: tc.member, Offsets: offs})[0], tc.want)
	}
	got, err := c.FetchOffsets(ctx, "g", tps("t", 0), false)
	if err != nil || got[0].Offset != 9 {
		t.Fatalf("fetch after the commits: %+v %v, want offset 9", got, err)
	}
}
