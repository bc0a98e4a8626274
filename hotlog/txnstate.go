package hotlog

import (
	"fmt"
	"math"
	"slices"

	"github.com/stratalog/strata/recordbatch"
)

// Transactions on the partition (KIP-98), derived from the log like the
// rest of the producer state, so that a follower and a recovered log build
// the same: per producer id, the first offset of its open transaction
// (from its first transactional batch to its commit or abort marker) and
// the coordinator epoch of its last marker. The last stable offset (LSO)
// is the first offset of the earliest transaction not yet decided
// everywhere: open, or ended by a marker the high watermark has not
// passed (a leader change could still lose that marker); below it every
// record is committed or aborted for good.

// txnEntry is a producer's transaction state.
type txnEntry struct {
	first      int64 // first offset of the open transaction, -1 if none
	coordEpoch int32 // coordinator epoch of the last marker, -1 if none
}

// endedTxn is a transaction whose marker is written but may not be
// replicated yet: it keeps the LSO at its first offset until the high
// watermark passes the marker.
type endedTxn struct {
	first, marker int64
}

// controlOf returns the marker of a control batch (its bytes b), nil for
// other batches or a control record of a type this broker does not know.
func controlOf(h recordbatch.Header, b []byte) (*recordbatch.ControlRecord, error) {
	if !h.IsControl() {
		return nil, nil
	}
	c, err := recordbatch.ParseControlBatch(h, b)
	if err != nil {
		return nil, fmt.Errorf("control batch at offset %d: %w", h.BaseOffset, err)
	}
	if c.Type != recordbatch.ControlAbort && c.Type != recordbatch.ControlCommit {
		return nil, nil
	}
	return &c, nil
}

// checkTxn applies Kafka's transaction rules to batch h of producer pid
// (ctrl: its marker, for a control batch): a non-transactional batch while
// the producer has a transaction open is ErrInvalidTxnState, a marker from
// an older coordinator epoch than the producer's last marker
// ErrCoordinatorFenced.
func (ps *producerState) checkTxn(h recordbatch.Header, ctrl *recordbatch.ControlRecord) error {
	t := ps.txns[h.ProducerID]
	if t == nil {
		return nil
	}
	switch {
	case ctrl != nil && ctrl.CoordinatorEpoch < t.coordEpoch:
		return fmt.Errorf("%w: producer %d: marker of coordinator epoch %d, the last marker's was %d",
			ErrCoordinatorFenced, h.ProducerID, ctrl.CoordinatorEpoch, t.coordEpoch)
	case !h.IsControl() && !h.IsTransactional() && t.first >= 0:
		return fmt.Errorf("%w: producer %d: non-transactional batch while its transaction from offset %d is open",
			ErrInvalidTxnState, h.ProducerID, t.first)
	}
	return nil
}

// trackTxn applies a stored batch (offsets in h) to the transaction
// state: a transactional batch opens its producer's transaction, a marker
// (ctrl, nil if unknown) ends it. It returns the aborted transaction an
// abort marker ended (ok false otherwise, and for a marker ending no open
// transaction: there is nothing to skip).
func (ps *producerState) trackTxn(h recordbatch.Header, ctrl *recordbatch.ControlRecord) (AbortedTxn, bool) {
	if h.ProducerID < 0 || !h.IsTransactional() {
		return AbortedTxn{}, false
	}
	t := ps.txns[h.ProducerID]
	if t == nil {
		t = &txnEntry{first: -1, coordEpoch: -1}
		ps.txns[h.ProducerID] = t
	}
	if !h.IsControl() {
		if t.first < 0 {
			t.first = h.BaseOffset
		}
		return AbortedTxn{}, false
	}
	first := t.first
	t.first = -1
	if ctrl != nil {
		t.coordEpoch = ctrl.CoordinatorEpoch
	}
	if first < 0 {
		return AbortedTxn{}, false
	}
	ps.ended = append(ps.ended, endedTxn{first: first, marker: h.BaseOffset})
	if ctrl == nil || ctrl.Type != recordbatch.ControlAbort {
		return AbortedTxn{}, false
	}
	lso := h.BaseOffset + 1
	for _, o := range ps.txns {
		if o.first >= 0 {
			lso = min(lso, o.first)
		}
	}
	return AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.BaseOffset, LastStableOffset: lso}, true
}

