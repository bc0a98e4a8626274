package hotlog

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1024
	cfg.IndexIntervalBytes = 256
	cfg.SegmentAge = 0
	cfg.RetentionAge = -1
	cfg.RetentionBytes = -1
	return cfg
}

// fill appends n batches of varying shape (1..5 records, 10..150 byte values)
// and returns what was written.
func fill(tb testing.TB, l *Log, n int, ts int64) *appended {
	tb.Helper()
	a := &appended{}
	for i := 0; i < n; i++ {
		mustAppend(tb, l, simpleBatch(tb, ts+int64(i)*10, 1+i%5, 10+(i*37)%140), 0, a)
	}
	return a
}

func TestEmptyLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p-0")
	l := openLog(t, dir, smallConfig())
	defer l.Close()
	if l.LogStartOffset() != 0 || l.LogEndOffset() != 0 || l.LatestEpoch() != -1 {
		t.Fatalf("empty log: start %d end %d epoch %d", l.LogStartOffset(), l.LogEndOffset(), l.LatestEpoch())
	}
	if b, err := l.Read(0, math.MaxInt64, 1000, true); b != nil || err != nil {
		t.Fatalf("read empty: %v %v", b, err)
	}
	if _, err := l.Read(1, math.MaxInt64, 1000, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
	if _, _, found, err := l.MaxTimestamp(); found || err != nil {
		t.Fatalf("max timestamp of empty log: %v %v", found, err)
	}
	if _, _, found, err := l.OffsetForTimestamp(0); found || err != nil {
		t.Fatalf("offset for timestamp of empty log: %v %v", found, err)
	}
	if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatalf("EndOffsetForEpoch on empty: %d %d", e, o)
	}
	if err := l.FlushUpTo(100); err != nil {
		t.Fatal(err)
	}
	if segs := l.Segments(); len(segs) != 1 || segs[0].BaseOffset != 0 || segs[0].Sealed {
		t.Fatalf("segments: %+v", segs)
	}
}

func TestAppendReadAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig())
	a := fill(t, l, 200, 1_000_000)
	leo := l.LogEndOffset()
	check := func(l *Log) {
		t.Helper()
		if got := len(l.Segments()); got < 20 {
			t.Fatalf("only %d segments", got)
		}
		for _, s := range l.Segments() {
			if s.Sealed && s.Size > 1024 {
				t.Fatalf("segment %d has %d bytes", s.BaseOffset, s.Size)
			}
		}
		for off := int64(0); off < leo; off++ {
			got := readAll(t, l, off)
			if want := a.from(off, math.MaxInt64); !bytes.Equal(got, want) {
				t.Fatalf("read from %d: %d bytes, want %d", off, len(got), len(want))
			}
		}
		if got := readAll(t, l, leo); got != nil {
			t.Fatalf("read at end: %d bytes", len(got))
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean-shutdown marker: %v", err)
	}
	l = openLog(t, dir, smallConfig())
	defer l.Close()
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("marker still there after open: %v", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("reopened LEO %d, want %d", l.LogEndOffset(), leo)
	}
	check(l)
	info := mustAppend(t, l, simpleBatch(t, 5, 2, 5), 0, nil)
	if info.FirstOffset != leo || info.LastOffset != leo+1 {
		t.Fatalf("append after reopen: %+v", info)
	}
}

func TestAppendAssignsOffsetsAndEpoch(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig())
	defer l.Close()
	b1 := simpleBatch(t, 100, 3, 5)
	b2 := simpleBatch(t, 300, 2, 5)
	b3 := simpleBatch(t, 200, 1, 5)
	info, err := l.Append(concat(b1, b2, b3), nil, 4, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := AppendInfo{FirstOffset: 0, LastOffset: 5, MaxTimestamp: 301, MaxTimestampOffset: 3}
	if info != want {
		t.Fatalf("info %+v, want %+v", info, want)
	}
	hs := headersOf(t, readAll(t, l, 0))
	wantBase := []int64{0, 3, 5}
	for i, h := range hs {
		if h.BaseOffset != wantBase[i] || h.PartitionLeaderEpoch != 4 {
			t.Fatalf("batch %d: base %d epoch %d", i, h.BaseOffset, h.PartitionLeaderEpoch)
		}
	}
	if _, err := recordbatch.Validate(readAll(t, l, 0), recordbatch.DefaultMaxDecompressed); err != nil {
		t.Fatalf("stored batches do not validate: %v", err)
	}
	// Framing errors are refused without touching the log.
	for _, bad := range [][]byte{nil, b1[:30], concat(b1, b2[:10])} {
		if _, err := l.Append(bad, nil, 4, time.Now()); err == nil {
			t.Fatalf("append of %d bad bytes accepted", len(bad))
		}
	}
	if l.LogEndOffset() != 6 {
		t.Fatalf("LEO %d after refused appends", l.LogEndOffset())
	}
}

