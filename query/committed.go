package query

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/tiering/coldfile"
)

// Reads are read_committed unless Range.ReadUncommitted: a range ends at
// the last stable offset instead of the high watermark, rows of aborted
// transactions and control records (transaction markers) are left out,
// as a read_committed Kafka consumer leaves them out. Cold rows carry
// their aborted flag from the tiered file; hot rows are marked here from
// the aborted-transaction list of each read_committed Fetch response.

// committedRow reports whether a read_committed reader sees r.
func committedRow(r *coldfile.Row) bool { return !r.Aborted && !r.IsControl }

// abortMarker marks the hot rows of aborted transactions the way Kafka's
// consumer does: a producer listed as aborted from FirstOffset has its
// transactional records skipped from there until its next control
// record (the abort marker).
type abortMarker struct {
	pending map[int64][]int64 // producer id -> first offsets of its aborted transactions not yet reached, sorted
	active  map[int64]bool    // producers inside an aborted transaction
}

// add takes the aborted transactions a Fetch response names (a range may
// be named again by a later response: it is kept once).
func (m *abortMarker) add(list []kmsg.FetchResponseTopicPartitionAbortedTransaction) {
	if len(list) == 0 {
		return
	}
	if m.pending == nil {
		m.pending, m.active = map[int64][]int64{}, map[int64]bool{}
	}
	for _, a := range list {
		fs := m.pending[a.ProducerID]
		if i, found := slices.BinarySearch(fs, a.FirstOffset); !found {
			m.pending[a.ProducerID] = slices.Insert(fs, i, a.FirstOffset)
		}
	}
}

// mark sets r.Aborted; rows must come in offset order.
func (m *abortMarker) mark(r *coldfile.Row) {
	if m.pending == nil {
		return
	}
	if r.IsControl { // the marker ends whatever transaction it closes
		delete(m.active, r.ProducerID)
		return
	}
	if !r.IsTransactional {
		return
	}
	fs := m.pending[r.ProducerID]
	for len(fs) > 0 && fs[0] <= r.Offset {
		m.active[r.ProducerID] = true
		fs = fs[1:]
	}
	m.pending[r.ProducerID] = fs
	r.Aborted = m.active[r.ProducerID]
}
