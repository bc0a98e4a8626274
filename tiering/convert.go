package tiering

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/recordbatch"
)

// ErrCorrupt is wrapped by errors about bytes that do not decode: record
// batches of a segment, or a Parquet object.
var ErrCorrupt = errors.New("tiering: corrupt data")

// DecodeBatches calls fn with one Row per record of the concatenated
// RecordBatch v2 bytes b (any compression codec, decompressed within
// recordbatch.DefaultMaxDecompressed), in order. Batches are checked
// (frame, CRC, record count and offset deltas); damage gives an error
// wrapping ErrCorrupt. An error from fn is returned as it is.
func DecodeBatches(b []byte, partition int32, fn func(Row) error) error {
	var hdrs []recordbatch.RecordHeader
	for pos := 0; pos < len(b); {
		h, err := recordbatch.ParseHeader(b[pos:])
		if err != nil {
			return fmt.Errorf("%w: batch at byte %d: %v", ErrCorrupt, pos, err)
		}
		if err := recordbatch.Check(h, b[pos:]); err != nil {
			return fmt.Errorf("%w: batch at byte %d (offset %d): %v", ErrCorrupt, pos, h.BaseOffset, err)
		}
		batch := b[pos : pos+h.Size()]
		var fnErr error
		err = recordbatch.Records(h, batch, recordbatch.DefaultMaxDecompressed, func(r *recordbatch.Record) error {
			row := Row{
				Offset:          r.Offset,
				Timestamp:       r.Timestamp,
				Key:             r.Key,
				Value:           r.Value,
				ProducerID:      h.ProducerID,
				ProducerEpoch:   h.ProducerEpoch,
				Sequence:        sequenceAt(h.BaseSequence, r.OffsetDelta),
				IsTransactional: h.IsTransactional(),
				IsControl:       h.IsControl(),
				Partition:       partition,
				LeaderEpoch:     h.PartitionLeaderEpoch,
				TimestampType:   int8(h.TimestampType()),
			}
			if r.NumHeaders > 0 {
				hdrs = r.AppendHeaders(hdrs[:0])
				row.Headers = make([]Header, len(hdrs))
				for i, hd := range hdrs {
					row.Headers[i] = Header{Key: string(hd.Key), Value: hd.Value}
				}
			}
			fnErr = fn(row)
			return fnErr
		})
		if err != nil {
			if fnErr != nil {
				return fnErr
			}
			return fmt.Errorf("%w: batch at offset %d: %v", ErrCorrupt, h.BaseOffset, err)
		}
		pos += h.Size()
	}
	return nil
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
