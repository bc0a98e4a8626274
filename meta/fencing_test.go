package meta

import (
	"errors"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestFencedTxn(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	parts := states("t", 0, 2)
	parts[1].LeaderEpoch = 7
	if err := c.CreateTopic(ctx, Topic{Name: "t", Partitions: 2, ReplicationFactor: 1}, parts); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		topic     string
		partition int32
		epoch     int32
		wantErr   []error
	}{
		{"current epoch 0", "t", 0, 0, nil},
		{"current epoch 7", "t", 1, 7, nil},
		{"stale epoch", "t", 1, 6, []error{ErrFenced}},
		{"future epoch", "t", 0, 1, []error{ErrFenced}},
		{"no such partition", "t", 2, 0, []error{ErrFenced, ErrTopicNotFound}},
		{"no such topic", "nope", 0, 0, []error{ErrFenced, ErrTopicNotFound}},
		{"negative partition", "t", -1, 0, []error{ErrInvalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := c.Keys().Root() + "test/" + tt.name
			err := c.FencedTxn(ctx, tt.topic, tt.partition, tt.epoch, clientv3.OpPut(key, "v"))
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Fatalf("FencedTxn: %v, want %v", err, want)
				}
			}
			resp, gerr := testCli.Get(ctx, key)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if applied := len(resp.Kvs) == 1; applied != (tt.wantErr == nil) {
				t.Fatalf("err %v but op applied = %v", err, applied)
			}
			if tt.wantErr == nil && err != nil {
				t.Fatalf("FencedTxn: %v", err)
			}
		})
	}
}

func TestUpdatePartitionState(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "t", Partitions: 1, ReplicationFactor: 3}, states("t", 0, 1, 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	read := func() PartitionState {
		t.Helper()
		ps, err := c.PartitionStates(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		return ps[0]
	}

	// The controller moves leadership to 2: epoch 0 -> 1.
	ps := read()
	ps.Leader, ps.LeaderEpoch, ps.ISR = 2, 1, []int32{2, 3}
	if err := c.UpdatePartitionState(ctx, ps, 0); err != nil {
		t.Fatalf("epoch bump: %v", err)
	}
	// The old leader, still at epoch 0, is fenced everywhere.
	old := ps
	old.Revision = 0
	old.Leader, old.LeaderEpoch, old.ISR = 1, 0, []int32{1}
	if err := c.UpdatePartitionState(ctx, old, 0); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale update: %v, want ErrFenced", err)
	}
	if err := c.FencedTxn(ctx, "t", 0, 0); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale FencedTxn: %v, want ErrFenced", err)
	}
	if err := c.FencedTxn(ctx, "t", 0, 1); err != nil {
		t.Fatalf("current FencedTxn: %v", err)
	}
	if got := read(); got.Leader != 2 || got.LeaderEpoch != 1 || len(got.ISR) != 2 {
		t.Fatalf("state = %+v", got)
	}

	// Two ISR updates from the same read: the second loses the CAS.
	base := read()
	a, b := base, base
	a.ISR = []int32{2, 3, 1}
	b.ISR = []int32{2}
	if err := c.UpdatePartitionState(ctx, a, 1); err != nil {
		t.Fatalf("ISR expand: %v", err)
	}
	if err := c.UpdatePartitionState(ctx, b, 1); !errors.Is(err, ErrConflict) || errors.Is(err, ErrFenced) {
		t.Fatalf("racing ISR shrink: %v, want ErrConflict", err)
	}
	if got := read(); len(got.ISR) != 3 {
		t.Fatalf("ISR = %v, want [2 3 1]", got.ISR)
	}
	// Without a revision, last writer at the current epoch wins.
	b.Revision = 0
	if err := c.UpdatePartitionState(ctx, b, 1); err != nil {
		t.Fatalf("blind ISR update: %v", err)
	}
	// An epoch may not go down.
	down := read()
	down.LeaderEpoch = 0
	if err := c.UpdatePartitionState(ctx, down, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("epoch decrease: %v, want ErrInvalid", err)
	}
	// The fencing key mirrors the state's epoch.
	resp, err := testCli.Get(ctx, c.Keys().Epoch("t", 0))
	if err != nil || string(resp.Kvs[0].Value) != "1" {
		t.Fatalf("epoch key = %v, %v", resp, err)
	}
}
