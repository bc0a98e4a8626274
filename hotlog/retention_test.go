package hotlog

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// segmentedLog builds a log with nseg sealed segments of 4 batches each
// plus an active one; segment i's timestamps are around base + i hours.
func segmentedLog(t *testing.T, nseg int, base time.Time) (*Log, *appended) {
	t.Helper()
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	l := openLog(t, t.TempDir(), cfg)
	a := &appended{}
	for i := 0; i <= nseg; i++ {
		for j := 0; j < 4; j++ {
			ts := base.Add(time.Duration(i)*time.Hour + time.Duration(j)*time.Minute).UnixMilli()
			mustAppend(t, l, simpleBatch(t, ts, 2, 100), int32(i), a)
		}
		if i < nseg {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := len(l.Segments()); got != nseg+1 {
		t.Fatalf("%d segments", got)
	}
	return l, a
}

func TestRetentionByAge(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		age     time.Duration
		now     time.Time
		allow   func(SegmentInfo) bool
		deleted int
	}{
		{"nothing old enough", 24 * time.Hour, base.Add(5 * time.Hour), nil, 0},
		{"two expired", time.Hour, base.Add(2*time.Hour + 30*time.Minute), nil, 2},
		{"all sealed expired, active kept", time.Hour, base.Add(100 * time.Hour), nil, 5},
		{"unlimited", -1, base.Add(100 * time.Hour), nil, 0},
		{"allow refuses the third", time.Hour, base.Add(100 * time.Hour), func(si SegmentInfo) bool { return si.BaseOffset < 16 }, 2},
		{"allow refuses all", time.Hour, base.Add(100 * time.Hour), func(SegmentInfo) bool { return false }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, a := segmentedLog(t, 5, base)
			defer l.Close()
			cfg := smallConfig()
			cfg.SegmentBytes = 1 << 20
			cfg.RetentionAge = tt.age
			l.SetConfig(cfg)
			before := l.Segments()
			n, err := l.EnforceRetention(tt.now, tt.allow)
			if err != nil || n != tt.deleted {
				t.Fatalf("deleted %d (%v), want %d", n, err, tt.deleted)
			}
			after := l.Segments()
			if len(after) != len(before)-n || after[0].BaseOffset != before[n].BaseOffset {
				t.Fatalf("segments after: %+v", after)
			}
			if l.LogStartOffset() != before[n].BaseOffset {
				t.Fatalf("log start %d, want %d", l.LogStartOffset(), before[n].BaseOffset)
			}
			for _, s := range before[:n] {
				if _, err := os.Stat(s.Path); !os.IsNotExist(err) {
					t.Fatalf("%s still exists", s.Path)
				}
			}
			start := l.LogStartOffset()
			if got := readAll(t, l, start); !bytes.Equal(got, a.from(start, math.MaxInt64)) {
				t.Fatal("read after retention differs")
			}
			if start > 0 {
				if _, err := l.Read(start-1, math.MaxInt64, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("read below start: %v", err)
				}
				// The epoch cache starts at the log start.
				if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
					t.Fatalf("epoch 0 after retention: %d %d", e, o)
				}
				if e, o := l.EndOffsetForEpoch(int32(n)); e != int32(n) || o != start+8 {
					t.Fatalf("epoch %d after retention: %d %d", n, e, o)
				}
			}
		})
	}
}

