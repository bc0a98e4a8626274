package coldfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// fakeDecoder decodes "n:<int>" values into {n, tags, attrs, inner{d}};
// anything else is an error.
type fakeDecoder struct{}

func (fakeDecoder) Node() parquet.Node {
	return parquet.Group{
		"n":     parquet.Optional(parquet.Int(64)),
		"tags":  parquet.Optional(parquet.List(parquet.Optional(parquet.String()))),
		"attrs": parquet.Optional(parquet.Map(parquet.String(), parquet.Optional(parquet.Int(32)))),
		"inner": parquet.Optional(parquet.Group{"d": parquet.Optional(parquet.Date())}),
	}
}

func (fakeDecoder) Decode(v []byte) (any, int32, error) {
	switch string(v) {
	case "shape":
		return map[string]any{"n": "not an int64"}, 1, nil
	case "down":
		return nil, -1, fmt.Errorf("registry: %w", ErrDecoderUnavailable)
	}
	var n int64
	if _, err := fmt.Sscanf(string(v), "n:%d", &n); err != nil {
		return nil, -1, errors.New("not n:<int>")
	}
	tags := make([]any, n%3)
	for i := range tags {
		tags[i] = fmt.Sprint("t", i)
	}
	m := map[string]any{"n": n, "tags": tags, "inner": map[string]any{"d": int32(n)}}
	if n%2 == 0 {
		m["attrs"] = []MapEntry{{Key: "a", Value: int32(n)}, {Key: "b", Value: nil}}
	}
	return m, int32(n % 5), nil
}

// TestTypedFileReadsAsRows: a file with typed columns reads back through
// the cold read path as exactly the rows written (the typed columns are
// ignored), values that do not decode included.
func TestTypedFileReadsAsRows(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(7, 7)), 100, 3000)
	for i := range rows {
		if rows[i].Value != nil && i%3 > 0 {
			rows[i].Value = fmt.Appendf(nil, "n:%d", i)
		}
	}
	var buf bytes.Buffer
	fw, err := NewTypedFileWriter(&buf, "orders", [16]byte{1}, 3, 16<<10, fakeDecoder{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := fw.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fw.Close(1000); err != nil {
		t.Fatal(err)
	}
	b := localBucket(t)
	if _, err := b.Put(testCtx(t), "f.parquet", bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	rf, err := Open(testCtx(t), b, "f.parquet", int64(buf.Len()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []Row
	if err := rf.ScanRange(testCtx(t), 0, 1<<62, func(r *Row) error { got = append(got, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "typed file", got, rows)
}

// TestTypedFileErrors: a value whose decoding does not fit its column gets
// value_error (the writer does not fail); an unavailable decoder fails the
// file.
func TestTypedFileErrors(t *testing.T) {
	var buf bytes.Buffer
	fw, err := NewTypedFileWriter(&buf, "orders", [16]byte{1}, 0, 0, fakeDecoder{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"n:4", "shape", "junk"} {
		if err := fw.Add(Row{Offset: int64(i), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fw.Close(1); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	errCol, _ := f.Schema().Lookup(ColValueError)
	rows := make([]parquet.Row, 3)
	rr := f.RowGroups()[0].Rows()
	n, _ := rr.ReadRows(rows)
	rr.Close()
	var got []string
	for _, r := range rows[:n] {
		for _, v := range r {
			if v.Column() == errCol.ColumnIndex {
				got = append(got, v.String())
			}
		}
	}
	if len(got) != 3 || !rowsNull(rows[0], errCol.ColumnIndex) || !strings.Contains(got[1], "n (INT64) got string") || got[2] != "not n:<int>" {
		t.Fatalf("value_error column: %q", got)
	}

	fw, err = NewTypedFileWriter(io.Discard, "orders", [16]byte{1}, 0, 0, fakeDecoder{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Add(Row{Offset: 0, Value: []byte("down")}); !errors.Is(err, ErrDecoderUnavailable) {
		t.Fatalf("unavailable decoder: %v, want ErrDecoderUnavailable", err)
	}
}

func rowsNull(r parquet.Row, col int) bool {
	for _, v := range r {
		if v.Column() == col {
			return v.IsNull()
		}
	}
	return false
}
