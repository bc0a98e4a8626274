package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The test etcd runs with etcd's default limits (128 operations per
// transaction, 1.5 MiB per request), as a stock etcd does.

// TestLargeTopic: a topic of 10,000 partitions is created, read, grown and
// written partition by partition.
func TestLargeTopic(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtxFor(t, 3*time.Minute)
	const n = 10_000
	if err := c.CreateTopic(ctx, Topic{Name: "big", Partitions: n, ReplicationFactor: 3}, states("big", 0, n, 1, 2, 3)); err != nil {
		t.Fatalf("create %d partitions: %v", n, err)
	}
	checkTopic(t, c, "big", n)
	if err := c.AddPartitions(ctx, "big", n+5_000, states("big", n, n+5_000, 2, 3, 1)); err != nil {
		t.Fatalf("add 5,000 partitions: %v", err)
	}
	ps := checkTopic(t, c, "big", n+5_000)
	if ps[n].Leader != 2 || ps[n-1].Leader != 1 {
		t.Fatalf("leaders %d, %d around the old end, want 1, 2", ps[n-1].Leader, ps[n].Leader)
	}
	// An ISR change stays one small fenced write of one partition.
	next := ps[n+4_999]
	next.ISR = []int32{2, 3}
	if err := c.UpdatePartitionState(ctx, next, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.FencedTxn(ctx, "big", n+4_999, 0); err != nil {
		t.Fatalf("fenced write to the last partition: %v", err)
	}
}

// checkTopic asserts the topic is there with n partitions 0..n-1 and
// returns their states.
func checkTopic(t *testing.T, c *Client, name string, n int32) []PartitionState {
	t.Helper()
	ctx := testCtxFor(t, time.Minute)
	tp, err := c.Topic(ctx, name)
	if err != nil || tp.Partitions != n {
		t.Fatalf("topic %s = %+v, %v; want %d partitions", name, tp, err, n)
	}
	ps, err := c.PartitionStates(ctx, name)
	if err != nil || len(ps) != int(n) {
		t.Fatalf("%d partition states of %s (%v), want %d", len(ps), name, err, n)
	}
	for i, p := range ps {
		if p.Partition != int32(i) || p.Topic != name || len(p.Replicas) == 0 || p.Leader != p.Replicas[0] {
			t.Fatalf("state %d = %+v", i, p)
		}
	}
	return ps
}

// TestManyOffsets: one commit, one delete and one expiry of 5,000 offsets.
func TestManyOffsets(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtxFor(t, 2*time.Minute)
	const n = 5_000
	offs := make([]GroupOffset, n)
	for i := range offs {
		offs[i] = GroupOffset{Topic: fmt.Sprintf("t%d", i%3), Partition: int32(i), Offset: int64(i), LeaderEpoch: -1, CommitTimeMs: 1}
	}
	revs, err := c.CommitGroupOffsets(ctx, "g", 0, offs)
	if err != nil || len(revs) != n {
		t.Fatalf("commit %d offsets: %d written, %v", n, len(revs), err)
	}
	d, err := c.LoadGroup(ctx, "g")
	if err != nil || len(d.Offsets) != n {
		t.Fatalf("%d offsets loaded (%v), want %d", len(d.Offsets), err, n)
	}
	// The revisions returned are the keys' mod revisions (what expiry
	// compares).
	byPart := map[int32]int64{}
	for i, o := range offs {
		byPart[o.Partition] = revs[i]
	}
	for _, o := range d.Offsets {
		if o.Revision != byPart[o.Partition] {
			t.Fatalf("%s-%d: mod revision %d, commit returned %d", o.Topic, o.Partition, o.Revision, byPart[o.Partition])
		}
	}
	var del []TopicPartition
	for _, o := range d.Offsets[:n/2] {
		del = append(del, TopicPartition{Topic: o.Topic, Partition: o.Partition})
	}
	if k, err := c.DeleteGroupOffsets(ctx, "g", 0, del); err != nil || k != len(del) {
		t.Fatalf("delete %d offsets: %d deleted, %v", len(del), k, err)
	}
	if k, err := c.ExpireGroupOffsets(ctx, "g", 0, d.Offsets[n/2:]); err != nil || k != n-n/2 {
		t.Fatalf("expire %d offsets: %d expired, %v", n-n/2, k, err)
	}
	if d, err := c.LoadGroup(ctx, "g"); err != nil || !d.Empty() {
		t.Fatalf("after delete and expiry: %d offsets, %v", len(d.Offsets), err)
	}
}

var errCrash = errors.New("simulated crash")

// crashAt makes c's next write in steps stop after step stop, as if its
// process died there.
func crashAt(c *Client, stop int) {
	c.stepHook = func(step int) error {
		if step == stop {
			return errCrash
		}
		return nil
	}
}

// TestCreateTopicCrashHalfway: a creation in steps cut short leaves no
// visible topic, and whoever comes next completes it exactly as planned.
func TestCreateTopicCrashHalfway(t *testing.T) {
	t.Parallel()
	const n = 1_000 // 16 transactions of partitions
	tests := []struct {
		name   string
		stop   int // 0: after the plan, k: after k transactions of partitions
		repair func(ctx context.Context, c *Client, name string) error
	}{
		{"retry after the plan", 0, retryCreate},
		{"retry half-way", 8, retryCreate},
		{"controller after the plan", 0, controllerCompletes},
		{"controller half-way", 8, controllerCompletes},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t)
			ctx := testCtx(t)
			name := fmt.Sprintf("crash%d", i)
			events := c.WatchTopics(ctx)
			id := NewTopicID()
			crashAt(c, tt.stop)
			err := c.CreateTopic(ctx, Topic{Name: name, ID: id, Partitions: n, ReplicationFactor: 3}, states(name, 0, n, 1, 2, 3))
			if !errors.Is(err, errCrash) {
				t.Fatalf("create: %v, want the simulated crash", err)
			}
			c.stepHook = nil

			// Nothing of the topic is visible.
			if _, err := c.Topic(ctx, name); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("Topic after crash: %v, want ErrTopicNotFound", err)
			}
			if _, err := c.PartitionStates(ctx, name); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("PartitionStates after crash: %v, want ErrTopicNotFound", err)
			}
			if list, err := c.Topics(ctx); err != nil || len(list) != 0 {
				t.Fatalf("Topics after crash: %v, %v", list, err)
			}
			if _, err := c.UpdateTopic(ctx, name, func(*Topic) error { return nil }); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("UpdateTopic after crash: %v, want ErrTopicNotFound", err)
			}
			// The plan stays small: a replica list per partition.
			if resp, err := testCli.Get(ctx, c.Keys().Topic(name)); err != nil || len(resp.Kvs[0].Value) > 10*n {
				t.Fatalf("plan of %d partitions: %v bytes (%v)", n, len(resp.Kvs[0].Value), err)
			}

			if err := tt.repair(ctx, c, name); err != nil {
				t.Fatal(err)
			}
			ps := checkTopic(t, c, name, n)
			if tp, _ := c.Topic(ctx, name); tp.ID != id || tp.ReplicationFactor != 3 {
				t.Fatalf("completed topic %+v, want the planned id and replication factor", tp)
			}
			for _, p := range ps {
				if len(p.Replicas) != 3 || p.LeaderEpoch != 0 || len(p.ISR) != 3 {
					t.Fatalf("completed partition %+v, want the planned state", p)
				}
			}
			// The watch shows the topic once, live and whole.
			select {
			case ev := <-events:
				if ev.Deleted || ev.Topic.Name != name || ev.Topic.Partitions != n {
					t.Fatalf("first topic event %+v, want %s live with %d partitions", ev, name, n)
				}
			case <-ctx.Done():
				t.Fatal("no topic event")
			}
		})
	}
}

