package hotlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// BatchHeaderSize is the size of a RecordBatch v2 header: everything before
// the records.
const BatchHeaderSize = 61

// Byte offsets of the header fields (see docs/format/segment.md).
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// batchLengthMin is the smallest batchLength: the header after the
	// length field (61-12) and no records.
	batchLengthMin = BatchHeaderSize - 12
	// batchOverhead is the part of a batch not counted in batchLength.
	batchOverhead = 12
)

// Attribute bits.
const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// Compression codec ids in the attributes.
const (
	CompressionNone   int8 = 0
	CompressionGzip   int8 = 1
	CompressionSnappy int8 = 2
	CompressionLZ4    int8 = 3
	CompressionZstd   int8 = 4
)

var (
	// ErrCorruptBatch means bytes that do not form a record batch: short,
	// bad length, CRC mismatch, malformed records. Errors wrap it with
	// detail.
	ErrCorruptBatch = errors.New("corrupt record batch")
	// ErrInvalidBatch means a well-formed batch that is not acceptable:
	// magic other than 2, unknown compression codec, record count that
	// does not match lastOffsetDelta.
	ErrInvalidBatch = errors.New("invalid record batch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded 61-byte RecordBatch v2 header.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after this field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Size is the number of bytes of the whole batch.
func (h BatchHeader) Size() int { return batchOverhead + int(h.Length) }

// Compression is the codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h BatchHeader) Compression() int8 { return int8(h.Attributes & attrCompressionMask) }

// LogAppendTime reports whether the timestamps are the broker's (attribute
// bit 3) rather than the producer's.
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// IsTransactional reports attribute bit 4.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports attribute bit 5.
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// ParseBatchHeader decodes the first 61 bytes of b. It checks nothing but the
// length of b; ErrCorruptBatch if b is shorter than a header.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrCorruptBatch, len(b), BatchHeaderSize)
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}, nil
}

// SetBaseOffset rewrites the batch's baseOffset (bytes 0..8, outside the CRC).
func SetBaseOffset(batch []byte, offset int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch rewrites the batch's partitionLeaderEpoch (bytes
// 12..16, outside the CRC).
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// batchCRC computes the CRC32C a v2 batch carries: over attributes..end.
func batchCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[offAttributes:], castagnoli)
}

// checkFrame checks what a reader of stored bytes needs before trusting a
// header: magic 2 and a batchLength that covers the header and fits in avail
// bytes. It does not check the CRC.
func checkFrame(h BatchHeader, avail int64) error {
	if h.Length < batchLengthMin {
		return fmt.Errorf("%w: batchLength %d below minimum %d", ErrCorruptBatch, h.Length, batchLengthMin)
	}
	if int64(h.Size()) > avail {
		return fmt.Errorf("%w: batch of %d bytes but only %d available", ErrCorruptBatch, h.Size(), avail)
	}
	if h.Magic != 2 {
		return fmt.Errorf("%w: magic %d, want 2", ErrCorruptBatch, h.Magic)
	}
	return nil
}

// ValidateBatches checks that b is a sequence of one or more whole v2 batches
// and returns their headers. Each batch must have magic 2, a batchLength that
// covers the header and fits, a correct CRC32C, recordCount ==
// lastOffsetDelta+1 > 0 and a known compression codec; the records of an
// uncompressed batch are walked one by one (lengths must add up exactly to
// the batch, offset deltas must run 0..lastOffsetDelta). Compressed batches
// are not decompressed. Errors wrap ErrCorruptBatch (the bytes are damaged)
// or ErrInvalidBatch (well formed but not acceptable). It never panics.
func ValidateBatches(b []byte) ([]BatchHeader, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no batches", ErrCorruptBatch)
	}
	var hs []BatchHeader
	for pos := 0; pos < len(b); {
		h, err := ParseBatchHeader(b[pos:])
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		if err := validateBatch(h, b[pos:]); err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, nil
}

// validateBatch checks one batch whose header h was parsed from the start of
// b (b may continue past the batch).
func validateBatch(h BatchHeader, b []byte) error {
	if h.Length < batchLengthMin {
		return fmt.Errorf("%w: batchLength %d below minimum %d", ErrCorruptBatch, h.Length, batchLengthMin)
	}
	if h.Size() > len(b) {
		return fmt.Errorf("%w: batchLength %d runs past the end (%d bytes left)", ErrCorruptBatch, h.Length, len(b)-batchOverhead)
	}
	if h.Magic != 2 {
		return fmt.Errorf("%w: magic %d, only 2 is supported", ErrInvalidBatch, h.Magic)
	}
	batch := b[:h.Size()]
	if got := batchCRC(batch); got != h.CRC {
		return fmt.Errorf("%w: crc mismatch: header %#08x, computed %#08x", ErrCorruptBatch, h.CRC, got)
	}
	if c := h.Compression(); c < CompressionNone || c > CompressionZstd {
		return fmt.Errorf("%w: unknown compression codec %d", ErrInvalidBatch, c)
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta < 0 || int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: recordCount %d with lastOffsetDelta %d", ErrInvalidBatch, h.NumRecords, h.LastOffsetDelta)
	}
	if h.Compression() != CompressionNone {
		return nil
	}
	n := 0
	err := walkRecords(batch[BatchHeaderSize:], func(r record) error {
		if r.offsetDelta != int32(n) || n > int(h.LastOffsetDelta) {
			return fmt.Errorf("%w: record %d has offsetDelta %d, deltas must run 0..%d in order",
				ErrInvalidBatch, n, r.offsetDelta, h.LastOffsetDelta)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n != int(h.NumRecords) {
		return fmt.Errorf("%w: recordCount %d but %d records present", ErrInvalidBatch, h.NumRecords, n)
	}
	return nil
}
