package query

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/stratalog/strata/tiering/coldfile"
)

// Formats export writes.
const (
	FormatParquet = "parquet"
	FormatArrow   = "arrow" // Arrow IPC file format
	FormatJSONL   = "jsonl"
	FormatCSV     = "csv"
)

// ExportOptions say how to write a scan.
type ExportOptions struct {
	Format string
	// ValueJSON projects JSON values into typed columns (see ValueSchema);
	// ValueSchema gives the fields, else they are inferred from the first
	// SampleRows rows (default 1000).
	ValueJSON   bool
	ValueSchema *ValueSchema
	SampleRows  int
	// Progress, if set, is called after every batch written.
	Progress func(Stats)
}

// CheckFormat reports whether f is a format Export writes.
func CheckFormat(f string) error {
	switch f {
	case FormatParquet, FormatArrow, FormatJSONL, FormatCSV:
		return nil
	}
	return fmt.Errorf("unknown format %q: want parquet, arrow, jsonl or csv", f)
}

type batchWriter interface {
	write(rows []coldfile.Row) error
	close() error
}

// Export writes everything s yields to w and returns the scan's stats.
// The scanner must have been opened with all columns.
func Export(s *Scanner, w io.Writer, o ExportOptions) (Stats, error) {
	if err := CheckFormat(o.Format); err != nil {
		return Stats{}, err
	}
	var pending [][]coldfile.Row
	var proj *jsonProjector
	if o.ValueJSON {
		vs := o.ValueSchema
		if vs == nil {
			n := o.SampleRows
			if n <= 0 {
				n = 1000
			}
			var sample []coldfile.Row
			for len(sample) < n {
				rows, err := s.NextRows()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return s.Stats(), err
				}
				pending = append(pending, rows)
				sample = append(sample, rows...)
			}
			vs = InferValueSchema(sample[:min(n, len(sample))])
		}
		proj = newJSONProjector(s.cfg.Allocator, vs)
	}
	bw, err := newBatchWriter(s, w, o.Format, proj)
	if err != nil {
		return s.Stats(), err
	}
	put := func(rows []coldfile.Row) error {
		if err := bw.write(rows); err != nil {
			return err
		}
		if o.Progress != nil {
			o.Progress(s.Stats())
		}
		return nil
	}
	for _, rows := range pending {
		if err := put(rows); err != nil {
			return s.Stats(), err
		}
	}
	for {
		rows, err := s.NextRows()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s.Stats(), err
		}
		if err := put(rows); err != nil {
			return s.Stats(), err
		}
	}
	if err := bw.close(); err != nil {
		return s.Stats(), err
	}
	return s.Stats(), nil
}

func newBatchWriter(s *Scanner, w io.Writer, format string, proj *jsonProjector) (batchWriter, error) {
	build := func(rows []coldfile.Row) arrow.RecordBatch {
		if proj != nil {
			return proj.build(rows)
		}
		rb := newRecordBuilder(s.cfg.Allocator, s.schema)
		defer rb.release()
		for i := range rows {
			rb.add(&rows[i])
		}
		return rb.build()
	}
	schema := s.schema
	if proj != nil {
		schema = proj.schema
	}
	switch format {
	case FormatParquet:
		if proj == nil && len(schema.Fields()) == len(allFields) {
			return &rowParquetWriter{w: coldfile.NewWriter(w, 0), topic: s.plan.Topic}, nil
		}
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithStats(true),
			parquet.WithCreatedBy("strata"))
		fw, err := pqarrow.NewFileWriter(schema, struct{ io.Writer }{w}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
		if err != nil {
			return nil, err
		}
		return &arrowWriter{build: build, put: fw.WriteBuffered, closeFn: fw.Close}, nil
	case FormatArrow:
		fw, err := ipc.NewFileWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(s.cfg.Allocator))
		if err != nil {
			return nil, err
		}
		return &arrowWriter{build: build, put: fw.Write, closeFn: fw.Close}, nil
	case FormatJSONL:
		bw := bufio.NewWriterSize(w, 1<<20)
		return &arrowWriter{build: build, put: func(rec arrow.RecordBatch) error { return writeJSONL(bw, rec) }, closeFn: bw.Flush}, nil
	case FormatCSV:
		bw := bufio.NewWriterSize(w, 1<<20)
		cw := csv.NewWriter(bw)
		header := make([]string, len(schema.Fields()))
		for i, f := range schema.Fields() {
			header[i] = f.Name
		}
		if err := cw.Write(header); err != nil {
			return nil, err
		}
		return &arrowWriter{build: build, put: func(rec arrow.RecordBatch) error { return writeCSV(cw, rec) },
			closeFn: func() error {
				cw.Flush()
				if err := cw.Error(); err != nil {
					return err
				}
				return bw.Flush()
			}}, nil
	}
	return nil, CheckFormat(format)
}

