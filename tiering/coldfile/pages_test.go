package coldfile

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
)

// largeRowGroup stores n random rows with incompressible values (the value
// column decides the pages) in one row group and opens the file.
func largeRowGroup(t *testing.T, n int, opts Options) ([]Row, *File) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, uint64(n)))
	rows := randomRows(r, 0, n)
	for i := range rows {
		if rows[i].Value != nil {
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
	rf, err := Open(testCtx(t), b, key, int64(len(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rows, rf
}

// TestScanPages: reads of a large row group by pages, from many offsets and
// with many budgets, give exactly the rows a whole-row-group scan gives
// (null and empty keys, headers: a repeated column), and need no read
// beyond the pages they load.
func TestScanPages(t *testing.T) {
	rows, rf := largeRowGroup(t, 30000, Options{})
	info := rf.Info()
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

// TestReadBudget: the bytes a Cache's Files read at once are bounded by its
// size: while other reads hold the whole budget, a paged scan waits (here:
// gives up with its context) without sending a GET.
func TestReadBudget(t *testing.T) {
	cache := NewCache(4<<20, nil)
	_, rf := largeRowGroup(t, 20000, Options{Cache: cache})
	release, err := cache.reserve(testCtx(t), 4<<20) // other reads hold it all
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(testCtx(t))
	cancel()
	gets := rf.Gets()
	if _, err := rf.ScanPages(done, 0, 0, 8<<10, func(*Row) error { return ErrStop }); !errors.Is(err, context.Canceled) {
		t.Fatalf("paged scan over budget: %v, want it waiting", err)
	}
	if rf.Gets() != gets {
		t.Fatalf("%d GETs sent over budget", rf.Gets()-gets)
	}
	release()
	if _, err := rf.ScanPages(testCtx(t), 0, 0, 8<<10, func(*Row) error { return ErrStop }); !errors.Is(err, ErrStop) {
		t.Fatalf("paged scan within budget: %v", err)
	}
	if err := rf.LoadRowGroup(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
}
