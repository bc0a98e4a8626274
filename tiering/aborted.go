package tiering

import (
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
