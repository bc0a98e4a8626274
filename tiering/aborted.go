package tiering

import (
	"context"
	"fmt"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/tiering/coldfile"
)

// abortedRanges answers, for the rows of a range being tiered, whether
// each belongs to an aborted transaction (the Parquet aborted column): a
// transactional data record of a producer at or after the first offset
// of one of its aborted transactions and before that transaction's abort
// marker.
type abortedRanges map[int64][]hotlog.AbortedTxn // by producer id

func newAbortedRanges(txns []hotlog.AbortedTxn) abortedRanges {
	if len(txns) == 0 {
		return nil
	}
	m := abortedRanges{}
	for _, a := range txns {
		m[a.ProducerID] = append(m[a.ProducerID], a)
	}
	return m
}

func (m abortedRanges) contains(r coldfile.Row) bool {
	if !r.IsTransactional || r.IsControl {
		return false
	}
	for _, a := range m[r.ProducerID] {
		if a.FirstOffset <= r.Offset && r.Offset < a.LastOffset {
			return true
		}
	}
	return false
}

// ColdAbortedTransactions returns the aborted transactions of the tiered
// records in [from, upTo), for a read_committed fetch served from the cold
// tier: one per run of a producer's records marked aborted, with the
// offset of its first record in the range (and of its abort marker, if in
// the range; else -1). The same consumer rule as for the hot log's index
// holds: skip that producer's transactional records from there up to its
// next marker.
func (t *Tier) ColdAbortedTransactions(ctx context.Context, topic string, partition int32, from, upTo int64) ([]hotlog.AbortedTxn, error) {
	segs, err := t.manifest(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	var out []hotlog.AbortedTxn
	open := map[int64]int{} // producer id -> index in out of its unterminated run
	for _, seg := range segs {
		if seg.LastOffset < from || seg.BaseOffset >= upTo {
			continue
		}
		rf, err := t.open(ctx, seg)
		if err != nil {
			return nil, err
		}
		err = rf.ScanRange(ctx, max(from, seg.BaseOffset), min(upTo, seg.LastOffset+1), func(r *coldfile.Row) error {
			i, running := open[r.ProducerID]
			switch {
			case r.IsControl && running:
				out[i].LastOffset = r.Offset
				delete(open, r.ProducerID)
			case r.Aborted && !running:
				open[r.ProducerID] = len(out)
				out = append(out, hotlog.AbortedTxn{ProducerID: r.ProducerID, FirstOffset: r.Offset, LastOffset: -1})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("tiering: aborted transactions of %s-%d in %s: %w", topic, partition, seg.Object, err)
		}
	}
	return out, nil
}