func TestRetentionBySize(t *testing.T) {
	base := time.Now()
	l, _ := segmentedLog(t, 5, base)
	defer l.Close()
	segs := l.Segments()
	segSize := segs[0].Size
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.RetentionBytes = total - 2*segSize // two segments may go, not three
	l.SetConfig(cfg)
	var seen []int64
	n, err := l.EnforceRetention(base, func(si SegmentInfo) bool {
		seen = append(seen, si.BaseOffset)
		if !si.Sealed || si.Size != segSize || si.NextOffset != si.BaseOffset+8 {
			t.Errorf("allow got %+v", si)
		}
		return true
	})
	if err != nil || n != 2 {
		t.Fatalf("deleted %d (%v)", n, err)
	}
	if len(seen) != 2 || seen[0] != 0 || seen[1] != 8 {
		t.Fatalf("allow saw %v", seen)
	}
	// Again: nothing more to do.
	if n, err := l.EnforceRetention(base, nil); n != 0 || err != nil {
		t.Fatalf("second pass deleted %d (%v)", n, err)
	}
	// A tiny limit deletes every sealed segment but never the active one.
	cfg.RetentionBytes = 1
	l.SetConfig(cfg)
	if n, err := l.EnforceRetention(base, nil); n != 3 || err != nil {
		t.Fatalf("deleted %d (%v)", n, err)
	}
	if segs := l.Segments(); len(segs) != 1 || segs[0].Sealed || l.LogStartOffset() != 40 {
		t.Fatalf("segments %+v start %d", segs, l.LogStartOffset())
	}
}

func TestRetentionWithoutTimestampsUsesMtime(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionAge = time.Hour
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	// Batches whose timestamps are all -1.
	b := buildBatch(t, batchSpec{firstTs: -1, records: []testRecord{{value: []byte("x")}}})
	mustAppend(t, l, b, 0, nil)
	l.Roll()
	mustAppend(t, l, simpleBatch(t, 1, 1, 1), 0, nil)
	segs := l.Segments()
	if segs[0].MaxTimestamp != -1 {
		t.Fatalf("max timestamp %d", segs[0].MaxTimestamp)
	}
	if n, _ := l.EnforceRetention(time.Now(), nil); n != 0 {
		t.Fatalf("fresh segment deleted")
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(segs[0].Path, old, old)
	if n, _ := l.EnforceRetention(time.Now(), nil); n != 1 {
		t.Fatalf("old segment kept")
	}
}

func TestTruncateTo(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		offset  int64
		wantLEO int64
	}{
		{"at end", 48, 48},
		{"past end", 100, 48},
		{"batch boundary in active", 44, 44},
		{"mid batch", 45, 44},
		{"segment base", 32, 32},
		{"boundary in older segment", 10, 10},
		{"mid batch in older segment", 11, 10},
		{"log start", 0, 0},
	}
	for _, tt := range tests {
		for _, crashAfter := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				l, a := segmentedLog(t, 5, base) // offsets 0..47, 8 per segment
				dir := l.dir
				l.FlushUpTo(l.LogEndOffset())
				if err := l.TruncateTo(tt.offset); err != nil {
					t.Fatal(err)
				}
				check := func(l *Log) {
					t.Helper()
					if l.LogEndOffset() != tt.wantLEO || l.FlushedOffset() > tt.wantLEO {
						t.Fatalf("LEO %d flushed %d, want %d", l.LogEndOffset(), l.FlushedOffset(), tt.wantLEO)
					}
					if got := readAll(t, l, 0); !bytes.Equal(got, a.from(0, tt.wantLEO)) {
						t.Fatalf("read after truncation differs")
					}
					segs := l.Segments()
					if last := segs[len(segs)-1]; last.Sealed || last.NextOffset != tt.wantLEO {
						t.Fatalf("active segment %+v", last)
					}
					if wantEpoch := int32(min(tt.wantLEO-1, 47) / 8); tt.wantLEO > 0 && l.LatestEpoch() != wantEpoch {
						t.Fatalf("latest epoch %d, want %d", l.LatestEpoch(), wantEpoch)
					}
					if tt.wantLEO > 0 {
						_, ts, _, _ := l.MaxTimestamp()
						last, _ := recordbatch.ParseHeader(a.batches[tt.wantLEO/2-1])
						if ts != last.MaxTimestamp {
							t.Fatalf("max timestamp %d, want %d", ts, last.MaxTimestamp)
						}
					}
				}
				check(l)
				if crashAfter {
					crash(l)
				} else {
					l.Close()
				}
				l = openLog(t, dir, smallConfig())
				defer l.Close()
				check(l)
				info := mustAppend(t, l, simpleBatch(t, 1, 1, 1), 9, nil)
				if info.FirstOffset != tt.wantLEO {
					t.Fatalf("append at %d", info.FirstOffset)
				}
				e, o := l.EndOffsetForEpoch(8)
				if tt.wantLEO == 0 && (e != -1 || o != -1) {
					t.Fatalf("EndOffsetForEpoch(8) below the first epoch = %d %d", e, o)
				}
				if tt.wantLEO > 0 && (o != tt.wantLEO || e != int32((tt.wantLEO-1)/8)) {
					t.Fatalf("EndOffsetForEpoch(8) = %d %d", e, o)
				}
			})
		}
	}
}