func TestReadLimits(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 4096
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	a := &appended{}
	// Batches of 3 records each: offsets 0-2, 3-5, ...
	for i := 0; i < 40; i++ {
		mustAppend(t, l, simpleBatch(t, int64(i), 3, 40), 0, a)
	}
	size := len(a.batches[0]) // all batches are the same size
	leo := l.LogEndOffset()
	tests := []struct {
		name      string
		offset    int64
		maxOffset int64
		maxBytes  int
		minOne    bool
		wantFirst int64 // base of the first batch, -1 for nil
		wantN     int   // batches
		wantErr   error
	}{
		{"whole log", 0, math.MaxInt64, math.MaxInt32, false, 0, 40, nil},
		{"mid batch", 4, math.MaxInt64, math.MaxInt32, false, 3, 39, nil},
		{"last offset of batch", 5, math.MaxInt64, math.MaxInt32, false, 3, 39, nil},
		{"max bytes exact", 0, math.MaxInt64, 3 * size, false, 0, 3, nil},
		{"max bytes one short", 0, math.MaxInt64, 3*size - 1, false, 0, 2, nil},
		{"max bytes below one batch", 0, math.MaxInt64, size - 1, false, -1, 0, nil},
		{"min one batch", 0, math.MaxInt64, 1, true, 0, 1, nil},
		{"min one batch zero bytes", 6, math.MaxInt64, 0, true, 6, 1, nil},
		{"max offset cuts a batch", 0, 8, math.MaxInt32, false, 0, 2, nil},
		{"max offset at boundary", 0, 9, math.MaxInt32, false, 0, 3, nil},
		{"max offset below first", 3, 5, math.MaxInt32, true, -1, 0, nil},
		{"offset at max offset", 9, 9, math.MaxInt32, true, -1, 0, nil},
		{"at end", leo, math.MaxInt64, 100, true, -1, 0, nil},
		{"past end", leo + 1, math.MaxInt64, 100, true, -1, 0, ErrOffsetOutOfRange},
		{"negative", -1, math.MaxInt64, 100, true, -1, 0, ErrOffsetOutOfRange},
		{"across segments", 60, math.MaxInt64, 30 * size, false, 60, 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Read(tt.offset, tt.maxOffset, tt.maxBytes, tt.minOne)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantFirst < 0 {
				if got != nil {
					t.Fatalf("got %d bytes, want nil", len(got))
				}
				return
			}
			hs := headersOf(t, got)
			if len(hs) != tt.wantN || hs[0].BaseOffset != tt.wantFirst {
				t.Fatalf("got %d batches from %d, want %d from %d", len(hs), hs[0].BaseOffset, tt.wantN, tt.wantFirst)
			}
			want := a.from(tt.offset, tt.maxOffset)[:len(got)]
			if !bytes.Equal(got, want) {
				t.Fatalf("bytes differ from what was written")
			}
		})
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want several segments, have %d", len(l.Segments()))
	}
}

func TestBigBatchLargerThanSegment(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 512
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	a := &appended{}
	mustAppend(t, l, simpleBatch(t, 1, 1, 10), 0, a)
	mustAppend(t, l, simpleBatch(t, 2, 3, 1000), 0, a) // rolls, then fills a segment alone
	mustAppend(t, l, simpleBatch(t, 3, 1, 10), 0, a)   // rolls again
	segs := l.Segments()
	if len(segs) != 3 || segs[1].Size < 3000 {
		t.Fatalf("segments %+v", segs)
	}
	if got := readAll(t, l, 0); !bytes.Equal(got, a.from(0, math.MaxInt64)) {
		t.Fatal("read back differs")
	}
	got, err := l.Read(1, math.MaxInt64, 100, true)
	if err != nil || len(headersOf(t, got)) != 1 {
		t.Fatalf("min one batch of a big batch: %v", err)
	}
}

