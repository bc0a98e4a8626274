package coldfile

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestScanPages: reads of a large row group by pages, from many offsets and
// with many budgets, give exactly the rows a whole-row-group scan gives
// (null and empty keys, headers: a repeated column), and need no read
// beyond the pages they load.
func TestScanPages(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rows := randomRows(r, 0, 30000)
	for i := range rows {
		if rows[i].Value != nil { // incompressible: the value column decides the pages
			rows[i].Value = make([]byte, r.IntN(200))
			for k := range rows[i].Value {
				rows[i].Value[k] = byte(r.Uint32())
			}
		}
	}
	data, info := encodeFile(t, rows, 0)
	b := localBucket(t)
	key := ObjectKey("orders", 3, info.BaseOffset, info.LastOffset)
	if _, err := b.Put(testCtx(t), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rf, err := Open(testCtx(t), b, key, int64(len(data)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rf.RowGroups()) != 1 || !rf.PagedRead(0, 16<<10) {
		t.Fatalf("%d row groups, paged read %v: want one large row group read by pages", len(rf.RowGroups()), rf.PagedRead(0, 16<<10))
	}
	rgBytes := rf.RowGroups()[0].End - rf.RowGroups()[0].Start
	for _, from := range []int64{0, 1, 999, 12345, 29990, 29999} {
		for _, budget := range []int64{1, 8 << 10, 100 << 10} {
			var got []Row
			var n int64
			next, err := rf.ScanPages(testCtx(t), 0, from, budget, func(r *Row) error {
				got = append(got, *r)
				n += int64(len(r.Value))
				if n >= budget {
					return ErrStop
				}
				return nil
			})
			if err != nil && !errors.Is(err, ErrStop) {
				t.Fatalf("from %d budget %d: %v", from, budget, err)
			}
			if len(got) == 0 || next <= from {
				t.Fatalf("from %d budget %d: %d rows, next %d", from, budget, len(got), next)
			}
			for k, r := range got {
				if err := DiffRows(r, rows[from+int64(k)]); err != nil {
					t.Fatalf("from %d budget %d row %d: %v", from, budget, k, err)
				}
			}
			if n := rf.strayReads.Load(); n > 0 {
				t.Fatalf("from %d budget %d: %d reads outside the pages loaded", from, budget, n)
			}
		}
	}
	// Scanning on window by window reads every row once, in order.
	from, seen := int64(0), 0
	for from <= info.LastOffset {
		next, err := rf.ScanPages(testCtx(t), 0, from, 50<<10, func(r *Row) error {
			if err := DiffRows(*r, rows[r.Offset]); err != nil || r.Offset != from+int64(seenSince(&seen, from, r.Offset)) {
				t.Fatalf("offset %d: %v", r.Offset, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		from = next
	}
	if seen != len(rows) {
		t.Fatalf("%d rows scanned by windows, want %d", seen, len(rows))
	}
	t.Logf("row group of %d bytes, %d GETs in all", rgBytes, rf.Gets())
}

// seenSince counts a row and returns its distance from the window start.
func seenSince(seen *int, from, off int64) int {
	*seen++
	return int(off - from)
}