func TestTruncateBelowLogStart(t *testing.T) {
	l, _ := segmentedLog(t, 3, time.Now())
	defer l.Close()
	cfg := smallConfig()
	cfg.RetentionBytes = 1
	l.SetConfig(cfg)
	if n, err := l.EnforceRetention(time.Now(), nil); n != 3 || err != nil {
		t.Fatalf("retention: %d %v", n, err)
	}
	if l.LogStartOffset() != 24 {
		t.Fatalf("start %d", l.LogStartOffset())
	}
	if err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 5 || l.LogEndOffset() != 5 || len(l.Segments()) != 1 || l.LatestEpoch() != -1 {
		t.Fatalf("start %d end %d segs %d epoch %d", l.LogStartOffset(), l.LogEndOffset(), len(l.Segments()), l.LatestEpoch())
	}
	ents, _ := os.ReadDir(l.dir)
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".log" && e.Name() != segmentFileName(5, ".log") {
			t.Fatalf("stale segment %s", e.Name())
		}
	}
	info := mustAppend(t, l, simpleBatch(t, 1, 2, 1), 7, nil)
	if info.FirstOffset != 5 {
		t.Fatalf("append at %d", info.FirstOffset)
	}
}

func TestResetTo(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, offset := range []int64{0, 32, 47, 48, 500} {
		t.Run(fmt.Sprint(offset), func(t *testing.T) {
			l, _ := segmentedLog(t, 5, base) // offsets 0..47
			dir := l.dir
			if err := l.ResetTo(offset); err != nil {
				t.Fatal(err)
			}
			check := func(l *Log) {
				t.Helper()
				if l.LogStartOffset() != offset || l.LogEndOffset() != offset || l.LatestEpoch() != -1 {
					t.Fatalf("after reset to %d: start %d end %d epoch %d", offset, l.LogStartOffset(), l.LogEndOffset(), l.LatestEpoch())
				}
				if segs := l.Segments(); len(segs) != 1 || segs[0].BaseOffset != offset {
					t.Fatalf("segments %+v", segs)
				}
			}
			check(l)
			// Appends continue at the reset offset, and all of it survives a restart.
			info, err := l.Append(simpleBatch(t, base.UnixMilli(), 3, 10), nil, 7, base)
			if err != nil || info.FirstOffset != offset {
				t.Fatalf("append after reset: %v at %d", err, info.FirstOffset)
			}
			l.Close()
			l = openLog(t, dir, DefaultConfig())
			defer l.Close()
			if l.LogStartOffset() != offset || l.LogEndOffset() != offset+3 {
				t.Fatalf("after reopen: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
			}
		})
	}
}

// TestTotalRetentionExpired: the rule tiering and the broker's local
// retention veto share, over segments of 100 bytes each (the last one
// active).
func TestTotalRetentionExpired(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	old, fresh := now.UnixMilli()-5000, now.UnixMilli()-10
	seg := func(base, ts int64, sealed bool) SegmentInfo {
		return SegmentInfo{BaseOffset: base, NextOffset: base + 10, Size: 100, MaxTimestamp: ts, Sealed: sealed}
	}
	for _, tc := range []struct {
		name      string
		segs      []SegmentInfo
		ms, bytes int64
		want      []bool
	}{
		{"unlimited", []SegmentInfo{seg(0, old, true), seg(10, old, false)}, -1, -1, []bool{false, false}},
		{"by age", []SegmentInfo{seg(0, old, true), seg(10, fresh, true), seg(20, old, false)}, 1000, -1, []bool{true, false, false}},
		{"only a prefix: back-dated after a fresh one is kept", []SegmentInfo{seg(0, fresh, true), seg(10, old, true), seg(20, fresh, false)}, 1000, -1, []bool{false, false, false}},
		{"no timestamp never ages", []SegmentInfo{seg(0, -1, true), seg(10, old, false)}, 1000, -1, []bool{false, false}},
		{"by bytes after", []SegmentInfo{seg(0, fresh, true), seg(10, fresh, true), seg(20, fresh, true), seg(30, fresh, false)}, -1, 200, []bool{true, true, false, false}},
		{"zero bytes keeps the active one", []SegmentInfo{seg(0, fresh, true), seg(10, fresh, false)}, -1, 0, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expired := TotalRetentionExpired(tc.segs, tc.ms, tc.bytes, now)
			for i, s := range tc.segs {
				if got := expired(s); got != tc.want[i] {
					t.Errorf("segment %d: expired %v, want %v", s.BaseOffset, got, tc.want[i])
				}
			}
		})
	}
}

