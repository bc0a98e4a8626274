package tiering

import (
	"math"

	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/tiering/coldfile"
)

// maxRebuiltBatch bounds the records area of one rebuilt batch, so that a
// consumer's fetch.max.bytes is seldom exceeded by a single batch.
const maxRebuiltBatch = 1 << 20

// batchBuilder turns rows back into RecordBatch v2 bytes: uncompressed,
// with the rows' offsets, timestamps, keys, values, headers, producer
// fields, leader epoch and timestamp type, and a fresh CRC. Consecutive rows
// share a batch when a Kafka batch could hold them both: same producer id,
// epoch, transactional flag, leader epoch and timestamp type, consecutive
// offsets and sequences, no control record (a control record is always
// alone in its batch), and for LogAppendTime the same timestamp.
type batchBuilder struct {
	maxBytes int  // budget for everything appended to out
	minOne   bool // the first record goes out even if over budget
	out      []byte

	cur     []byte       // records area of the open batch
	first   coldfile.Row // first row of the open batch (no key/value/headers kept)
	last    coldfile.Row // last row of the open batch
	n       int32
	maxTs   int64
	rec     []byte
	hdrs    []recordbatch.RecordHeader
	full    bool
	records int
}

func newBatchBuilder(maxBytes int, minOne bool) *batchBuilder {
	return &batchBuilder{maxBytes: maxBytes, minOne: minOne}
}

func sameBatch(a, b *coldfile.Row) bool {
	if a.ProducerID != b.ProducerID || a.ProducerEpoch != b.ProducerEpoch ||
		a.IsTransactional != b.IsTransactional || a.IsControl || b.IsControl ||
		a.LeaderEpoch != b.LeaderEpoch || a.TimestampType != b.TimestampType ||
		b.Offset != a.Offset+1 {
		return false
	}
	if a.TimestampType == 1 && a.Timestamp != b.Timestamp {
		return false
	}
	if a.Sequence >= 0 || b.Sequence >= 0 {
		return b.Sequence == recordbatch.SequenceAt(a.Sequence, 1)
	}
	return true
}

// left is about how many bytes the budget still takes (at least one
// record's worth with minOne and nothing out yet).
func (bb *batchBuilder) left() int {
	if bb.minOne && len(bb.out) == 0 && bb.n == 0 {
		return max(bb.maxBytes, 1)
	}
	return max(bb.maxBytes-len(bb.out)-len(bb.cur)-recordbatch.HeaderSize, 0)
}

// add appends a row; it returns false (and takes nothing) once the budget
// is spent.
func (bb *batchBuilder) add(r *coldfile.Row) bool {
	if bb.full {
		return false
	}
	if bb.n > 0 && (!sameBatch(&bb.last, r) || len(bb.cur) >= maxRebuiltBatch || r.Offset-bb.first.Offset > math.MaxInt32 || tsDeltaOverflow(bb.first.Timestamp, r.Timestamp)) {
		bb.closeBatch()
	}
	base, ts := r.Offset, r.Timestamp
	if bb.n > 0 {
		base, ts = bb.first.Offset, bb.first.Timestamp
	}
	bb.hdrs = bb.hdrs[:0]
	for _, h := range r.Headers {
		bb.hdrs = append(bb.hdrs, recordbatch.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	bb.rec = recordbatch.AppendRecord(bb.rec[:0], int32(r.Offset-base), r.Timestamp-ts, r.Key, r.Value, bb.hdrs)
	need := len(bb.out) + recordbatch.HeaderSize + len(bb.cur) + len(bb.rec)
	if need > bb.maxBytes && !(bb.minOne && len(bb.out) == 0 && bb.n == 0) {
		bb.full = true
		return false
	}
	if bb.n == 0 {
		bb.first = coldfile.Row{Offset: r.Offset, Timestamp: r.Timestamp, ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch,
			Sequence: r.Sequence, IsTransactional: r.IsTransactional, IsControl: r.IsControl,
			LeaderEpoch: r.LeaderEpoch, TimestampType: r.TimestampType}
		bb.maxTs = r.Timestamp
	}
	bb.cur = append(bb.cur, bb.rec...)
	bb.last = coldfile.Row{Offset: r.Offset, Timestamp: r.Timestamp, ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch,
		Sequence: r.Sequence, IsTransactional: r.IsTransactional, IsControl: r.IsControl,
		LeaderEpoch: r.LeaderEpoch, TimestampType: r.TimestampType}
	bb.maxTs = max(bb.maxTs, r.Timestamp)
	bb.n++
	bb.records++
	if need > bb.maxBytes { // the one record allowed over budget
		bb.closeBatch()
		bb.full = true
	}
	return true
}

func tsDeltaOverflow(first, ts int64) bool {
	d := ts - first
	return (ts > 0 && first < 0 && d < 0) || (ts < 0 && first > 0 && d > 0)
}

// finish closes the open batch and returns all batches.
func (bb *batchBuilder) finish() []byte {
	bb.closeBatch()
	return bb.out
}

func (bb *batchBuilder) closeBatch() {
	if bb.n == 0 {
		return
	}
	f := &bb.first
	bb.out = recordbatch.AppendBatch(bb.out, recordbatch.Header{
		BaseOffset:           f.Offset,
		PartitionLeaderEpoch: f.LeaderEpoch,
		Attributes:           recordbatch.NewAttributes(recordbatch.CodecNone, recordbatch.TimestampType(f.TimestampType), f.IsTransactional, f.IsControl),
		LastOffsetDelta:      bb.n - 1,
		BaseTimestamp:        f.Timestamp,
		MaxTimestamp:         bb.maxTs,
		ProducerID:           f.ProducerID,
		ProducerEpoch:        f.ProducerEpoch,
		BaseSequence:         f.Sequence,
		NumRecords:           bb.n,
	}, bb.cur)
	bb.cur = bb.cur[:0]
	bb.n = 0
}
