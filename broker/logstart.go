package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
)

// DeleteRecords (Kafka's AdminClient.deleteRecords) moves a partition's
// log start offset forward. The log start lives in etcd
// (meta.AdvanceLogStart, fenced by the leader epoch), the one place every
// replica and the cold tier's readers agree on: a restart or a failover
// keeps it, whichever tier holds the records below it. The leader applies
// it to its hot log at once (hotlog.AdvanceLogStart: reads below it answer
// OFFSET_OUT_OF_RANGE, segments wholly below it are deleted); followers
// learn it from the log_start_offset of their fetch responses, as in
// Kafka, and a broker that becomes leader reads it from etcd. The cold
// tier's reads are clamped to it here (coldRange), and the tierer drops
// the tiered files wholly below it (tiering.Partition.DeletedBefore).

// logStartUnknown: the partition's DeleteRecords start is not loaded from
// etcd (since this broker became its leader).
const logStartUnknown = -1

// DeletedBefore is the partition's log start as DeleteRecords last set
// it (0 if never), read from etcd the first time after this broker became
// the leader; -1 when etcd cannot tell. Records below it are deleted in
// every tier.
func (p *Partition) DeletedBefore() int64 {
	v, err := p.loadLogStart(context.Background())
	if err != nil {
		return -1
	}
	return v
}

// loadLogStart returns the DeleteRecords start, reading it from etcd the
// first time after this broker became the leader, and applies it to the
// hot log.
func (p *Partition) loadLogStart(ctx context.Context) (int64, error) {
	if v := p.recordsStart.Load(); v != logStartUnknown {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(ctx, coldTimeout)
	defer cancel()
	v, err := p.b.meta.LogStart(ctx, p.topic, p.index)
	if err != nil {
		return 0, fmt.Errorf("%w: log start of %s: %v", kerr.KafkaStorageError, p, err)
	}
	p.applyLogStart(v)
	return v, nil
}

// applyLogStart raises the known DeleteRecords start to v and deletes the
// hot log's records below it.
func (p *Partition) applyLogStart(v int64) {
	for {
		cur := p.recordsStart.Load()
		if cur >= v || p.recordsStart.CompareAndSwap(cur, v) {
			break
		}
	}
	p.advanceLocalStart(v)
}

// advanceLocalStart deletes the hot log's records below v (DeleteRecords
// on the leader; on a follower, the leader's log start from a fetch
// response).
func (p *Partition) advanceLocalStart(v int64) {
	if v <= p.log.LogStartOffset() {
		return
	}
	n, err := p.log.AdvanceLogStart(v)
	if err != nil {
		p.b.log.Warn("advancing the log start", "partition", p.String(), "offset", v, "err", err)
	}
	if n > 0 {
		p.b.log.Info("log start advanced", "partition", p.String(), "log_start", p.log.LogStartOffset(), "segments_deleted", n)
	}
}

// forgetLogStart makes the next read of the DeleteRecords start go to etcd
// (this broker has just become the leader: another leader may have moved
// it meanwhile).
func (p *Partition) forgetLogStart() { p.recordsStart.Store(logStartUnknown) }

// DeleteRecords deletes the records below offset (-1: the high
// watermark) and returns the partition's log start offset after it (the
// low watermark of the DeleteRecords response). An offset above the high
// watermark is OFFSET_OUT_OF_RANGE, a topic with cleanup.policy=compact
// (without delete) POLICY_VIOLATION; an offset at or below the log start
// changes nothing. It returns once the new start is in etcd and the hot
// log is cut; followers cut theirs at their next fetch.
func (p *Partition) DeleteRecords(ctx context.Context, offset int64) (int64, error) {
	if !p.isLeader() || p.b.fenced.Load() {
		return -1, fmt.Errorf("%w: %s", kerr.NotLeaderForPartition, p)
	}
	if cfg := p.cfg.Load(); cfg.Compact && !cfg.Delete {
		// Kafka's rule: deleting a prefix would drop the latest values
		// of keys the cleaner keeps.
		return -1, fmt.Errorf("%w: records of %s cannot be deleted while its cleanup.policy is compact", kerr.PolicyViolation, p)
	}
	epoch := p.leaderEpoch.Load()
	hw := p.hw.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("%w: delete records of %s below %d: the high watermark is %d", kerr.OffsetOutOfRange, p, offset, hw)
	}
	if _, err := p.loadLogStart(ctx); err != nil {
		return -1, err
	}
	start, err := p.earliestOffset()
	if err != nil {
		return -1, err
	}
	if offset <= start {
		return start, nil
	}
	ctx, cancel := context.WithTimeout(ctx, coldTimeout)
	defer cancel()
	stored, err := p.b.meta.AdvanceLogStart(ctx, p.topic, p.index, epoch, offset)
	switch {
	case errors.Is(err, meta.ErrFenced):
		return -1, fmt.Errorf("%w: %s: %v", kerr.NotLeaderForPartition, p, err)
	case err != nil:
		return -1, fmt.Errorf("%w: delete records of %s: %v", kerr.KafkaStorageError, p, err)
	}
	p.applyLogStart(stored)
	p.b.log.Info("records deleted", "partition", p.String(), "log_start", stored)
	p.notify()
	return p.earliestOffset()
}

// coldRange is the cold tier's [start, end) as readers may see it: the
// start clamped to the DeleteRecords start (a tiered file straddling it
// stays until the tierer drops it, its records below the start unread);
// -1, -1 when the tier holds no record that is not deleted.
func (p *Partition) coldRange(ctx context.Context) (start, end int64, err error) {
	start, end, err = p.b.cfg.Cold.ColdRange(ctx, p.topic, p.index)
	if err != nil || start < 0 {
		return start, end, err
	}
	floor, err := p.loadLogStart(ctx)
	if err != nil {
		return -1, -1, err
	}
	if floor >= end {
		return -1, -1, nil
	}
	return max(start, floor), end, nil
}
