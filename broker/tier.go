package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
)

// ColdReader is what the broker needs from the cold tier (package tiering):
// the offsets it holds and reads below the local log start. Topics with
// remote.storage.enable keep local segments until ColdRange covers them.
type ColdReader interface {
	// ColdRange is [start, end) of the tiered offsets; -1, -1 when none.
	ColdRange(ctx context.Context, topic string, partition int32) (start, end int64, err error)
	// ColdRead returns record batches from offset (the first holding it),
	// only records below endOffset, at most maxBytes except that with
	// minOneBatch the first batch always comes back. An offset the cold
	// tier no longer holds (below its start: remote retention ran since
	// ColdRange) gives an error wrapping hotlog.ErrOffsetOutOfRange, which
	// the broker answers OFFSET_OUT_OF_RANGE; any other error is
	// KAFKA_STORAGE_ERROR.
	ColdRead(ctx context.Context, topic string, partition int32, offset, endOffset int64, maxBytes int, minOneBatch bool) ([]byte, error)
	// ColdOffsetForTimestamp finds the first tiered record with a timestamp
	// >= ts.
	ColdOffsetForTimestamp(ctx context.Context, topic string, partition int32, ts int64) (offset, timestamp int64, found bool, err error)
	// ColdMaxTimestamp finds the tiered record with the largest timestamp.
	ColdMaxTimestamp(ctx context.Context, topic string, partition int32) (offset, timestamp int64, found bool, err error)
	// ColdEpochs lists the leader epochs of the tiered offsets, each with
	// the first offset it holds, oldest first.
	ColdEpochs(ctx context.Context, topic string, partition int32) ([]meta.TierEpoch, error)
	// ColdAbortedTransactions lists the aborted transactions of the
	// tiered records in [from, upTo), from their aborted column (a
	// read_committed fetch served from the cold tier).
	ColdAbortedTransactions(ctx context.Context, topic string, partition int32, from, upTo int64) ([]hotlog.AbortedTxn, error)
}

// coldTimeout bounds one cold-tier call on the fetch and list-offsets paths.
const coldTimeout = 30 * time.Second

// LedPartitions returns the partitions this broker leads: the tierer's
// work list (only the leader tiers; its manifest writes are fenced by the
// leader epoch).
func (b *Broker) LedPartitions() []*Partition {
	var out []*Partition
	for _, p := range b.localPartitions() {
		if p.isLeader() {
			out = append(out, p)
		}
	}
	return out
}

// Config is the partition's effective topic configuration.
func (p *Partition) Config() TopicConfig { return *p.cfg.Load() }

// FlushedOffset is the offset below which the local log is fsynced (the
// tierer takes only records below it and the high watermark).
func (p *Partition) FlushedOffset() int64 { return p.log.FlushedOffset() }

// Segments describes the partition's local segments, oldest first.
func (p *Partition) Segments() []hotlog.SegmentInfo { return p.log.Segments() }

// ReadLocal reads whole stored batches from the local log (for tiering):
// from the batch holding offset, below maxOffset, about maxBytes but at
// least one batch.
func (p *Partition) ReadLocal(offset, maxOffset int64, maxBytes int) ([]byte, error) {
	return p.log.Read(offset, maxOffset, maxBytes, true)
}

// Roll seals the active segment (tiering rolls segments older than
// strata.tier.max.lag.ms).
func (p *Partition) Roll() error { return p.log.Roll() }

// tiered reports whether the partition's local segments wait for the cold
// tier before local retention may delete them.
func (p *Partition) tiered() bool {
	return p.b.cfg.Cold != nil && p.cfg.Load().RemoteStorageEnable
}

// retentionAllow is local retention's veto (hotlog.TieredRetentionAllow):
// with remote storage a segment may go only once the cold tier holds all
// of it, or once the topic's total retention (retention.ms/bytes) has
// expired it anyway and the cold tier keeps nothing before it (it would not
// be kept in the cold tier either). nil means no veto.
func (p *Partition) retentionAllow(now time.Time) func(hotlog.SegmentInfo) bool {
	if !p.tiered() {
		return nil
	}
	cfg := p.cfg.Load()
	ctx, cancel := context.WithTimeout(context.Background(), coldTimeout)
	defer cancel()
	start, end, err := p.b.cfg.Cold.ColdRange(ctx, p.topic, p.index)
	if err != nil {
		// Whether the cold tier holds a segment, or records before it
		// (then it may not go untiered), is unknown: keep everything.
		p.b.log.Warn("local retention waits: cannot read the tier manifest", "partition", p.String(), "err", err)
		return func(hotlog.SegmentInfo) bool { return false }
	}
	return hotlog.TieredRetentionAllow(p.log.Segments(), cfg.RetentionMs, cfg.RetentionBytes, now, start, end)
}