// firstUnstable returns the first offset of the earliest transaction that
// is open or whose marker is at or above hw (math.MaxInt64 if none), and
// forgets ended transactions whose marker is below hw.
func (ps *producerState) firstUnstable(hw int64) int64 {
	ps.ended = slices.DeleteFunc(ps.ended, func(e endedTxn) bool { return e.marker < hw })
	first := int64(math.MaxInt64)
	for _, e := range ps.ended {
		first = min(first, e.first)
	}
	for _, t := range ps.txns {
		if t.first >= 0 {
			first = min(first, t.first)
		}
	}
	return first
}

// hasOpenTxn reports whether pid has a transaction open (such a producer
// is not expired or evicted: its transaction must still end).
func (ps *producerState) hasOpenTxn(pid int64) bool {
	t := ps.txns[pid]
	return t != nil && t.first >= 0
}

// forgetTxnsOf drops the transaction state of producers no longer
// remembered and without an open transaction.
func (ps *producerState) forgetTxns() {
	for pid, t := range ps.txns {
		if t.first < 0 && ps.m[pid] == nil {
			delete(ps.txns, pid)
		}
	}
}

// LastStableOffset is the partition's last stable offset given its high
// watermark hw: the first offset of the earliest transaction that is open
// or whose marker is not below hw, capped at hw. A read_committed fetch
// returns records only below it.
func (l *Log) LastStableOffset(hw int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.producers == nil {
		return hw
	}
	return min(hw, l.producers.firstUnstable(hw))
}

// ProducerInfo is one producer as DescribeProducers shows it.
type ProducerInfo struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32 // -1 if it wrote no idempotent batch
	LastTimestamp int64 // of its last batch, -1 if none
	// CoordinatorEpoch of its last marker, -1 if none.
	CoordinatorEpoch int32
	// CurrentTxnStartOffset is the first offset of its open transaction,
	// -1 if none.
	CurrentTxnStartOffset int64
}

// Producers describes the producers the log remembers, by producer id.
func (l *Log) Producers() []ProducerInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ps := l.producers
	if ps == nil {
		return nil
	}
	byID := map[int64]*ProducerInfo{}
	for pid, e := range ps.m {
		last := e.last()
		byID[pid] = &ProducerInfo{ProducerID: pid, ProducerEpoch: e.epoch, LastSequence: last.lastSeq,
			LastTimestamp: last.maxTimestamp, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1}
	}
	for pid, t := range ps.txns {
		p := byID[pid]
		if p == nil {
			p = &ProducerInfo{ProducerID: pid, ProducerEpoch: -1, LastSequence: -1, LastTimestamp: -1}
			byID[pid] = p
		}
		p.CoordinatorEpoch, p.CurrentTxnStartOffset = t.coordEpoch, t.first
	}
	out := make([]ProducerInfo, 0, len(byID))
	for _, p := range byID {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int {
		switch {
		case a.ProducerID < b.ProducerID:
			return -1
		case a.ProducerID > b.ProducerID:
			return 1
		}
		return 0
	})
	return out
}

// controlsOf parses the markers of the control batches among batches
// (headers hs): nil if there are none, else one entry per batch, nil for
// the others. A control batch that does not parse is ErrInvalidBatch or
// ErrCorruptBatch.
func controlsOf(batches []byte, hs []recordbatch.Header) ([]*recordbatch.ControlRecord, error) {
	var out []*recordbatch.ControlRecord
	pos := 0
	for i, h := range hs {
		if h.IsControl() {
			if out == nil {
				out = make([]*recordbatch.ControlRecord, len(hs))
			}
			c, err := controlOf(h, batches[pos:pos+h.Size()])
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		pos += h.Size()
	}
	return out, nil
}

// controlAt is ctrls[i], nil when ctrls is.
func controlAt(ctrls []*recordbatch.ControlRecord, i int) *recordbatch.ControlRecord {
	if ctrls == nil {
		return nil
	}
	return ctrls[i]
}
