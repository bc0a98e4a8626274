package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/recordbatch"
)

// LastStableOffset is the partition's last stable offset: below it every
// transaction is decided and its marker replicated (hotlog.Log.
// LastStableOffset at the current high watermark).
func (p *Partition) LastStableOffset() int64 { return p.log.LastStableOffset(p.hw.Load()) }

// LocalAbortedTransactions are the aborted transactions of [from, upTo)
// in the local log (what the tierer marks aborted).
func (p *Partition) LocalAbortedTransactions(from, upTo int64) []hotlog.AbortedTxn {
	return p.log.AbortedTransactions(from, upTo)
}

// AbortedTransactions are the aborted transactions a read_committed fetch
// of [from, upTo) names: from the hot log's segments, or, for a range
// below the local log start that a fetch read from the cold tier, from the
// tiered records' aborted column. A cold tier that cannot be read is
// KAFKA_STORAGE_ERROR (the records cannot be served without the list).
func (p *Partition) AbortedTransactions(from, upTo int64) ([]hotlog.AbortedTxn, error) {
	cold := p.b.cfg.Cold
	if from >= p.log.LogStartOffset() || cold == nil {
		return p.log.AbortedTransactions(from, upTo), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldTimeout)
	defer cancel()
	_, coldEnd, err := cold.ColdRange(ctx, p.topic, p.index)
	if err != nil {
		return nil, fmt.Errorf("%w: cold tier of %s: %v", kerr.KafkaStorageError, p, err)
	}
	if from >= coldEnd {
		// The fetch went on from the local start (a hole below it).
		return p.log.AbortedTransactions(from, upTo), nil
	}
	// fetchCold returns cold records only: the range ends in the cold tier.
	out, err := cold.ColdAbortedTransactions(ctx, p.topic, p.index, from, min(upTo, coldEnd))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	}
	return out, nil
}

// Producers answers DescribeProducers as the leader: the producers the
// partition remembers, with their open transaction.
func (p *Partition) Producers() ([]hotlog.ProducerInfo, error) {
	if !p.isLeader() {
		return nil, fmt.Errorf("%w: %s", kerr.NotLeaderForPartition, p)
	}
	return p.log.Producers(), nil
}

// WriteTxnMarker ends producerID's transaction on this partition: it
// appends a commit or abort control batch (recordbatch.AppendControlBatch)
// as the leader, through the same path as a produce with acks=all, and
// returns once the marker is durable and replicated to the in-sync
// replicas. The hot log checks the marker against the producer's state:
// an epoch older than the producer's is INVALID_PRODUCER_EPOCH, a
// coordinator epoch older than the last marker's
// TRANSACTION_COORDINATOR_FENCED. A marker for a producer with no ongoing
// transaction is written all the same, as Kafka writes it (an empty
// transaction that starts and ends at the marker).
func (p *Partition) WriteTxnMarker(ctx context.Context, producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool) error {
	if producerID < 0 || producerEpoch < 0 {
		return fmt.Errorf("%w: marker for producer %d epoch %d", kerr.InvalidRequest, producerID, producerEpoch)
	}
	typ := recordbatch.ControlAbort
	if commit {
		typ = recordbatch.ControlCommit
	}
	now := time.Now()
	batch := recordbatch.AppendControlBatch(nil, producerID, producerEpoch,
		recordbatch.ControlRecord{Type: typ, CoordinatorEpoch: coordinatorEpoch}, now.UnixMilli())
	hs, err := recordbatch.Frame(batch)
	if err != nil {
		return fmt.Errorf("build transaction marker: %w", err)
	}
	cfg := p.cfg.Load()
	if n := p.isrSize(); n < int(cfg.MinInsyncReplicas) {
		return fmt.Errorf("%w: %d in-sync replicas, min.insync.replicas=%d", kerr.NotEnoughReplicas, n, cfg.MinInsyncReplicas)
	}
	p.appendMu.Lock()
	if err := p.b.LogDirError(); err != nil {
		p.appendMu.Unlock()
		return fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	}
	if !p.isLeader() || p.b.fenced.Load() {
		p.appendMu.Unlock()
		return fmt.Errorf("%w: %s", kerr.NotLeaderForPartition, p)
	}
	info, err := p.log.Append(batch, hs, p.leaderEpoch.Load(), now)
	p.appendMu.Unlock()
	if err != nil {
		return p.appendError(err)
	}
	p.maybeAdvanceHW()
	p.notify()
	if err := p.flush(info.LastOffset + 1); err != nil {
		return fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	}
	return p.waitReplicated(ctx, info.LastOffset, cfg.MinInsyncReplicas)
}
