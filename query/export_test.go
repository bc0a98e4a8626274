package query_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/query"
	"github.com/stratalog/strata/tiering/coldfile"
)

// exportFile exports topic range [from, to) in format to a file and returns
// its path.
func exportFile(t testing.TB, e *env, topic string, from, to int64, o query.ExportOptions) (string, query.Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := e.planner()
	p, err := q.Plan(ctx, query.Range{Topic: topic, FromOffset: from, ToOffset: to})
	if err != nil {
		t.Fatal(err)
	}
	s, err := q.Scan(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := filepath.Join(t.TempDir(), "out."+o.Format)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := query.Export(s, f, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, st
}

func readParquetRows(t testing.TB, path string) []coldfile.Row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := parquet.NewGenericReader[coldfile.Row](f)
	var out []coldfile.Row
	buf := make([]coldfile.Row, 100)
	for {
		clear(buf)
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func readArrowRows(t testing.TB, path string) []coldfile.Row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []coldfile.Row
	for i := 0; i < r.NumRecords(); i++ {
		rec, err := r.RecordBatch(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rowsOfRecord(rec)...)
	}
	return out
}

func col(rec arrow.RecordBatch, name string) arrow.Array {
	idx := rec.Schema().FieldIndices(name)
	return rec.Column(idx[0])
}

func rowsOfRecord(rec arrow.RecordBatch) []coldfile.Row {
	off := col(rec, query.ColOffset).(*array.Int64)
	ts := col(rec, query.ColTimestamp).(*array.Timestamp)
	key := col(rec, query.ColKey).(*array.Binary)
	val := col(rec, query.ColValue).(*array.Binary)
	hs := col(rec, query.ColHeaders).(*array.List)
	part := col(rec, query.ColPartition).(*array.Int32)
	hst := hs.ListValues().(*array.Struct)
	hk := hst.Field(0).(*array.String)
	hv := hst.Field(1).(*array.Binary)
	var out []coldfile.Row
	cp := func(a *array.Binary, i int) []byte {
		if a.IsNull(i) {
			return nil
		}
		return append([]byte{}, a.Value(i)...)
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		r := coldfile.Row{Offset: off.Value(i), Timestamp: int64(ts.Value(i)), Key: cp(key, i), Value: cp(val, i), Partition: part.Value(i)}
		s, e := hs.ValueOffsets(i)
		for j := s; j < e; j++ {
			r.Headers = append(r.Headers, coldfile.Header{Key: hk.Value(int(j)), Value: cp(hv, int(j))})
		}
		out = append(out, r)
	}
	return out
}

// cellBytes undoes the text/base64 encoding of binary cells in JSON.
func cellBytes(t testing.TB, v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(x)
	case map[string]any:
		b, err := base64.StdEncoding.DecodeString(x["base64"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("cell %T", v)
	return nil
}

func readJSONLRows(t testing.TB, path string) []coldfile.Row {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []coldfile.Row
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		ts, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string))
		if err != nil {
			t.Fatal(err)
		}
		r := coldfile.Row{Offset: int64(m["offset"].(float64)), Timestamp: ts.UnixMilli(), Key: cellBytes(t, m["key"]),
			Value: cellBytes(t, m["value"]), Partition: int32(m["partition"].(float64))}
		for _, h := range m["headers"].([]any) {
			hm := h.(map[string]any)
			r.Headers = append(r.Headers, coldfile.Header{Key: hm["key"].(string), Value: cellBytes(t, hm["value"])})
		}
		out = append(out, r)
	}
	return out
}

func readCSVRows(t testing.TB, path string) []coldfile.Row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]int{}
	for i, h := range all[0] {
		idx[h] = i
	}
	var out []coldfile.Row
	for _, rec := range all[1:] {
		off, _ := strconv.ParseInt(rec[idx["offset"]], 10, 64)
		p, _ := strconv.Atoi(rec[idx["partition"]])
		ts, err := time.Parse(time.RFC3339Nano, rec[idx["timestamp"]])
		if err != nil {
			t.Fatal(err)
		}
		r := coldfile.Row{Offset: off, Timestamp: ts.UnixMilli(), Partition: int32(p), Value: []byte(rec[idx["value"]])}
		// CSV cannot tell a null key from an empty one: both are "".
		if k := rec[idx["key"]]; k != "" {
			r.Key = []byte(k)
		}
		var hs []map[string]any
		if err := json.Unmarshal([]byte(rec[idx["headers"]]), &hs); err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			r.Headers = append(r.Headers, coldfile.Header{Key: h["key"].(string), Value: cellBytes(t, h["value"])})
		}
		out = append(out, r)
	}
	return out
}

// TestExportFormatsColdAndHot exports ranges that span the cold tier and
// the hot log in every format, reads each file back, and compares it
// record by record with what was produced.
func TestExportFormatsColdAndHot(t *testing.T) {
	e := startEnv(t)
	want := coldHot(t, e, "exp", 2, textValue)
	csvWant := map[int32][]rec{}
	for p, rs := range want {
		for _, r := range rs {
			if len(r.key) == 0 {
				r.key = nil
			}
			csvWant[p] = append(csvWant[p], r)
		}
	}
	for _, format := range []string{query.FormatParquet, query.FormatArrow, query.FormatJSONL, query.FormatCSV} {
		for _, rg := range [][2]int64{{-1, -1}, {120, 880}} {
			path, st := exportFile(t, e, "exp", rg[0], rg[1], query.ExportOptions{Format: format})
			if rg[0] < 0 && (st.ColdRows == 0 || st.HotRows == 0) {
				t.Fatalf("%s: %d cold and %d hot rows: want both", format, st.ColdRows, st.HotRows)
			}
			var rows []coldfile.Row
			w := want
			switch format {
			case query.FormatParquet:
				rows = readParquetRows(t, path)
			case query.FormatArrow:
				rows = readArrowRows(t, path)
			case query.FormatJSONL:
				rows = readJSONLRows(t, path)
			case query.FormatCSV:
				rows, w = readCSVRows(t, path), csvWant
			}
			compareRows(t, rows, w, max(rg[0], 0), rg[1])
			t.Logf("%s [%d,%d): %d rows (%d cold, %d hot)", format, rg[0], rg[1], len(rows), st.ColdRows, st.HotRows)
		}
	}
}
