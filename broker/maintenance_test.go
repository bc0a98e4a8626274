package broker

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startTestBroker opens broker 1 (cfg's other fields kept) on a real
// embedded etcd where brokers 1 and 2 are registered. Broker 2 never runs:
// the controller keeps it in the ISR, only the leader's ISR check can drop
// it.
func startTestBroker(ctx context.Context, t *testing.T, cfg Config) *Broker {
	t.Helper()
	return openEtcdBroker(ctx, t, t.TempDir(), cfg, 1, 2)
}

// createTestTopic creates a one-partition topic on replicas and returns
// the partition once broker 1 leads it.
func createTestTopic(ctx context.Context, t *testing.T, b *Broker, name string, replicas []int32, configs map[string]string) *Partition {
	t.Helper()
	if _, err := b.CreateTopic(ctx, CreateTopicRequest{Name: name, Partitions: -1, ReplicationFactor: -1,
		Assignment: map[int32][]int32{0: replicas}, Configs: configs}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	var p *Partition
	waitFor(ctx, t, "leadership of "+name, func() bool {
		var err error
		p, err = b.Partition(name, 0)
		return err == nil
	})
	return p
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
	cold := &hungColdReader{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(cold.release)
	b := startTestBroker(ctx, t, Config{Cold: cold, RetentionCheckInterval: 20 * time.Millisecond, ReplicaLagMax: 300 * time.Millisecond})

	createTestTopic(ctx, t, b, "tiered", []int32{1}, nil) // remote storage on: its retention reads the manifest
	busy := createTestTopic(ctx, t, b, "busy", []int32{1, 2}, map[string]string{"remote.storage.enable": "false", "flush.ms": "10"})
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

// TestSlowDeleteHoldsNoBrokerLock: deleting a topic whose log is stuck in
// an fsync on a slow disk (Close fsyncs) does not hold the broker lock, so
// lookups of every other partition go on.
func TestSlowDeleteHoldsNoBrokerLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var slow sync.Once
	var stall atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	b := startTestBroker(ctx, t, Config{SyncFile: func(f *os.File) error {
		if stall.Load() && strings.Contains(f.Name(), "slow-0") {
			slow.Do(func() { close(entered) })
			<-release
		}
		return f.Sync()
	}})
	noTier := map[string]string{"remote.storage.enable": "false", "flush.ms": "3600000"}
	createTestTopic(ctx, t, b, "other", []int32{1}, noTier)
	p := createTestTopic(ctx, t, b, "slow", []int32{1}, noTier)
	if _, err := p.Append(ctx, BatchForTest(1, 10), AcksLeader); err != nil {
		t.Fatal(err)
	}
	stall.Store(true)
	go b.DeleteTopic(context.Background(), "slow")
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the deleted log was never fsynced")
	}
	looked := make(chan error, 1)
	go func() {
		_, err := b.Partition("other", 0)
		looked <- err
	}()
	select {
	case err := <-looked:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("partition lookup blocked while another partition's log was being deleted")
	}
}
