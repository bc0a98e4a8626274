package tiering

import (
	"fmt"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/tiering/coldfile"
)

// ErrCorrupt is wrapped by errors about bytes that do not decode: record
// batches of a segment, or a Parquet object (it is coldfile.ErrCorrupt).
var ErrCorrupt = coldfile.ErrCorrupt

var (
	decompOnce sync.Once
	decomp     kgo.Decompressor
)

func decompressor() kgo.Decompressor {
	decompOnce.Do(func() { decomp = kgo.DefaultDecompressor() })
	return decomp
}

// Record-batch attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// DecodeBatches calls fn with one Row per record of the concatenated
// RecordBatch v2 bytes b (any compression codec), in order. Batches are
// checked (frame, CRC, record count and offset deltas); damage gives an
// error wrapping ErrCorrupt.
func DecodeBatches(b []byte, partition int32, fn func(Row) error) error {
	for pos := 0; pos < len(b); {
		h, err := hotlog.ParseBatchHeader(b[pos:])
		if err != nil {
			return fmt.Errorf("%w: batch at byte %d: %v", ErrCorrupt, pos, err)
		}
		if h.Size() > len(b)-pos || h.Length < hotlog.BatchHeaderSize-12 {
			return fmt.Errorf("%w: batch at byte %d: length %d with %d bytes left", ErrCorrupt, pos, h.Length, len(b)-pos)
		}
		batch := b[pos : pos+h.Size()]
		if _, err := hotlog.ValidateBatches(batch); err != nil {
			return fmt.Errorf("%w: batch at offset %d: %v", ErrCorrupt, h.BaseOffset, err)
		}
		if err := decodeBatch(h, batch, partition, fn); err != nil {
			return err
		}
		pos += h.Size()
	}
	return nil
}

func decodeBatch(h hotlog.BatchHeader, batch []byte, partition int32, fn func(Row) error) error {
	area := batch[hotlog.BatchHeaderSize:]
	if c := h.Compression(); c != hotlog.CompressionNone {
		var err error
		area, err = decompressor().Decompress(area, kgo.CompressionCodecType(c))
		if err != nil {
			return fmt.Errorf("%w: batch at offset %d: decompress: %v", ErrCorrupt, h.BaseOffset, err)
		}
	}
	tsType := int8(0)
	if h.Attributes&attrLogAppendTime != 0 {
		tsType = 1
	}
	n := int32(0)
	for len(area) > 0 {
		l, k := varint(area)
		if k <= 0 || l <= 0 || int64(len(area)-k) < l {
			return fmt.Errorf("%w: batch at offset %d: record %d: bad length", ErrCorrupt, h.BaseOffset, n)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(area[:k+int(l)]); err != nil {
			return fmt.Errorf("%w: batch at offset %d: record %d: %v", ErrCorrupt, h.BaseOffset, n, err)
		}
		area = area[k+int(l):]
		if rec.OffsetDelta != n || n > h.LastOffsetDelta {
			return fmt.Errorf("%w: batch at offset %d: record %d has offset delta %d", ErrCorrupt, h.BaseOffset, n, rec.OffsetDelta)
		}
		row := Row{
			Offset:          h.BaseOffset + int64(rec.OffsetDelta),
			Timestamp:       h.FirstTimestamp + rec.TimestampDelta64,
			Key:             rec.Key,
			Value:           rec.Value,
			ProducerID:      h.ProducerID,
			ProducerEpoch:   h.ProducerEpoch,
			Sequence:        sequenceAt(h.BaseSequence, rec.OffsetDelta),
			IsTransactional: h.Attributes&attrTransactional != 0,
			IsControl:       h.Attributes&attrControl != 0,
			Partition:       partition,
			LeaderEpoch:     h.PartitionLeaderEpoch,
			TimestampType:   tsType,
		}
		if tsType == 1 {
			row.Timestamp = h.MaxTimestamp
		}
		if len(rec.Headers) > 0 {
			row.Headers = make([]Header, len(rec.Headers))
			for i, hd := range rec.Headers {
				row.Headers[i] = Header{Key: hd.Key, Value: hd.Value}
			}
		}
		if err := fn(row); err != nil {
			return err
		}
		n++
	}
	if n != h.NumRecords {
		return fmt.Errorf("%w: batch at offset %d: %d records, header says %d", ErrCorrupt, h.BaseOffset, n, h.NumRecords)
	}
	return nil
}

func varint(b []byte) (int64, int) {
	var x uint64
	var s uint
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		if c < 0x80 {
			x |= uint64(c) << s
			return int64(x>>1) ^ -int64(x&1), i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}

// sequenceAt is the sequence number of the record delta places after a
// batch's base sequence: it wraps from MaxInt32 to 0, as Kafka's does. No
// sequence (-1) stays -1.
func sequenceAt(base int32, delta int32) int32 {
	if base < 0 {
		return -1
	}
	s := int64(base) + int64(delta)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}
