package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of the header: everything before the records.
const HeaderSize = 61

// Byte offsets of the header fields (docs/format/recordbatch.md). Only this
// package reads or writes a batch by offset.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
)

const (
	// lengthOverhead is the part of a batch not counted in its length
	// field: baseOffset and the length itself.
	lengthOverhead = offLeaderEpoch
	// MinLength is the smallest legal batchLength: a header and no
	// records.
	MinLength = HeaderSize - lengthOverhead
	// Magic is the only supported magic byte.
	Magic = 2
)

var (
	// ErrCorrupt means bytes that do not form a record batch: short, bad
	// length, CRC mismatch, records that do not decode or decompress.
	// Errors wrap it with detail. A broker answers CORRUPT_MESSAGE.
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrInvalid means a well-formed batch that is not acceptable: magic
	// other than 2, unknown compression codec, a record count or offset
	// deltas that do not match the header. A broker answers
	// INVALID_RECORD.
	ErrInvalid = errors.New("invalid record batch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Codec is a compression codec, the low three attribute bits.
type Codec int8

// The codecs of Kafka's batch attributes.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// TimestampType says whose clock a batch's timestamps are: the producer's
// (CreateTime) or the broker's (LogAppendTime).
type TimestampType int8

// The timestamp types, as Kafka numbers them.
const (
	CreateTime    TimestampType = 0
	LogAppendTime TimestampType = 1
)

// Attributes is the header's attributes field.
type Attributes int16

// The attribute bits.
const (
	attrCodecMask     Attributes = 0x07
	attrLogAppendTime Attributes = 0x08
	attrTransactional Attributes = 0x10
	attrControl       Attributes = 0x20
	// attrDeleteHorizon (KIP-534): baseTimestamp holds the time after
	// which the log cleaner may remove the batch's tombstones; record
	// timestamps stay baseTimestamp + timestampDelta.
	attrDeleteHorizon Attributes = 0x40
)

// NewAttributes builds the attributes field.
func NewAttributes(c Codec, ts TimestampType, transactional, control bool) Attributes {
	a := Attributes(c) & attrCodecMask
	if ts == LogAppendTime {
		a |= attrLogAppendTime
	}
	if transactional {
		a |= attrTransactional
	}
	if control {
		a |= attrControl
	}
	return a
}

// Compression is the codec of the records area.
func (a Attributes) Compression() Codec { return Codec(a & attrCodecMask) }

// TimestampType is LogAppendTime if bit 3 is set.
func (a Attributes) TimestampType() TimestampType {
	if a&attrLogAppendTime != 0 {
		return LogAppendTime
	}
	return CreateTime
}

// LogAppendTime reports whether the timestamps are the broker's.
func (a Attributes) LogAppendTime() bool { return a&attrLogAppendTime != 0 }

// IsTransactional reports bit 4: the batch belongs to a transaction.
func (a Attributes) IsTransactional() bool { return a&attrTransactional != 0 }

// IsControl reports bit 5: the batch holds a control record (a transaction
// marker), not data.
func (a Attributes) IsControl() bool { return a&attrControl != 0 }

// HasDeleteHorizon reports bit 6 (KIP-534): the log cleaner has seen the
// batch's tombstones, and baseTimestamp is the delete horizon.
func (a Attributes) HasDeleteHorizon() bool { return a&attrDeleteHorizon != 0 }

// Header is the decoded 61-byte header. Its attribute accessors
// (Compression, LogAppendTime, ...) are promoted from Attributes.
type Header struct {
	BaseOffset           int64
	Length               int32 // batchLength: the bytes after this field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// DeleteHorizon is the time (ms) after which the log cleaner may drop the
// batch's tombstones, if the cleaner has set one (KIP-534).
func (h Header) DeleteHorizon() (int64, bool) {
	if !h.HasDeleteHorizon() {
		return 0, false
	}
	return h.BaseTimestamp, true
}

// Size is the number of bytes of the whole batch.
func (h Header) Size() int { return lengthOverhead + int(h.Length) }

// ParseHeader decodes the first HeaderSize bytes of b. It checks nothing but
// the length of b: ErrCorrupt if b is shorter than a header.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrCorrupt, len(b), HeaderSize)
	}
	be := binary.BigEndian
	return Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           Attributes(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}, nil
}

// Put writes every field of h, as it is (the CRC too), into the first
// HeaderSize bytes of b. After changing a field inside the CRC, call SetCRC.
func (h Header) Put(b []byte) {
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offLength:], uint32(h.Length))
	be.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = byte(h.Magic)
	be.PutUint32(b[offCRC:], h.CRC)
	be.PutUint16(b[offAttributes:], uint16(h.Attributes))
	be.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offNumRecords:], uint32(h.NumRecords))
}

// SetBaseOffset rewrites a batch's baseOffset (outside the CRC).
func SetBaseOffset(batch []byte, offset int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch rewrites a batch's partitionLeaderEpoch (outside
// the CRC).
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// Checksum computes the CRC-32C a batch carries: over its bytes from the
// attributes to the end. batch must be one whole batch.
func Checksum(batch []byte) uint32 {
	return crc32.Checksum(batch[offAttributes:], castagnoli)
}

// SetCRC recomputes and stores the CRC of one whole batch.
func SetCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[offCRC:], Checksum(batch))
}

// CheckFrame checks what a reader of stored bytes needs before trusting a
// header: a batchLength that covers the header and fits in avail bytes, and
// magic 2. It does not check the CRC. Failures wrap ErrCorrupt.
func CheckFrame(h Header, avail int64) error {
	if h.Length < MinLength {
		return fmt.Errorf("%w: batchLength %d below minimum %d", ErrCorrupt, h.Length, MinLength)
	}
	if int64(h.Size()) > avail {
		return fmt.Errorf("%w: batch of %d bytes but only %d available", ErrCorrupt, h.Size(), avail)
	}
	if h.Magic != Magic {
		return fmt.Errorf("%w: magic %d, want %d", ErrCorrupt, h.Magic, Magic)
	}
	return nil
}