// retryCreate is the user retrying: told the topic exists, and it does.
func retryCreate(ctx context.Context, c *Client, name string) error {
	err := c.CreateTopic(ctx, Topic{Name: name, Partitions: 5, ReplicationFactor: 1}, states(name, 0, 5))
	if !errors.Is(err, ErrTopicExists) {
		return fmt.Errorf("retried create: %v, want ErrTopicExists", err)
	}
	return nil
}

// controllerCompletes is the controller's pass over pending writes.
func controllerCompletes(ctx context.Context, c *Client, name string) error {
	// A recent write is left to its creator.
	if done, err := c.CompletePendingTopics(ctx, time.Hour); err != nil || len(done) != 0 {
		return fmt.Errorf("CompletePendingTopics within the grace: %v, %v; want nothing done", done, err)
	}
	done, err := c.CompletePendingTopics(ctx, 0)
	if err != nil || len(done) != 1 || done[0] != name {
		return fmt.Errorf("CompletePendingTopics: %v, %v; want [%s]", done, err, name)
	}
	return nil
}

// TestDeleteTopicBeingCreated: deleting a topic cut short in creation
// removes every key, and the name can be used again.
func TestDeleteTopicBeingCreated(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	crashAt(c, 2)
	if err := c.CreateTopic(ctx, Topic{Name: "t", Partitions: 500}, states("t", 0, 500)); !errors.Is(err, errCrash) {
		t.Fatalf("create: %v", err)
	}
	c.stepHook = nil
	if err := c.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{c.Keys().Topic("t"), c.Keys().Partitions("t"), c.Keys().Epochs("t")} {
		resp, err := testCli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 0 {
			t.Fatalf("%s: %d keys left (%v)", prefix, resp.Count, err)
		}
	}
	if err := c.CreateTopic(ctx, Topic{Name: "t", Partitions: 100}, states("t", 0, 100, 2)); err != nil {
		t.Fatal(err)
	}
	if ps := checkTopic(t, c, "t", 100); ps[0].Leader != 2 {
		t.Fatalf("re-created topic has the old plan: %+v", ps[0])
	}
}

