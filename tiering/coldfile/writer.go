package coldfile

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/stratalog/strata/meta"
)

// DefaultRowGroupBytes is the target of uncompressed row data per row group
// (DESIGN.md: ~64 MiB).
const DefaultRowGroupBytes = 64 << 20

// writeBatchRows is how many rows are handed to parquet-go at once.
const writeBatchRows = 1024

// Writer writes Rows to a Parquet file with the cold tier's schema and
// settings: zstd, pages of about 256 KiB, row groups of about rowGroupBytes
// of uncompressed record data, statistics and page index on every column
// (offset and timestamp are what readers prune on). It checks nothing of
// the rows' order: `strata export` writes several partitions into one file.
// FileWriter is the tier file on top of it.
type Writer struct {
	w       *parquet.Writer
	typed   *shredder    // nil: no typed columns
	dec     ValueDecoder // with typed
	scratch parquet.Row
	rgBytes int64
	rgLimit int64
	prs     []parquet.Row
}

// NewWriter writes to out; rowGroupBytes <= 0 means DefaultRowGroupBytes.
func NewWriter(out io.Writer, rowGroupBytes int64) *Writer {
	return newWriter(out, Schema, rowGroupBytes)
}

// NewTypedWriter is NewWriter for a file with typed value columns: each
// non-null value goes through dec.
func NewTypedWriter(out io.Writer, rowGroupBytes int64, dec ValueDecoder) (*Writer, error) {
	l, err := newTypedLayout(dec.Node())
	if err != nil {
		return nil, err
	}
	w := newWriter(out, l.schema, rowGroupBytes)
	w.typed, w.dec = &shredder{l: l}, dec
	return w, nil
}

func newWriter(out io.Writer, schema *parquet.Schema, rowGroupBytes int64) *Writer {
	if rowGroupBytes <= 0 {
		rowGroupBytes = DefaultRowGroupBytes
	}
	w := parquet.NewWriter(out, schema,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.CreatedBy("strata", "", ""),
		parquet.PageBufferSize(256<<10),
	)
	return &Writer{w: w, rgLimit: rowGroupBytes}
}

func rowBytes(r *Row) int64 {
	n := int64(48 + len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		n += int64(8 + len(h.Key) + len(h.Value))
	}
	return n
}

// Add appends one row. Its byte slices must stay unchanged until the next
// Write, Close or the row group's end.
func (w *Writer) Add(r *Row) error {
	// Rows go through Schema.Deconstruct and WriteRows: GenericWriter.Write
	// (parquet-go v0.32.0) sometimes stores a nil optional []byte as empty
	// when rows come in several Write calls, and Kafka tells a null key
	// from an empty one (TestParquetNullsAcrossWrites).
	if w.typed == nil {
		w.prs = append(w.prs, Schema.Deconstruct(nil, r))
	} else {
		w.scratch = Schema.Deconstruct(w.scratch[:0], r)
		pr, err := w.typed.typedRow(nil, w.scratch, w.dec, r.Value)
		if err != nil {
			return fmt.Errorf("offset %d: %w", r.Offset, err)
		}
		w.prs = append(w.prs, pr)
	}
	w.rgBytes += rowBytes(r)
	if len(w.prs) >= writeBatchRows || w.rgBytes >= w.rgLimit {
		if err := w.writeRows(); err != nil {
			return err
		}
	}
	if w.rgBytes >= w.rgLimit {
		if err := w.w.Flush(); err != nil { // ends the row group
			return fmt.Errorf("write parquet row group: %w", err)
		}
		w.rgBytes = 0
	}
	return nil
}

// Write appends rows and hands them to parquet-go (the caller may reuse
// them afterwards).
func (w *Writer) Write(rows []Row) error {
	for i := range rows {
		if err := w.Add(&rows[i]); err != nil {
			return err
		}
	}
	return w.writeRows()
}

func (w *Writer) writeRows() error {
	if len(w.prs) == 0 {
		return nil
	}
	if _, err := w.w.WriteRows(w.prs); err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	clear(w.prs)
	w.prs = w.prs[:0]
	return nil
}

// Close writes the footer, with kv as key-value metadata.
func (w *Writer) Close(kv map[string]string) error {
	if err := w.writeRows(); err != nil {
		return err
	}
	for k, v := range kv {
		w.w.SetKeyValueMetadata(k, v)
	}
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("close parquet file: %w", err)
	}
	return nil
}

// FileWriter writes one tier file: the rows of one partition range, in
// strictly increasing offsets, with the strata.* key-value metadata
// (FileInfo) in the footer.
type FileWriter struct {
	w        *Writer
	info     FileInfo
	nextWant int64 // offsets must increase
	started  bool
}

// NewFileWriter writes the rows of topic's partition to out;
// rowGroupBytes <= 0 means DefaultRowGroupBytes.
func NewFileWriter(out io.Writer, topic string, topicID [16]byte, partition int32, rowGroupBytes int64) *FileWriter {
	return newFileWriter(NewWriter(out, rowGroupBytes), topic, topicID, partition)
}

// NewTypedFileWriter is NewFileWriter with typed value columns decoded by
// dec (nil dec: none).
func NewTypedFileWriter(out io.Writer, topic string, topicID [16]byte, partition int32, rowGroupBytes int64, dec ValueDecoder) (*FileWriter, error) {
	if dec == nil {
		return NewFileWriter(out, topic, topicID, partition, rowGroupBytes), nil
	}
	w, err := NewTypedWriter(out, rowGroupBytes, dec)
	if err != nil {
		return nil, fmt.Errorf("tiering: typed columns of %s-%d: %w", topic, partition, err)
	}
	return newFileWriter(w, topic, topicID, partition), nil
}

func newFileWriter(w *Writer, topic string, topicID [16]byte, partition int32) *FileWriter {
	return &FileWriter{
		w: w,
		info: FileInfo{
			Topic: topic, TopicID: topicID, Partition: partition,
			BaseOffset: -1, LastOffset: -1, MinTimestamp: -1, MaxTimestamp: -1,
		},
	}
}

// Add appends one row; offsets must be strictly increasing.
func (fw *FileWriter) Add(r Row) error {
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
	if err := fw.w.Add(&r); err != nil {
		return fmt.Errorf("tiering: %w", err)
	}
	return nil
}

// Close writes the footer with the key-value metadata; logBytes is how many
// bytes of hot-log record batches the rows came from (strata.log.bytes).
func (fw *FileWriter) Close(logBytes int64) (FileInfo, error) {
	if !fw.started {
		return FileInfo{}, errors.New("tiering: no records to write")
	}
	fw.info.LogBytes = logBytes
	if err := fw.w.Close(fw.info.keyValues()); err != nil {
		return FileInfo{}, fmt.Errorf("tiering: %w", err)
	}
	return fw.info, nil
}
