package broker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
)

// hungColdReader is a cold tier whose manifest reads hang (etcd stalled):
// ColdRange blocks until released.
type hungColdReader struct {
	ColdReader
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *hungColdReader) ColdRange(ctx context.Context, _ string, _ int32) (int64, int64, error) {
	h.once.Do(func() { close(h.entered) })
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return -1, -1, errors.New("tier manifest read hung")
}

// TestHungRetentionStallsNoOtherMaintenance: while a retention pass waits
// on a hung tier-manifest read for one partition, another partition is
// still fsynced in the background (flush.ms) and still drops a follower
// that never fetches from its ISR (replica.lag.time.max.ms).
func TestHungRetentionStallsNoOtherMaintenance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: t.TempDir()}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	mc, err := meta.Dial(ctx, e.Endpoints(), "maintenance")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	// Broker 2 is registered (so the controller keeps it in the ISR) but
	// never fetches: only the leader's ISR check can drop it.
	for _, id := range []int32{1, 2} {
		reg, err := mc.RegisterBroker(ctx, meta.BrokerInfo{ID: id, Host: "127.0.0.1", Port: 1}, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close(context.Background()) })
	}
	cold := &hungColdReader{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(cold.release)
	b, err := Open(ctx, Config{
		BrokerID: 1, LogDir: t.TempDir(), Logger: logger, Cold: cold,
		RetentionCheckInterval: 20 * time.Millisecond, ReplicaLagMax: 300 * time.Millisecond,
	}, mc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	create := func(name string, replicas []int32, configs map[string]string) *Partition {
		t.Helper()
		if _, err := b.CreateTopic(ctx, CreateTopicRequest{Name: name, Partitions: -1, ReplicationFactor: -1,
			Assignment: map[int32][]int32{0: replicas}, Configs: configs}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		for {
			p, err := b.Partition(name, 0)
			if err == nil {
				return p
			}
			select {
			case <-ctx.Done():
				t.Fatalf("partition %s/0: %v", name, err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	create("tiered", []int32{1}, nil) // remote storage on: its retention reads the manifest
	busy := create("busy", []int32{1, 2}, map[string]string{"remote.storage.enable": "false", "flush.ms": "10"})
	select {
	case <-cold.entered:
	case <-ctx.Done():
		t.Fatal("retention never read the tier manifest")
	}

	if _, err := busy.Append(ctx, BatchForTest(3, 10), AcksLeader); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "background fsync of busy while retention hangs", func() bool {
		return busy.log.FlushedOffset() == busy.LogEndOffset()
	})
	waitFor(ctx, t, "ISR shrink of busy while retention hangs", func() bool {
		return slices.Equal(busy.partitionState().ISR, []int32{1})
	})
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: never happened", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