// TestAddPartitionsCrashHalfway: the topic stays usable with its old
// partitions; the next AddPartitions completes the cut-short one first.
func TestAddPartitionsCrashHalfway(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "t", Partitions: 10, Configs: map[string]string{"a": "1"}}, states("t", 0, 10)); err != nil {
		t.Fatal(err)
	}
	crashAt(c, 3)
	if err := c.AddPartitions(ctx, "t", 1_000, states("t", 10, 1_000, 2)); !errors.Is(err, errCrash) {
		t.Fatalf("add: %v", err)
	}
	c.stepHook = nil
	checkTopic(t, c, "t", 10)
	// A config change meanwhile keeps the plan.
	if _, err := c.UpdateTopic(ctx, "t", func(tp *Topic) error { tp.Configs["a"] = "2"; return nil }); err != nil {
		t.Fatal(err)
	}
	// The retried request completes the first one, then finds nothing to do.
	if err := c.AddPartitions(ctx, "t", 1_000, states("t", 10, 1_000, 3)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("retried add: %v, want ErrInvalid (already has 1000)", err)
	}
	ps := checkTopic(t, c, "t", 1_000)
	if ps[999].Leader != 2 {
		t.Fatalf("partition 999 = %+v, want the first plan (leader 2)", ps[999])
	}
	if tp, _ := c.Topic(ctx, "t"); tp.Configs["a"] != "2" {
		t.Fatalf("configs %v after completion, want a=2", tp.Configs)
	}
}

// TestTopicPlanJSON: a plan keeps every planned state through the record's
// JSON, initial states as bare replica lists; a plan that does not match
// the counts is refused.
func TestTopicPlanJSON(t *testing.T) {
	parts := states("p", 5, 8, 2, 3)
	parts[1].LeaderEpoch, parts[1].ISR = 4, []int32{3}
	tp := Topic{Name: "p", ID: NewTopicID(), Partitions: 5, ReplicationFactor: 2, pending: &pendingPartitions{Count: 8, SinceMs: 9, States: parts}}
	b, err := json.Marshal(tp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"states":[[2,3],{`) {
		t.Fatalf("plan not compact: %s", b)
	}
	var back Topic
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.pending, tp.pending) || back.Partitions != 5 {
		t.Fatalf("plan after a round trip\n%+v\nwant\n%+v", back.pending, tp.pending)
	}
	for _, bad := range []string{
		`{"name":"p","id":"` + encodeID(tp.ID) + `","partitions":5,"pending":{"partitions":8,"states":[[1],[1]]}}`,
		`{"name":"p","id":"` + encodeID(tp.ID) + `","partitions":5,"pending":{"partitions":5,"states":[]}}`,
		`{"name":"p","id":"` + encodeID(tp.ID) + `","partitions":0,"pending":{"partitions":1,"states":[[]]}}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("decoded %s", bad)
		}
	}
}

// TestTierWriteBound: one manifest write replaces up to
// MaxTierSegmentsPerWrite entries, with a new entry at a fresh key (the
// costliest shape: a comparison per entry, the epoch's and the fresh key's),
// within etcd's default limits; more are refused before etcd is asked.
func TestTierWriteBound(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtxFor(t, time.Minute)
	if err := c.CreateTopic(ctx, Topic{Name: "tt", Partitions: 1}, states("tt", 0, 1)); err != nil {
		t.Fatal(err)
	}
	const n = MaxTierSegmentsPerWrite + 1
	for i := range int64(n) {
		if _, err := c.AddTierSegment(ctx, tierSeg("tt", 0, 10+i*10, 19+i*10), 0); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := c.TierSegments(ctx, "tt", 0)
	if err != nil || len(segs) != n {
		t.Fatalf("%d entries, %v", len(segs), err)
	}
	if _, err := c.ReplaceTierSegments(ctx, "tt", 0, 0, segs, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("removing %d entries at once: %v, want ErrInvalid", n, err)
	}
	// Merged into an object that starts one offset earlier, at a fresh key.
	merged := tierSeg("tt", 0, 9, segs[n-2].LastOffset)
	if _, err := c.ReplaceTierSegments(ctx, "tt", 0, 0, segs[:n-1], &merged); err != nil {
		t.Fatalf("merging %d entries: %v", n-1, err)
	}
	if segs, err := c.TierSegments(ctx, "tt", 0); err != nil || len(segs) != 2 || segs[0].BaseOffset != 9 {
		t.Fatalf("after the merge: %+v, %v", segs, err)
	}
}