type rowParquetWriter struct {
	w     *coldfile.Writer
	topic string
}

func (p *rowParquetWriter) write(rows []coldfile.Row) error { return p.w.Write(rows) }
func (p *rowParquetWriter) close() error {
	return p.w.Close(map[string]string{"strata.topic": p.topic, "strata.export": "1"})
}

type arrowWriter struct {
	build   func([]coldfile.Row) arrow.RecordBatch
	put     func(arrow.RecordBatch) error
	closeFn func() error
}

func (a *arrowWriter) write(rows []coldfile.Row) error {
	rec := a.build(rows)
	defer rec.Release()
	return a.put(rec)
}
func (a *arrowWriter) close() error { return a.closeFn() }

// jsonCell is the JSON form of one cell: binary as text when it is UTF-8,
// else {"base64": "..."}; timestamps as RFC 3339 (milliseconds, UTC); lists
// and structs recursively.
func jsonCell(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Binary:
		return bytesCell(a.Value(i))
	case *array.String:
		return a.Value(i)
	case *array.Timestamp:
		return time.UnixMilli(int64(a.Value(i))).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case *array.List:
		s, e := a.ValueOffsets(i)
		out := make([]any, 0, e-s)
		for j := s; j < e; j++ {
			out = append(out, jsonCell(a.ListValues(), int(j)))
		}
		return out
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		m := make(map[string]any, a.NumField())
		for f := 0; f < a.NumField(); f++ {
			m[st.Field(f).Name] = jsonCell(a.Field(f), i)
		}
		return m
	default:
		return arr.GetOneForMarshal(i)
	}
}

func bytesCell(b []byte) any {
	if utf8.Valid(b) {
		return string(b)
	}
	return map[string]string{"base64": base64.StdEncoding.EncodeToString(b)}
}

func writeJSONL(w *bufio.Writer, rec arrow.RecordBatch) error {
	fields := rec.Schema().Fields()
	row := make(map[string]any, len(fields))
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := 0; i < int(rec.NumRows()); i++ {
		for c, f := range fields {
			row[f.Name] = jsonCell(rec.Column(c), i)
		}
		if err := enc.Encode(orderedRow{fields, row}); err != nil {
			return err
		}
	}
	return nil
}

// orderedRow marshals a row's cells in schema order.
type orderedRow struct {
	fields []arrow.Field
	cells  map[string]any
}

func (o orderedRow) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range o.fields {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(f.Name)
		b = append(b, k...)
		b = append(b, ':')
		v, err := json.Marshal(o.cells[f.Name])
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

func writeCSV(w *csv.Writer, rec arrow.RecordBatch) error {
	rec0 := make([]string, rec.NumCols())
	for i := 0; i < int(rec.NumRows()); i++ {
		for c := range rec0 {
			rec0[c] = csvCell(rec.Column(c), i)
		}
		if err := w.Write(rec0); err != nil {
			return err
		}
	}
	return nil
}

// csvCell: empty for null, text for UTF-8 bytes (else "base64:..."),
// RFC 3339 timestamps, JSON for lists and structs.
func csvCell(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return ""
	}
	switch a := arr.(type) {
	case *array.Binary:
		if b := a.Value(i); utf8.Valid(b) {
			return string(b)
		} else {
			return "base64:" + base64.StdEncoding.EncodeToString(b)
		}
	case *array.String:
		return a.Value(i)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.List, *array.Struct:
		b, _ := json.Marshal(jsonCell(arr, i))
		return string(b)
	default:
		v := jsonCell(arr, i)
		if s, ok := v.(string); ok {
			return s
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
}
