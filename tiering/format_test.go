package tiering

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/tiering/coldfile"
)

func encodeFile(t testing.TB, rows []coldfile.Row, rowGroupBytes int64) ([]byte, coldfile.FileInfo) {
	t.Helper()
	var buf bytes.Buffer
	fw := coldfile.NewFileWriter(&buf, "orders", [16]byte{1, 2, 3}, rows[0].Partition, rowGroupBytes)
	for _, r := range rows {
		if err := fw.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	info, err := fw.Close(0)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info
}

func TestParquetRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	batches, end := mixedBatches(t, r, 100, 80)
	if _, err := recordbatch.Validate(batches, recordbatch.DefaultMaxDecompressed); err != nil {
		t.Fatalf("test batches invalid: %v", err)
	}
	rows := decodeAll(t, batches, 3)
	if int64(len(rows)) != end-100 || rows[0].Offset != 100 || rows[len(rows)-1].Offset != end-1 {
		t.Fatalf("decoded %d rows [%d, %d], want [100, %d)", len(rows), rows[0].Offset, rows[len(rows)-1].Offset, end)
	}
	data, info := encodeFile(t, rows, 8<<10)
	if info.BaseOffset != 100 || info.LastOffset != end-1 || info.Records != int64(len(rows)) {
		t.Fatalf("file info %+v", info)
	}

	// The file is standard Parquet with the documented schema and metadata.
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"strata.format.version", "strata.topic", "strata.topic.id", "strata.partition", "strata.base.offset", "strata.last.offset", "strata.records", "strata.min.timestamp", "strata.max.timestamp", "strata.leader.epochs"} {
		if v, ok := f.Lookup(k); !ok || v == "" {
			t.Errorf("key-value metadata %s missing", k)
		}
	}
	if len(f.RowGroups()) < 4 {
		t.Errorf("%d row groups, want several", len(f.RowGroups()))
	}
	if len(f.ColumnIndexes()) == 0 || len(f.OffsetIndexes()) == 0 {
		t.Errorf("no page index")
	}
	for _, col := range []string{"offset", "timestamp"} {
		leaf, _ := f.Schema().Lookup(col)
		st := f.Metadata().RowGroups[0].Columns[leaf.ColumnIndex].MetaData.Statistics
		if len(st.MinValue) == 0 || len(st.MaxValue) == 0 {
			t.Errorf("no statistics on %s", col)
		}
	}

	b := localBucket(t)
	key := coldfile.ObjectKey("orders", 3, info.BaseOffset, info.LastOffset)
	if _, err := b.Put(testCtx(t), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	rf, err := coldfile.Open(testCtx(t), b, key, int64(len(data)), coldfile.Options{Cache: coldfile.NewCache(1<<20, m), Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	// Scanning from any offset gives exactly the rows from there on
	// (the decoded segment: every codec, control batches).
	for _, from := range []int64{100, 101, 100 + int64(len(rows))/2, rf.RowGroups()[1].First, rf.RowGroups()[1].First - 1, rf.RowGroups()[2].Last, end - 1} {
		var got []coldfile.Row
		if err := rf.ScanRange(testCtx(t), from, end, func(r *coldfile.Row) error {
			got = append(got, *r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := rows[from-100:]
		if len(got) != len(want) {
			t.Fatalf("scan from %d: %d rows, want %d", from, len(got), len(want))
		}
		for i := range got {
			if err := sameRow(got[i], want[i]); err != nil {
				t.Fatalf("scan from %d: %v", from, err)
			}
		}
	}

	// Rebuilt batches are valid Kafka batches holding exactly the rows.
	bb := newBatchBuilder(1<<30, true)
	for i := range rows {
		if !bb.add(&rows[i]) {
			t.Fatal("builder refused a row with an unlimited budget")
		}
	}
	rebuilt := bb.finish()
	hs, err := recordbatch.Validate(rebuilt, recordbatch.DefaultMaxDecompressed)
	if err != nil {
		t.Fatalf("rebuilt batches invalid: %v", err)
	}
	back := decodeAll(t, rebuilt, 3)
	if len(back) != len(rows) {
		t.Fatalf("rebuilt %d records, want %d", len(back), len(rows))
	}
	for i := range back {
		if err := sameRow(back[i], rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	controls := 0
	for _, h := range hs {
		if h.IsControl() {
			controls++
			if h.NumRecords != 1 || !h.IsTransactional() {
				t.Errorf("control batch at %d: %d records, transactional %v", h.BaseOffset, h.NumRecords, h.IsTransactional())
			}
		}
	}
	if controls == 0 {
		t.Error("no control batch in the rebuilt data")
	}
}

func TestBatchBuilderBudget(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	batches, _ := mixedBatches(t, r, 0, 20)
	rows := decodeAll(t, batches, 0)
	// A budget of one byte still returns one record with minOneBatch,
	// nothing without.
	bb := newBatchBuilder(1, true)
	for i := range rows {
		if !bb.add(&rows[i]) {
			break
		}
	}
	out := bb.finish()
	hs, err := recordbatch.Validate(out, recordbatch.DefaultMaxDecompressed)
	if err != nil || len(hs) != 1 || hs[0].NumRecords != 1 || hs[0].BaseOffset != 0 {
		t.Fatalf("one-byte budget: %d batches, err %v", len(hs), err)
	}
	bb = newBatchBuilder(1, false)
	if bb.add(&rows[0]) || len(bb.finish()) != 0 {
		t.Fatal("one-byte budget without minOneBatch returned data")
	}
	// Budgets are never exceeded otherwise, and every budget makes
	// progress through all rows in order.
	for _, budget := range []int{100, 200, 1000, 5000} {
		next := 0
		for next < len(rows) {
			bb := newBatchBuilder(budget, true)
			for i := next; i < len(rows) && bb.add(&rows[i]); i++ {
			}
			out := bb.finish()
			got := decodeAll(t, out, 0)
			if len(got) == 0 {
				t.Fatalf("budget %d: no progress at row %d", budget, next)
			}
			if len(out) > budget && len(got) > 1 {
				t.Fatalf("budget %d: %d bytes for %d records", budget, len(out), len(got))
			}
			for i := range got {
				if err := sameRow(got[i], rows[next+i]); err != nil {
					t.Fatalf("budget %d: %v", budget, err)
				}
			}
			next += len(got)
		}
	}
}
