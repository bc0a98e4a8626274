package tiering

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
)

// ErrCorrupt is wrapped by errors about bytes that do not decode: record
// batches of a segment, or a Parquet object.
var ErrCorrupt = errors.New("tiering: corrupt data")

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

// DefaultRowGroupBytes is the target of uncompressed row data per row group
// (DESIGN.md: ~64 MiB).
const DefaultRowGroupBytes = 64 << 20

// fileWriter writes the rows of one partition range to a Parquet file:
// zstd, row groups of about rowGroupBytes, statistics and page index on
// every column (offset and timestamp are what readers prune on).
type fileWriter struct {
	w        *parquet.GenericWriter[Row]
	info     FileInfo
	rgBytes  int64
	rgLimit  int64
	buf      []Row
	prs      []parquet.Row
	nextWant int64 // offsets must increase
	started  bool
}

func newFileWriter(out io.Writer, topic string, topicID [16]byte, partition int32, rowGroupBytes int64) *fileWriter {
	if rowGroupBytes <= 0 {
		rowGroupBytes = DefaultRowGroupBytes
	}
	w := parquet.NewGenericWriter[Row](out,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.CreatedBy("strata", "", ""),
		parquet.PageBufferSize(256<<10),
	)
	return &fileWriter{
		w:       w,
		rgLimit: rowGroupBytes,
		info: FileInfo{
			Topic: topic, TopicID: topicID, Partition: partition,
			BaseOffset: -1, LastOffset: -1, MinTimestamp: -1, MaxTimestamp: -1,
		},
	}
}

func rowBytes(r *Row) int64 {
	n := int64(48 + len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		n += int64(8 + len(h.Key) + len(h.Value))
	}
	return n
}

// add appends one row; offsets must be strictly increasing.
func (fw *fileWriter) add(r Row) error {
	if fw.started && r.Offset < fw.nextWant {
		return fmt.Errorf("tiering: row offset %d after %d: offsets must increase", r.Offset, fw.nextWant-1)
	}
	fi := &fw.info
	if !fw.started {
		fi.BaseOffset = r.Offset
		fw.started = true
	}
	fw.nextWant = r.Offset + 1
	fi.LastOffset = r.Offset
	fi.Records++
	if r.Timestamp >= 0 {
		if fi.MinTimestamp < 0 || r.Timestamp < fi.MinTimestamp {
			fi.MinTimestamp = r.Timestamp
		}
		if r.Timestamp > fi.MaxTimestamp {
			fi.MaxTimestamp = r.Timestamp
		}
	}
	if n := len(fi.LeaderEpochs); n == 0 || fi.LeaderEpochs[n-1].Epoch != r.LeaderEpoch {
		fi.LeaderEpochs = append(fi.LeaderEpochs, meta.TierEpoch{Epoch: r.LeaderEpoch, StartOffset: r.Offset})
	}
	fw.buf = append(fw.buf, r)
	fw.rgBytes += rowBytes(&r)
	if len(fw.buf) >= 1024 || fw.rgBytes >= fw.rgLimit {
		if err := fw.flushRows(); err != nil {
			return err
		}
	}
	if fw.rgBytes >= fw.rgLimit {
		if err := fw.w.Flush(); err != nil { // ends the row group
			return fmt.Errorf("tiering: write parquet row group: %w", err)
		}
		fw.rgBytes = 0
	}
	return nil
}

func (fw *fileWriter) flushRows() error {
	if len(fw.buf) == 0 {
		return nil
	}
	// Rows go through Schema.Deconstruct and WriteRows: GenericWriter.Write
	// (parquet-go v0.32.0) sometimes stores a nil optional []byte as empty
	// when rows come in several Write calls, and Kafka tells a null key
	// from an empty one (TestParquetNullsAcrossWrites).
	fw.prs = fw.prs[:0]
	for i := range fw.buf {
		fw.prs = append(fw.prs, rowSchema.Deconstruct(nil, &fw.buf[i]))
	}
	if _, err := fw.w.WriteRows(fw.prs); err != nil {
		return fmt.Errorf("tiering: write parquet rows: %w", err)
	}
	clear(fw.buf)
	fw.buf = fw.buf[:0]
	clear(fw.prs)
	return nil
}

var rowSchema = parquet.SchemaOf(Row{})

// close writes the footer with the key-value metadata.
func (fw *fileWriter) close() (FileInfo, error) {
	if !fw.started {
		return FileInfo{}, errors.New("tiering: no records to write")
	}
	if err := fw.flushRows(); err != nil {
		return FileInfo{}, err
	}
	for k, v := range fw.info.keyValues() {
		fw.w.SetKeyValueMetadata(k, v)
	}
	if err := fw.w.Close(); err != nil {
		return FileInfo{}, fmt.Errorf("tiering: close parquet file: %w", err)
	}
	return fw.info, nil
}