func TestRollByAge(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.SegmentAge = time.Minute
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	t0 := time.Now()
	app := func(at time.Time) {
		if _, err := l.Append(simpleBatch(t, at.UnixMilli(), 1, 10), nil, 0, at); err != nil {
			t.Fatal(err)
		}
	}
	app(t0)
	app(t0.Add(30 * time.Second))
	app(t0.Add(60 * time.Second))
	if n := len(l.Segments()); n != 1 {
		t.Fatalf("%d segments before the age passed", n)
	}
	app(t0.Add(61 * time.Second))
	if n := len(l.Segments()); n != 2 {
		t.Fatalf("%d segments after the age passed", n)
	}
	app(t0.Add(100 * time.Second))
	if n := len(l.Segments()); n != 2 {
		t.Fatalf("%d segments: the new segment's age starts at its first append", n)
	}
	// Roll: an empty active segment is not rolled.
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) != 3 || !segs[1].Sealed || segs[2].Sealed || segs[2].Size != 0 || segs[2].BaseOffset != 5 {
		t.Fatalf("after Roll: %+v", segs)
	}
}

func TestSetConfig(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig())
	defer l.Close()
	fill(t, l, 20, 0)
	n := len(l.Segments())
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	l.SetConfig(cfg)
	fill(t, l, 20, 0)
	if got := len(l.Segments()); got != n && got != n+1 {
		t.Fatalf("segments %d -> %d after raising SegmentBytes", n, got)
	}
}

func TestAppendWriteErrorRollsBack(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig())
	defer l.Close()
	a := fill(t, l, 3, 0)
	leo := l.LogEndOffset()
	act := l.segs[len(l.segs)-1]
	ro, err := os.Open(act.path(extLog)) // read-only: writes fail
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	good := swapLogFile(t, act, ro)
	l.mu.Unlock()
	_, err = l.Append(simpleBatch(t, 9, 2, 10), nil, 0, time.Now())
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("append on a failing disk: %v", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("LEO moved to %d", l.LogEndOffset())
	}
	l.mu.Lock()
	swapLogFile(t, act, good)
	l.mu.Unlock()
	ro.Close()
	info := mustAppend(t, l, simpleBatch(t, 9, 2, 10), 0, a)
	if info.FirstOffset != leo {
		t.Fatalf("append after failure at %d, want %d", info.FirstOffset, leo)
	}
	if got := readAll(t, l, 0); !bytes.Equal(got, a.from(0, math.MaxInt64)) {
		t.Fatal("read back differs after a failed append")
	}
}

func TestClosedLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig())
	fill(t, l, 3, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := l.Append(simpleBatch(t, 1, 1, 1), nil, 0, time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("append: %v", err)
	}
	if _, err := l.Read(0, math.MaxInt64, 100, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("read: %v", err)
	}
	if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
		t.Fatalf("flush of what Close flushed: %v", err)
	}
	if err := l.Roll(); !errors.Is(err, ErrClosed) {
		t.Fatalf("roll: %v", err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
}

func TestDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-3")
	l := openLog(t, dir, smallConfig())
	fill(t, l, 30, 0)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
}

func TestSegmentFileNames(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig())
	fill(t, l, 30, 0)
	segs := l.Segments()
	l.Close()
	for _, s := range segs {
		for _, ext := range []string{".log", ".index", ".timeindex"} {
			name := filepath.Join(dir, segmentFileName(s.BaseOffset, ext))
			if _, err := os.Stat(name); err != nil {
				t.Fatal(err)
			}
		}
		if filepath.Base(s.Path) != segmentFileName(s.BaseOffset, ".log") || len(filepath.Base(s.Path)) != 24 {
			t.Fatalf("path %s", s.Path)
		}
	}
	for _, tt := range []struct {
		name string
		ok   bool
		base int64
	}{
		{"00000000000000000000.log", true, 0},
		{"00000000000000001234.log", true, 1234},
		{"09223372036854775807.log", true, math.MaxInt64},
		{"09223372036854775808.log", false, 0},
		{"0000000000000001234.log", false, 0},
		{"0000000000000000123x.log", false, 0},
		{"-0000000000000000001.log", false, 0},
		{"00000000000000001234.index", false, 0},
	} {
		base, ok := parseSegmentName(tt.name, extLog)
		if ok != tt.ok || base != tt.base {
			t.Errorf("parseSegmentName(%q) = %d, %v", tt.name, base, ok)
		}
	}
}