// fetchCold serves a fetch below the local log start from the cold tier.
// res carries the high watermark; its LogStartOffset becomes the cold
// start.
func (p *Partition) fetchCold(offset, localStart int64, maxBytes int, minOneBatch bool, res FetchResult) (FetchResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), coldTimeout)
	defer cancel()
	start, end, err := p.coldRange(ctx)
	if err != nil {
		return res, fmt.Errorf("%w: cold tier of %s: %v", kerr.KafkaStorageError, p, err)
	}
	if start >= 0 && start < res.LogStartOffset {
		res.LogStartOffset = start
	}
	if start < 0 || offset < start {
		return res, fmt.Errorf("%w: offset %d not in [%d, %d]", kerr.OffsetOutOfRange, offset, res.LogStartOffset, res.HighWatermark)
	}
	hw := res.HighWatermark
	var data []byte
	if offset >= end {
		// A hole between the cold tier and the local log (data deleted
		// while remote storage was off): go on from the local start, as
		// a consumer of a compacted topic would.
		data, err = p.log.Read(localStart, hw, maxBytes, minOneBatch)
	} else {
		data, err = p.b.cfg.Cold.ColdRead(ctx, p.topic, p.index, offset, hw, maxBytes, minOneBatch)
	}
	if err != nil {
		if errors.Is(err, hotlog.ErrOffsetOutOfRange) {
			return res, fmt.Errorf("%w: %v", kerr.OffsetOutOfRange, err)
		}
		p.b.log.Error("cold read failed", "partition", p.String(), "offset", offset, "err", err)
		return res, fmt.Errorf("%w: cold read of %s at %d: %v", kerr.KafkaStorageError, p, offset, err)
	}
	res.Records = data
	p.b.metrics.fetchedBytes.Add(float64(len(data)))
	return res, nil
}

// earliestOffset is the first offset of the partition, cold or local.
func (p *Partition) earliestOffset() (int64, error) {
	local := p.log.LogStartOffset()
	if p.b.cfg.Cold == nil {
		return local, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldTimeout)
	defer cancel()
	start, _, err := p.coldRange(ctx)
	if err != nil {
		return -1, fmt.Errorf("%w: cold tier of %s: %v", kerr.KafkaStorageError, p, err)
	}
	if start >= 0 && start < local {
		return start, nil
	}
	return local, nil
}

// coldOffsetForTimestamp looks for ts in the cold tier first: records
// there come before the local ones (or are the same records).
func (p *Partition) coldOffsetForTimestamp(ts int64) (int64, int64, bool, error) {
	if p.b.cfg.Cold == nil {
		return -1, -1, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldTimeout)
	defer cancel()
	off, t, found, err := p.b.cfg.Cold.ColdOffsetForTimestamp(ctx, p.topic, p.index, ts)
	if err != nil {
		return -1, -1, false, fmt.Errorf("%w: cold tier of %s: %v", kerr.KafkaStorageError, p, err)
	}
	return off, t, found, nil
}

func (p *Partition) coldMaxTimestamp() (int64, int64, bool, error) {
	if p.b.cfg.Cold == nil {
		return -1, -1, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldTimeout)
	defer cancel()
	off, t, found, err := p.b.cfg.Cold.ColdMaxTimestamp(ctx, p.topic, p.index)
	if err != nil {
		return -1, -1, false, fmt.Errorf("%w: cold tier of %s: %v", kerr.KafkaStorageError, p, err)
	}
	return off, t, found, nil
}

// coldEndOffsetForEpoch answers OffsetForLeaderEpoch for an epoch older than
// the local leader-epoch cache (local retention dropped its segments): from
// the tier manifest's epochs followed by the local ones, the largest epoch
// at or below epoch and the start of the next one, as Kafka answers from a
// cache that covers the remote log too (KIP-405). -1, -1 when epoch is older
// than anything stored.
func (p *Partition) coldEndOffsetForEpoch(epoch int32) (int32, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), coldTimeout)
	defer cancel()
	cold, err := p.b.cfg.Cold.ColdEpochs(ctx, p.topic, p.index)
	if err != nil {
		return -1, -1, fmt.Errorf("%w: leader epochs of the cold tier: %v", kerr.KafkaStorageError, err)
	}
	all := append([]meta.TierEpoch(nil), cold...)
	for _, e := range p.log.Epochs() {
		if len(all) == 0 || e.Epoch > all[len(all)-1].Epoch {
			all = append(all, meta.TierEpoch{Epoch: e.Epoch, StartOffset: e.StartOffset})
		}
	}
	return endOffsetForEpoch(all, epoch, p.log.LogEndOffset())
}

// endOffsetForEpoch is Kafka's OffsetForLeaderEpoch rule over epochs (oldest
// first): the largest epoch at or below epoch, and where the next one starts
// (the log end for the latest).
func endOffsetForEpoch(epochs []meta.TierEpoch, epoch int32, logEnd int64) (int32, int64, error) {
	i := sort.Search(len(epochs), func(i int) bool { return epochs[i].Epoch > epoch })
	if i == 0 {
		return -1, -1, nil
	}
	if i == len(epochs) {
		return epochs[i-1].Epoch, logEnd, nil
	}
	return epochs[i-1].Epoch, epochs[i].StartOffset, nil
}