// TestTieredRetentionOnlyPrefix: with total retention by time, a
// back-dated segment between fresh ones is neither expired nor deletable
// before the cold tier holds it (retention deletes only a prefix); an old
// prefix goes, tiered or not, as long as the cold tier holds nothing
// before it.
func TestTieredRetentionOnlyPrefix(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	fresh, old := now.Add(-time.Minute), now.Add(-48*time.Hour)
	for _, tc := range []struct {
		name      string
		ages      []time.Time // of the sealed segments, oldest first
		tiered    int         // how many of them the cold tier holds (from offset 0)
		coldStart int         // the segment the cold tier starts at
		deleted   int         // segments local retention deletes
	}{
		// The cold tier holds the first; the second is back-dated: it
		// must wait for the tierer.
		{"back-dated after a tiered fresh one", []time.Time{fresh, old, fresh}, 1, 0, 1},
		{"back-dated, nothing tiered", []time.Time{fresh, old, fresh}, 0, 0, 0},
		// An expired prefix goes untiered when nothing older is kept.
		{"old prefix, nothing tiered", []time.Time{old, old, fresh}, 0, 0, 2},
		{"old prefix before the cold start", []time.Time{old, fresh, fresh}, 2, 1, 2},
		{"all tiered", []time.Time{fresh, old, fresh}, 3, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallConfig()
			cfg.SegmentBytes = 1 << 20
			cfg.RetentionAge = 0 // local.retention.ms=0: gone once allowed
			l := openLog(t, t.TempDir(), cfg)
			defer l.Close()
			a := &appended{}
			for i, ts := range append(tc.ages, fresh) {
				for j := 0; j < 3; j++ {
					mustAppend(t, l, simpleBatch(t, ts.Add(time.Duration(j)*time.Second).UnixMilli(), 2, 100), 0, a)
				}
				if i < len(tc.ages) {
					if err := l.Roll(); err != nil {
						t.Fatal(err)
					}
				}
			}
			segs := l.Segments()
			coldStart, coldEnd := int64(-1), int64(-1)
			if tc.tiered > 0 {
				coldStart, coldEnd = segs[tc.coldStart].BaseOffset, segs[tc.tiered-1].NextOffset
			}
			allow := TieredRetentionAllow(segs, time.Hour.Milliseconds(), -1, now, coldStart, coldEnd)
			n, err := l.EnforceRetention(now, allow)
			if err != nil || n != tc.deleted {
				t.Fatalf("local retention deleted %d segments (%v), want %d", n, err, tc.deleted)
			}
		})
	}
}
