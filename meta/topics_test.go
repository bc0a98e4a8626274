package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestCreateTopicValidation(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "exists", Partitions: 1, ReplicationFactor: 1}, states("exists", 0, 1)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		topic   Topic
		parts   []PartitionState
		wantErr error
	}{
		{"ok", Topic{Name: "ok", Partitions: 2, ReplicationFactor: 1}, states("ok", 0, 2), nil},
		{"topic field filled in", Topic{Name: "fill", Partitions: 1}, []PartitionState{{Partition: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}, nil},
		{"exists", Topic{Name: "exists", Partitions: 1}, states("exists", 0, 1), ErrTopicExists},
		{"slash in name", Topic{Name: "a/b", Partitions: 1}, states("a/b", 0, 1), ErrInvalid},
		{"empty name", Topic{Name: "", Partitions: 1}, states("", 0, 1), ErrInvalid},
		{"dotdot", Topic{Name: "..", Partitions: 1}, states("..", 0, 1), ErrInvalid},
		{"zero partitions", Topic{Name: "zero", Partitions: 0}, nil, ErrInvalid},
		{"too few states", Topic{Name: "few", Partitions: 3}, states("few", 0, 2), ErrInvalid},
		{"repeated partition", Topic{Name: "rep", Partitions: 2}, append(states("rep", 0, 1), states("rep", 0, 1)...), ErrInvalid},
		{"out of range partition", Topic{Name: "oor", Partitions: 1}, states("oor", 1, 2), ErrInvalid},
		{"state of other topic", Topic{Name: "mine", Partitions: 1}, states("theirs", 0, 1), ErrInvalid},
		{"negative epoch", Topic{Name: "neg", Partitions: 1}, []PartitionState{{Topic: "neg", LeaderEpoch: -1}}, ErrInvalid},
		// 1 + 2×63 keys fit one transaction of etcd's default 128
		// operations; more partitions are written in steps (pending.go).
		{"63 partitions", Topic{Name: "fits", Partitions: 63}, states("fits", 0, 63), nil},
		{"64 partitions", Topic{Name: "steps", Partitions: 64}, states("steps", 0, 64), nil},
		{"2048 partitions", Topic{Name: "huge", Partitions: 2048}, states("huge", 0, 2048), nil},
		// A plan that would not fit one etcd request is refused before
		// anything is written.
		{"plan too large", Topic{Name: "toolarge", Partitions: 40_000}, states("toolarge", 0, 40_000, 1_000_000_001, 1_000_000_002, 1_000_000_003), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.CreateTopic(ctx, tt.topic, tt.parts)
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateTopic: got %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				t.Logf("%v", err)
			}
			if tt.wantErr != nil && !errors.Is(tt.wantErr, ErrTopicExists) {
				// nothing written
				resp, err := testCli.Get(ctx, c.Keys().Topic(tt.topic.Name))
				if err != nil || len(resp.Kvs) != 0 {
					t.Fatalf("rejected topic left a key: %v %v", resp, err)
				}
			}
		})
	}
}

func TestTopicLifecycle(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)

	id := NewTopicID()
	topics := []Topic{
		{Name: "orders", ID: id, Partitions: 12, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "86400000"}},
		{Name: "audit.log", Partitions: 1, ReplicationFactor: 1},
		{Name: "Zeta_1", Partitions: 2, ReplicationFactor: 1},
	}
	for _, tp := range topics {
		if err := c.CreateTopic(ctx, tp, states(tp.Name, 0, tp.Partitions, 1, 2, 3)); err != nil {
			t.Fatalf("create %s: %v", tp.Name, err)
		}
	}

	got, err := c.Topic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id || got.Partitions != 12 || got.ReplicationFactor != 3 || got.Configs["retention.ms"] != "86400000" || got.Revision == 0 {
		t.Fatalf("Topic(orders) = %+v", got)
	}
	// The stored JSON carries the id in Kafka's base64 form.
	resp, err := testCli.Get(ctx, c.Keys().Topic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["id"] != encodeID(id) || len(encodeID(id)) != 22 {
		t.Fatalf("stored id %v, want %s", raw["id"], encodeID(id))
	}

	// A zero id was replaced.
	if al, err := c.Topic(ctx, "audit.log"); err != nil || al.ID == ([16]byte{}) {
		t.Fatalf("Topic(audit.log) = %+v, %v", al, err)
	}

	list, err := c.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range list {
		names = append(names, tp.Name)
	}
	if fmt.Sprint(names) != "[Zeta_1 audit.log orders]" {
		t.Fatalf("Topics() names = %v", names)
	}

	ps, err := c.PartitionStates(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 12 {
		t.Fatalf("%d partition states, want 12", len(ps))
	}
	for i, p := range ps {
		if p.Partition != int32(i) || p.Topic != "orders" || p.Leader != 1 || len(p.ISR) != 3 || p.Revision == 0 {
			t.Fatalf("state %d = %+v", i, p)
		}
	}

	for _, name := range []string{"missing", "bad/name"} {
		if _, err := c.Topic(ctx, name); !errors.Is(err, ErrTopicNotFound) {
			t.Fatalf("Topic(%s): %v, want ErrTopicNotFound", name, err)
		}
		if _, err := c.PartitionStates(ctx, name); !errors.Is(err, ErrTopicNotFound) {
			t.Fatalf("PartitionStates(%s): %v, want ErrTopicNotFound", name, err)
		}
		if err := c.DeleteTopic(ctx, name); !errors.Is(err, ErrTopicNotFound) {
			t.Fatalf("DeleteTopic(%s): %v, want ErrTopicNotFound", name, err)
		}
	}

	// A tier manifest entry goes with the topic.
	if err := c.FencedTxn(ctx, "orders", 0, 0, clientv3.OpPut(c.Keys().TierSegment("orders", 0, 0), "{}")); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Topic(ctx, "orders"); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := c.DeleteTopic(ctx, "orders"); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	for _, prefix := range []string{c.Keys().Partitions("orders"), c.Keys().Epochs("orders"), c.Keys().TierTopic("orders")} {
		resp, err := testCli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 0 {
			t.Fatalf("%s: %d keys left (%v)", prefix, resp.Count, err)
		}
	}
	// Other topics untouched, and the name can be reused.
	if list, _ := c.Topics(ctx); len(list) != 2 {
		t.Fatalf("%d topics left, want 2", len(list))
	}
	if err := c.CreateTopic(ctx, Topic{Name: "orders", Partitions: 1}, states("orders", 0, 1)); err != nil {
		t.Fatalf("recreate: %v", err)
	}
}

func TestUpdateTopicConcurrent(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "t", Partitions: 1, ReplicationFactor: 1}, states("t", 0, 1)); err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for range each {
				_, err := c.UpdateTopic(ctx, "t", func(tp *Topic) error {
					if tp.Configs == nil {
						tp.Configs = map[string]string{}
					}
					n, _ := strconv.Atoi(tp.Configs["counter"])
					tp.Configs["counter"] = strconv.Itoa(n + 1)
					k := fmt.Sprintf("w%d", w)
					m, _ := strconv.Atoi(tp.Configs[k])
					tp.Configs[k] = strconv.Itoa(m + 1)
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UpdateTopic: %v", err)
	}
	got, err := c.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if got.Configs["counter"] != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s, want %d (lost updates)", got.Configs["counter"], workers*each)
	}
	for w := range workers {
		if v := got.Configs[fmt.Sprintf("w%d", w)]; v != strconv.Itoa(each) {
			t.Fatalf("w%d = %s, want %d", w, v, each)
		}
	}
}

