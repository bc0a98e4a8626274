package tiering

import (
	"encoding/binary"
	"hash/crc32"
	"math"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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

	cur     []byte // records area of the open batch
	first   Row    // first row of the open batch (no key/value/headers kept)
	last    Row    // last row of the open batch
	n       int32
	maxTs   int64
	rec     []byte
	full    bool
	records int
}

const batchHeaderSize = 61

func newBatchBuilder(maxBytes int, minOne bool) *batchBuilder {
	return &batchBuilder{maxBytes: maxBytes, minOne: minOne}
}

func sameBatch(a, b *Row) bool {
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
		return b.Sequence == sequenceAt(a.Sequence, 1)
	}
	return true
}

// add appends a row; it returns false (and takes nothing) once the budget
// is spent.
func (bb *batchBuilder) add(r *Row) bool {
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
	bb.rec = appendRecord(bb.rec[:0], r, int32(r.Offset-base), r.Timestamp-ts)
	need := len(bb.out) + batchHeaderSize + len(bb.cur) + len(bb.rec)
	if need > bb.maxBytes && !(bb.minOne && len(bb.out) == 0 && bb.n == 0) {
		bb.full = true
		return false
	}
	if bb.n == 0 {
		bb.first = Row{Offset: r.Offset, Timestamp: r.Timestamp, ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch,
			Sequence: r.Sequence, IsTransactional: r.IsTransactional, IsControl: r.IsControl,
			LeaderEpoch: r.LeaderEpoch, TimestampType: r.TimestampType}
		bb.maxTs = r.Timestamp
	}
	bb.cur = append(bb.cur, bb.rec...)
	bb.last = Row{Offset: r.Offset, Timestamp: r.Timestamp, ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch,
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
	attrs := uint16(0)
	if f.TimestampType == 1 {
		attrs |= attrLogAppendTime
	}
	if f.IsTransactional {
		attrs |= attrTransactional
	}
	if f.IsControl {
		attrs |= attrControl
	}
	start := len(bb.out)
	var h [batchHeaderSize]byte
	be := binary.BigEndian
	be.PutUint64(h[0:], uint64(f.Offset))
	be.PutUint32(h[8:], uint32(batchHeaderSize-12+len(bb.cur)))
	be.PutUint32(h[12:], uint32(f.LeaderEpoch))
	h[16] = 2
	be.PutUint16(h[21:], attrs)
	be.PutUint32(h[23:], uint32(bb.n-1))
	be.PutUint64(h[27:], uint64(f.Timestamp))
	be.PutUint64(h[35:], uint64(bb.maxTs))
	be.PutUint64(h[43:], uint64(f.ProducerID))
	be.PutUint16(h[51:], uint16(f.ProducerEpoch))
	be.PutUint32(h[53:], uint32(f.Sequence))
	be.PutUint32(h[57:], uint32(bb.n))
	bb.out = append(bb.out, h[:]...)
	bb.out = append(bb.out, bb.cur...)
	crc := crc32.Checksum(bb.out[start+21:], castagnoli)
	be.PutUint32(bb.out[start+17:], crc)
	bb.cur = bb.cur[:0]
	bb.n = 0
}

// appendRecord appends one record (length-prefixed, Kafka's zig-zag
// varints) to dst.
func appendRecord(dst []byte, r *Row, offsetDelta int32, tsDelta int64) []byte {
	var body [64]byte
	b := body[:0]
	b = append(b, 0) // attributes
	b = binary.AppendVarint(b, tsDelta)
	b = binary.AppendVarint(b, int64(offsetDelta))
	size := len(b) + bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		size += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	dst = binary.AppendVarint(dst, int64(size))
	dst = append(dst, b...)
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func bytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

func varintLen(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}