func TestUpdateTopic(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "t", Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"a": "1"}}, states("t", 0, 2)); err != nil {
		t.Fatal(err)
	}
	errMine := errors.New("mine")
	tests := []struct {
		name    string
		topic   string
		fn      func(*Topic) error
		wantErr error
		check   func(Topic) bool
	}{
		{"set config", "t", func(tp *Topic) error { tp.Configs["b"] = "2"; return nil }, nil,
			func(tp Topic) bool { return tp.Configs["a"] == "1" && tp.Configs["b"] == "2" }},
		{"delete config", "t", func(tp *Topic) error { delete(tp.Configs, "a"); return nil }, nil,
			func(tp Topic) bool { _, ok := tp.Configs["a"]; return !ok && tp.Configs["b"] == "2" }},
		{"fn error as is", "t", func(*Topic) error { return errMine }, errMine, nil},
		{"partition count is not ours", "t", func(tp *Topic) error { tp.Partitions = 5; return nil }, ErrInvalid, nil},
		{"not found", "nope", func(*Topic) error { return nil }, ErrTopicNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.UpdateTopic(ctx, tt.topic, tt.fn)
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("UpdateTopic: %v, want %v", err, tt.wantErr)
			}
			if tt.check == nil {
				return
			}
			reread, err := c.Topic(ctx, tt.topic)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) || !tt.check(reread) || got.Revision != reread.Revision {
				t.Fatalf("returned %+v, stored %+v", got, reread)
			}
		})
	}
}

func TestAddPartitions(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "t", Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"x": "y"}}, states("t", 0, 3)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		topic    string
		newCount int32
		parts    []PartitionState
		wantErr  error
	}{
		{"not more", "t", 3, nil, ErrInvalid},
		{"fewer", "t", 2, nil, ErrInvalid},
		{"parts start at 0", "t", 5, states("t", 0, 2), ErrInvalid},
		{"parts missing one", "t", 5, states("t", 3, 4), ErrInvalid},
		{"not found", "nope", 5, states("nope", 1, 5), ErrTopicNotFound},
		{"3 to 11", "t", 11, states("t", 3, 11, 2), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.AddPartitions(ctx, tt.topic, tt.newCount, tt.parts)
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("AddPartitions: %v, want %v", err, tt.wantErr)
			}
		})
	}
	tp, err := c.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if tp.Partitions != 11 || tp.Configs["x"] != "y" {
		t.Fatalf("topic after add = %+v", tp)
	}
	ps, err := c.PartitionStates(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 11 {
		t.Fatalf("%d states, want 11", len(ps))
	}
	for i, p := range ps {
		wantLeader := int32(1)
		if i >= 3 {
			wantLeader = 2
		}
		if p.Partition != int32(i) || p.Leader != wantLeader {
			t.Fatalf("state %d = %+v", i, p)
		}
	}
	// New partitions are fenceable at their epoch.
	if err := c.FencedTxn(ctx, "t", 10, 0); err != nil {
		t.Fatalf("fenced write to new partition: %v", err)
	}
}
