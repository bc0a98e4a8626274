package hotlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// idemBatch is an uncompressed batch of n records from an idempotent
// producer, with first sequence seq and timestamps ts, ts+1, ...
func idemBatch(tb testing.TB, pid int64, epoch int16, seq int32, n int, ts int64) []byte {
	tb.Helper()
	b := simpleBatch(tb, ts, n, 8)
	h, _ := recordbatch.ParseHeader(b)
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = pid, epoch, seq
	h.Put(b)
	recordbatch.SetCRC(b)
	return b
}

// producerSnapshotOf copies the log's producer state.
func producerSnapshotOf(l *Log) map[int64]producerEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[int64]producerEntry, len(l.producers.m))
	for pid, e := range l.producers.m {
		out[pid] = *e
	}
	return out
}

func sameProducers(t *testing.T, what string, got, want map[int64]producerEntry) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("%s: producer state differs:\n got  %+v\n want %+v", what, got, want)
	}
}

func snapshotFiles(t *testing.T, dir string) []int64 {
	t.Helper()
	l := &Log{dir: dir}
	offs, err := l.listSnapshots()
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

func TestSeqAdd(t *testing.T) {
	for _, tc := range []struct{ seq, n, want int32 }{
		{0, 0, 0}, {0, 4, 4}, {10, 1, 11},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 3, 1},
		{math.MaxInt32 - 5, 5, math.MaxInt32},
		{math.MaxInt32 - 5, 6, 0},
	} {
		if got := seqAdd(tc.seq, tc.n); got != tc.want {
			t.Errorf("seqAdd(%d, %d) = %d, want %d", tc.seq, tc.n, got, tc.want)
		}
	}
}

// prodStep is one append of a sequence-rule test: a batch (or several,
// concatenated) and what Append must say; for "dup", the offsets the
// original batch got come back.
type prodStep struct {
	batches []pb
	want    string // "ok", "dup", "seq" (out of order), "epoch", "invalid"
}

// pb describes one idempotent batch (pid -1: not idempotent).
type pb struct {
	pid   int64
	epoch int16
	seq   int32
	n     int
}

func TestProducerSequenceRules(t *testing.T) {
	one := func(pid int64, epoch int16, seq int32, n int, want string) prodStep {
		return prodStep{batches: []pb{{pid, epoch, seq, n}}, want: want}
	}
	dup := func(pid int64, epoch int16, seq int32, n int, _ int) prodStep {
		return prodStep{batches: []pb{{pid, epoch, seq, n}}, want: "dup"}
	}
	// Seven batches of two records: sequences 0-1, 2-3, ..., 12-13.
	seven := func() []prodStep {
		var s []prodStep
		for i := 0; i < 7; i++ {
			s = append(s, one(7, 0, int32(2*i), 2, "ok"))
		}
		return s
	}
	tests := []struct {
		name  string
		steps []prodStep
	}{
		{"in order", []prodStep{one(1, 0, 0, 1, "ok"), one(1, 0, 1, 3, "ok"), one(1, 0, 4, 1, "ok")}},
		{"duplicate of the last batch", []prodStep{one(1, 0, 0, 2, "ok"), dup(1, 0, 0, 2, 0), one(1, 0, 2, 1, "ok"), dup(1, 0, 2, 1, 2)}},
		{"duplicate of the 1st of the last 5", append(seven(), dup(7, 0, 4, 2, 2))},
		{"duplicate of the 2nd of the last 5", append(seven(), dup(7, 0, 6, 2, 3))},
		{"duplicate of the 3rd of the last 5", append(seven(), dup(7, 0, 8, 2, 4))},
		{"duplicate of the 4th of the last 5", append(seven(), dup(7, 0, 10, 2, 5))},
		{"duplicate of the 5th of the last 5", append(seven(), dup(7, 0, 12, 2, 6))},
		{"batch older than the last 5", append(seven(), one(7, 0, 2, 2, "seq"))},
		{"oldest batch", append(seven(), one(7, 0, 0, 2, "seq"))},
		{"duplicate after more batches", append(seven(), dup(7, 0, 12, 2, 6), one(7, 0, 14, 1, "ok"), dup(7, 0, 12, 2, 6))},
		{"same first sequence, other last", []prodStep{one(1, 0, 0, 2, "ok"), one(1, 0, 0, 3, "seq")}},
		{"gap", []prodStep{one(1, 0, 0, 2, "ok"), one(1, 0, 3, 1, "seq"), one(1, 0, 2, 1, "ok")}},
		{"sequence repeats inside the last batch", []prodStep{one(1, 0, 0, 3, "ok"), one(1, 0, 2, 1, "seq")}},
		{"epoch bump at sequence 0", []prodStep{one(1, 0, 0, 5, "ok"), one(1, 1, 0, 1, "ok"), one(1, 1, 1, 1, "ok")}},
		{"epoch bump at a later sequence", []prodStep{one(1, 0, 0, 5, "ok"), one(1, 1, 5, 1, "seq"), one(1, 0, 5, 1, "ok")}},
		{"epoch bump forgets the old batches", []prodStep{one(1, 0, 0, 2, "ok"), one(1, 1, 0, 2, "ok"), dup(1, 1, 0, 2, 1), one(1, 0, 0, 2, "epoch")}},
		{"stale epoch", []prodStep{one(1, 2, 0, 1, "ok"), one(1, 1, 1, 1, "epoch"), one(1, 1, 0, 1, "epoch"), one(1, 2, 1, 1, "ok")}},
		{"unknown producer starts anywhere", []prodStep{one(3, 4, 1000, 2, "ok"), one(3, 4, 1002, 1, "ok"), one(3, 4, 999, 1, "seq")}},
		{"int32 wrap between batches", []prodStep{one(1, 0, math.MaxInt32-1, 2, "ok"), one(1, 0, 0, 1, "ok"), one(1, 0, 1, 1, "ok")}},
		{"int32 wrap inside a batch", []prodStep{one(1, 0, math.MaxInt32-1, 4, "ok"), dup(1, 0, math.MaxInt32-1, 4, 0), one(1, 0, 0, 1, "seq"), one(1, 0, 2, 1, "ok")}},
		{"no wrap short of MaxInt32", []prodStep{one(1, 0, math.MaxInt32-5, 2, "ok"), one(1, 0, 0, 1, "seq")}},
		{"producers are independent", []prodStep{one(1, 0, 0, 2, "ok"), one(2, 0, 0, 2, "ok"), one(1, 0, 2, 1, "ok"), dup(2, 0, 0, 2, 1), one(2, 0, 2, 1, "ok")}},
		{"non-idempotent batches are not checked", []prodStep{one(-1, -1, -1, 2, "ok"), one(-1, -1, -1, 2, "ok"), one(-1, 0, 5, 1, "ok")}},
		{"negative sequence with a producer id", []prodStep{one(1, 0, -1, 1, "invalid"), one(1, 0, 0, 1, "ok")}},
		{"negative epoch with a producer id", []prodStep{one(1, -1, 0, 1, "invalid")}},
		{"several batches in one append", []prodStep{
			{batches: []pb{{1, 0, 0, 2}, {1, 0, 2, 2}, {2, 0, 0, 1}}, want: "ok"},
			one(1, 0, 4, 1, "ok"), dup(1, 0, 2, 2, 0),
		}},
		{"duplicate first batch answers for the append", []prodStep{
			one(1, 0, 0, 2, "ok"),
			{batches: []pb{{1, 0, 0, 2}, {1, 0, 2, 1}}, want: "dup"},
			one(1, 0, 2, 1, "ok"),
		}},
		{"duplicate later in an append is out of order", []prodStep{
			one(1, 0, 0, 2, "ok"),
			{batches: []pb{{1, 0, 2, 1}, {1, 0, 0, 2}}, want: "seq"},
			one(1, 0, 2, 1, "ok"),
		}},
		{"a gap later in an append rejects it all", []prodStep{
			{batches: []pb{{1, 0, 0, 1}, {1, 0, 1, 1}, {1, 0, 5, 1}}, want: "seq"},
			one(1, 0, 0, 1, "ok"),
		}},
		{"bump then older epoch in one append", []prodStep{
			one(1, 0, 0, 1, "ok"),
			{batches: []pb{{1, 1, 0, 1}, {1, 0, 1, 1}}, want: "epoch"},
			one(1, 0, 1, 1, "ok"),
		}},
	}
	ts := time.Now().UnixMilli()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), smallConfig())
			defer l.Close()
			stored := map[pb]int64{} // batch -> offset it was stored at
			for i, st := range tc.steps {
				var b []byte
				for _, x := range st.batches {
					b = append(b, idemBatch(t, x.pid, x.epoch, x.seq, x.n, ts)...)
				}
				leo := l.LogEndOffset()
				info, err := l.Append(b, nil, 0, time.Now())
				var d *DuplicateBatchError
				switch st.want {
				case "ok":
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					off := info.FirstOffset
					for _, x := range st.batches {
						stored[x] = off
						off += int64(x.n)
					}
					continue
				case "dup":
					if !errors.As(err, &d) {
						t.Fatalf("step %d: error %v, want a duplicate", i, err)
					}
					first := st.batches[0]
					orig, ok := stored[first]
					if !ok {
						t.Fatalf("step %d: test expects a duplicate of a batch never stored", i)
					}
					if d.FirstOffset != orig || d.LastOffset != orig+int64(first.n)-1 {
						t.Fatalf("step %d: duplicate of offsets %d..%d, want %d..%d", i, d.FirstOffset, d.LastOffset, orig, orig+int64(first.n)-1)
					}
					if d.ProducerID != first.pid || d.FirstSequence != first.seq {
						t.Fatalf("step %d: %+v", i, d)
					}
				case "seq":
					if !errors.Is(err, ErrOutOfOrderSequence) {
						t.Fatalf("step %d: error %v, want out of order", i, err)
					}
				case "epoch":
					if !errors.Is(err, ErrInvalidProducerEpoch) {
						t.Fatalf("step %d: error %v, want invalid epoch", i, err)
					}
				case "invalid":
					if !errors.Is(err, ErrInvalidBatch) {
						t.Fatalf("step %d: error %v, want invalid batch", i, err)
					}
				}
				if errors.As(err, &d) != (st.want == "dup") {
					t.Fatalf("step %d: %v", i, err)
				}
				if l.LogEndOffset() != leo {
					t.Fatalf("step %d: a refused append moved the log end from %d to %d", i, leo, l.LogEndOffset())
				}
			}
		})
	}
}

// producerWorkload appends batches from several producers (including an
// epoch bump and a non-idempotent one) over several segments; it returns
// the next sequence per producer.
func producerWorkload(t *testing.T, l *Log, rounds int, seqs map[int64]int32, epochs map[int64]int16, ts int64) {
	t.Helper()
	for r := 0; r < rounds; r++ {
		for pid := int64(1); pid <= 4; pid++ {
			if pid == 3 && seqs[pid] > 20 && epochs[pid] == 0 {
				epochs[pid], seqs[pid] = 1, 0
			}
			n := 1 + int(pid+int64(r))%3
			mustAppend(t, l, idemBatch(t, pid*1000, epochs[pid], seqs[pid], n, ts+int64(r)), 0, nil)
			seqs[pid] = seqAdd(seqs[pid], int32(n))
		}
		mustAppend(t, l, simpleBatch(t, ts, 1, 8), 0, nil)
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	ts := time.Now().UnixMilli()
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	seqs, epochs := map[int64]int32{}, map[int64]int16{}
	producerWorkload(t, l, 40, seqs, epochs, ts)
	if len(l.Segments()) < 4 {
		t.Fatalf("only %d segments", len(l.Segments()))
	}
	want := producerSnapshotOf(l)
	if len(want) != 4 {
		t.Fatalf("%d producers", len(want))
	}
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// One snapshot per segment base, and one at the log end.
	offs := snapshotFiles(t, dir)
	if offs[len(offs)-1] != leo {
		t.Fatalf("snapshots %v, want one at the log end %d", offs, leo)
	}

	l = openLog(t, dir, cfg)
	sameProducers(t, "after clean restart", producerSnapshotOf(l), want)
	if n := l.replayScans.Load(); n != 0 {
		t.Fatalf("clean restart replayed %d segments", n)
	}
	// Every producer's last batch is recognised, and it continues.
	for pid := int64(1); pid <= 4; pid++ {
		e := want[pid*1000]
		last := e.last()
		b := idemBatch(t, pid*1000, e.epoch, last.firstSeq, int(last.lastOffset-last.firstOffset)+1, ts)
		var d *DuplicateBatchError
		if _, err := l.Append(b, nil, 0, time.Now()); !errors.As(err, &d) || d.FirstOffset != last.firstOffset {
			t.Fatalf("producer %d: resent last batch: %v", pid, err)
		}
	}
	producerWorkload(t, l, 3, seqs, epochs, ts)
	l.Close()
}

func TestProducerStateAfterCrash(t *testing.T) {
	ts := time.Now().UnixMilli()
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	seqs, epochs := map[int64]int32{}, map[int64]int16{}
	producerWorkload(t, l, 40, seqs, epochs, ts)
	// The rolls' snapshots are written by the fsync round that makes their
	// segments durable.
	if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	act := segs[len(segs)-1]
	if act.Size == 0 {
		t.Fatal("empty active segment")
	}
	offs := snapshotFiles(t, dir)
	if len(offs) != len(segs)-1 || offs[len(offs)-1] != act.BaseOffset {
		t.Fatalf("snapshots %v for segments %+v", offs, segs)
	}
	want := producerSnapshotOf(l)
	crash(l)

	// The newest snapshot is the active segment's base: the state comes
	// from it and the recovery scan of the active segment, with no other
	// segment read.
	l = openLog(t, dir, cfg)
	sameProducers(t, "after crash", producerSnapshotOf(l), want)
	if n := l.replayScans.Load(); n != 0 {
		t.Fatalf("recovery replayed %d segments besides its scan", n)
	}
	crash(l)

	// Without snapshots, a full replay of the headers gives the same.
	for _, off := range offs {
		os.Remove(snapshotPath(dir, off))
	}
	l = openLog(t, dir, cfg)
	sameProducers(t, "after crash, full replay", producerSnapshotOf(l), want)
	if n := l.replayScans.Load(); n != int64(len(segs)-1) {
		t.Fatalf("full replay read %d sealed segments, want %d", n, len(segs)-1)
	}
	crash(l)

	// With an older snapshot only, the segments after it are replayed.
	l = openLog(t, dir, cfg)
	l.Roll()
	mark := l.LogEndOffset()
	if err := l.FlushUpTo(mark); err != nil {
		t.Fatal(err)
	}
	producerWorkload(t, l, 30, seqs, epochs, ts)
	want = producerSnapshotOf(l)
	crash(l)
	for _, off := range snapshotFiles(t, dir) {
		if off > mark {
			os.Remove(snapshotPath(dir, off)) // as if never written
		}
	}
	l = openLog(t, dir, cfg)
	defer l.Close()
	sameProducers(t, "after crash, older snapshot", producerSnapshotOf(l), want)
	if l.replayScans.Load() == 0 {
		t.Fatal("no sealed segment replayed from the older snapshot")
	}
}

func TestProducerSnapshotFallbacks(t *testing.T) {
	ts := time.Now().UnixMilli()
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	build := func(t *testing.T) (string, map[int64]producerEntry, []int64) {
		dir := t.TempDir()
		l := openLog(t, dir, cfg)
		producerWorkload(t, l, 30, map[int64]int32{}, map[int64]int16{}, ts)
		if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		want := producerSnapshotOf(l)
		crash(l)
		return dir, want, snapshotFiles(t, dir)
	}
	t.Run("corrupt newest", func(t *testing.T) {
		dir, want, offs := build(t)
		newest := snapshotPath(dir, offs[len(offs)-1])
		b, _ := os.ReadFile(newest)
		b[len(b)-3] ^= 0x40
		os.WriteFile(newest, b, 0o644)
		l := openLog(t, dir, cfg)
		defer l.Close()
		sameProducers(t, "corrupt newest snapshot", producerSnapshotOf(l), want)
		if _, err := os.Stat(newest); err == nil {
			t.Fatal("corrupt snapshot kept")
		}
	})
	t.Run("all corrupt or empty", func(t *testing.T) {
		dir, want, offs := build(t)
		for i, off := range offs {
			var junk []byte
			if i%2 == 0 {
				junk = []byte("STPS\x00\x01garbage")
			}
			os.WriteFile(snapshotPath(dir, off), junk, 0o644)
		}
		l := openLog(t, dir, cfg)
		defer l.Close()
		sameProducers(t, "all snapshots bad", producerSnapshotOf(l), want)
	})
	t.Run("newest beyond the recovered log end", func(t *testing.T) {
		// A crash right after a roll whose snapshot was written, with the
		// sealed segment's tail lost: recovery cuts it, removes the
		// newer segment, and the snapshot describes lost batches.
		dir, _, offs := build(t)
		newest := offs[len(offs)-1]
		entries, _ := os.ReadDir(dir)
		var sealed string
		for _, e := range entries {
			if base, ok := parseSegmentName(e.Name(), extLog); ok && base < newest {
				sealed = e.Name()
			}
		}
		b, _ := os.ReadFile(filepath.Join(dir, sealed))
		os.WriteFile(filepath.Join(dir, sealed), b[:len(b)-10], 0o644)
		l := openLog(t, dir, cfg)
		if l.LogEndOffset() >= newest {
			t.Fatalf("log end %d, the test wants it below %d", l.LogEndOffset(), newest)
		}
		if _, err := os.Stat(snapshotPath(dir, newest)); err == nil {
			t.Fatal("snapshot beyond the log end kept")
		}
		got := producerSnapshotOf(l)
		crash(l)
		for _, off := range snapshotFiles(t, dir) {
			os.Remove(snapshotPath(dir, off))
		}
		l = openLog(t, dir, cfg)
		defer l.Close()
		sameProducers(t, "full replay of the recovered log", producerSnapshotOf(l), got)
	})
}

func TestTruncateToRebuildsProducerState(t *testing.T) {
	ts := time.Now().UnixMilli()
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	for _, crashAfter := range []bool{false, true} {
		dir := t.TempDir()
		l := openLog(t, dir, cfg)
		// Producer 1 writes single-record batches 0..59 at known offsets,
		// rolling segments along the way.
		offsets := make([]int64, 60)
		for i := range offsets {
			offsets[i] = mustAppend(t, l, idemBatch(t, 1, 0, int32(i), 1, ts), 0, nil).FirstOffset
			if i == 45 {
				l.FlushUpTo(l.LogEndOffset()) // some snapshots written, the rest queued
			}
		}
		if len(l.Segments()) < 3 {
			t.Fatalf("%d segments", len(l.Segments()))
		}
		cut := offsets[20]
		if err := l.TruncateTo(cut); err != nil {
			t.Fatal(err)
		}
		for _, off := range snapshotFiles(t, dir) {
			if off > cut {
				t.Fatalf("snapshot %d survives truncation to %d", off, cut)
			}
		}
		if crashAfter {
			crash(l)
			l = openLog(t, dir, cfg)
		}
		e := producerSnapshotOf(l)[1]
		if e.last().lastSeq != 19 || e.last().firstOffset != offsets[19] {
			t.Fatalf("after truncation: last batch %+v, want sequence 19 at %d", e.last(), offsets[19])
		}
		// Sequence 20 was truncated: it is new again, not a duplicate.
		info, err := l.Append(idemBatch(t, 1, 0, 20, 1, ts), nil, 0, time.Now())
		if err != nil || info.FirstOffset != cut {
			t.Fatalf("re-append of sequence 20: %+v %v", info, err)
		}
		var d *DuplicateBatchError
		if _, err := l.Append(idemBatch(t, 1, 0, 19, 1, ts), nil, 0, time.Now()); !errors.As(err, &d) || d.FirstOffset != offsets[19] {
			t.Fatalf("sequence 19 again: %v", err)
		}
		// Truncation to the start forgets everything.
		if err := l.TruncateTo(0); err != nil {
			t.Fatal(err)
		}
		if n := len(producerSnapshotOf(l)); n != 0 || len(snapshotFiles(t, dir)) != 0 {
			t.Fatalf("%d producers, snapshots %v after truncation to 0", n, snapshotFiles(t, dir))
		}
		l.Close()
	}
}

func TestTruncateBelowLogStartForgetsProducers(t *testing.T) {
	base := time.Now().Add(-time.Hour)
	cfg := smallConfig()
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	for i := 0; i < 3; i++ {
		mustAppend(t, l, idemBatch(t, 9, 0, int32(i), 1, base.UnixMilli()), 0, nil)
		if i < 2 {
			l.Roll()
		}
	}
	cfg.RetentionAge = time.Minute
	l.SetConfig(cfg)
	if n, err := l.EnforceRetention(time.Now(), nil); err != nil || n != 2 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	if err := l.TruncateTo(1); err != nil { // below the log start (2)
		t.Fatal(err)
	}
	if n := len(producerSnapshotOf(l)); n != 0 {
		t.Fatalf("%d producers after emptying the log", n)
	}
	if offs := snapshotFiles(t, l.dir); len(offs) != 0 {
		t.Fatalf("snapshots %v after emptying the log", offs)
	}
	if _, err := l.Append(idemBatch(t, 9, 0, 77, 1, time.Now().UnixMilli()), nil, 0, time.Now()); err != nil {
		t.Fatalf("forgotten producer refused: %v", err)
	}
}

func TestRetentionDeletesSnapshots(t *testing.T) {
	old := time.Now().Add(-3 * time.Hour).UnixMilli()
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	for i := 0; i < 6; i++ {
		mustAppend(t, l, idemBatch(t, 5, 0, int32(i), 1, old+int64(i)), 0, nil)
		l.Roll()
	}
	mustAppend(t, l, idemBatch(t, 6, 0, 0, 1, time.Now().UnixMilli()), 0, nil)
	l.FlushUpTo(l.LogEndOffset())
	if offs := snapshotFiles(t, dir); len(offs) != 6 {
		t.Fatalf("snapshots %v, want 6", offs)
	}
	cfg.RetentionAge = time.Hour
	l.SetConfig(cfg)
	n, err := l.EnforceRetention(time.Now(), func(si SegmentInfo) bool { return si.BaseOffset < 4 })
	if err != nil || n != 4 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	if offs := snapshotFiles(t, dir); len(offs) != 3 || offs[0] != 4 {
		t.Fatalf("snapshots %v after retention to 4", offs)
	}
	// Retention forgets segments, not producers.
	var d *DuplicateBatchError
	if _, err := l.Append(idemBatch(t, 5, 0, 5, 1, old), nil, 0, time.Now()); !errors.As(err, &d) || d.FirstOffset != 5 {
		t.Fatalf("last batch after retention: %v", err)
	}
	want := producerSnapshotOf(l)
	l.Close()
	l = openLog(t, dir, cfg)
	defer l.Close()
	sameProducers(t, "after retention and restart", producerSnapshotOf(l), want)
	if offs := snapshotFiles(t, dir); offs[0] != 4 {
		t.Fatalf("snapshots %v", offs)
	}
}

func TestProducerExpiration(t *testing.T) {
	now := time.Now()
	cfg := smallConfig()
	cfg.ProducerIDExpiration = time.Hour
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	mustAppend(t, l, idemBatch(t, 1, 0, 0, 1, now.Add(-2*time.Hour).UnixMilli()), 0, nil)
	mustAppend(t, l, idemBatch(t, 1, 0, 1, 1, now.Add(-90*time.Minute).UnixMilli()), 0, nil) // its last batch decides
	mustAppend(t, l, idemBatch(t, 2, 0, 0, 1, now.Add(-2*time.Hour).UnixMilli()), 0, nil)
	mustAppend(t, l, idemBatch(t, 2, 0, 1, 1, now.Add(-10*time.Minute).UnixMilli()), 0, nil)
	mustAppend(t, l, idemBatch(t, 3, 0, 0, 1, now.UnixMilli()), 0, nil)
	if n := len(producerSnapshotOf(l)); n != 3 {
		t.Fatalf("%d producers before a snapshot", n)
	}
	// Producers are pruned when a snapshot is taken.
	l.Roll()
	got := producerSnapshotOf(l)
	if _, ok := got[1]; ok || len(got) != 2 {
		t.Fatalf("after the roll's snapshot: %v", got)
	}
	l.FlushUpTo(l.LogEndOffset())
	b, err := os.ReadFile(snapshotPath(dir, l.LogEndOffset()))
	if err != nil {
		t.Fatal(err)
	}
	if _, ps, err := decodeSnapshot(b, l.LogEndOffset()); err != nil || len(ps.m) != 2 || ps.m[1] != nil {
		t.Fatalf("snapshot holds %v (%v)", ps, err)
	}
	// An expired producer is unknown: any sequence is accepted.
	mustAppend(t, l, idemBatch(t, 1, 0, 500, 1, now.UnixMilli()), 0, nil)
	l.Close()

	// A restart prunes too, from the snapshot or from a replay alike.
	cfg.ProducerIDExpiration = 5 * time.Minute
	l = openLog(t, dir, cfg)
	got = producerSnapshotOf(l)
	if _, ok := got[3]; len(got) != 2 || !ok || got[1].last().firstSeq != 500 {
		t.Fatalf("after restart with a shorter expiration (producer 2 idle for 10 minutes): %v", got)
	}
	crash(l)
	for _, off := range snapshotFiles(t, dir) {
		os.Remove(snapshotPath(dir, off))
	}
	l = openLog(t, dir, cfg)
	defer l.Close()
	// A replay cannot know that producer 1 expired between its batches
	// (its old batches stay cached behind the new one); what sequence
	// checks depend on, the producers, epochs and last batches, agree.
	replayed := producerSnapshotOf(l)
	if len(replayed) != len(got) {
		t.Fatalf("after full replay: %v, want %v", replayed, got)
	}
	for pid, e := range got {
		if r, ok := replayed[pid]; !ok || r.epoch != e.epoch || r.last() != e.last() {
			t.Fatalf("producer %d after full replay: %+v, want %+v", pid, r, e)
		}
	}
}

func TestProducerSnapshotEncoding(t *testing.T) {
	ps := newProducerState()
	ps.replay(recordbatch.Header{ProducerID: 7, ProducerEpoch: 2, BaseSequence: 10, LastOffsetDelta: 4, BaseOffset: 100, MaxTimestamp: 55}, nil)
	ps.replay(recordbatch.Header{ProducerID: 7, ProducerEpoch: 2, BaseSequence: 15, LastOffsetDelta: 0, BaseOffset: 105, MaxTimestamp: 56}, nil)
	ps.replay(recordbatch.Header{ProducerID: 3, ProducerEpoch: 0, BaseSequence: math.MaxInt32, LastOffsetDelta: 1, BaseOffset: 200, MaxTimestamp: 57}, nil)
	b := encodeSnapshot(300, ps)
	if len(b) != snapshotHeaderSize+2*snapshotEntryFixed+3*snapshotBatchSize+4 {
		t.Fatalf("%d bytes", len(b))
	}
	off, got, err := decodeSnapshot(b, 300)
	if err != nil || off != 300 {
		t.Fatal(off, err)
	}
	if !maps.EqualFunc(got.m, ps.m, func(a, b *producerEntry) bool { return *a == *b }) {
		t.Fatalf("decoded %v", got.m)
	}
	if got.m[3].last().lastSeq != 0 {
		t.Fatalf("wrapped last sequence %d", got.m[3].last().lastSeq)
	}
	if _, _, err := decodeSnapshot(b, 301); err == nil {
		t.Fatal("offset other than the name accepted")
	}
	bad := func(name string, mutate func([]byte) []byte, fixCRC bool) {
		c := mutate(bytes.Clone(b))
		if fixCRC && len(c) >= snapshotHeaderSize {
			binary.BigEndian.PutUint32(c[6:], crcOf(c))
		}
		if _, _, err := decodeSnapshot(c, -1); !errors.Is(err, errBadSnapshot) {
			t.Errorf("%s: error %v", name, err)
		}
	}
	bad("magic", func(c []byte) []byte { c[0] = 'X'; return c }, true)
	bad("version", func(c []byte) []byte { c[5] = 3; return c }, true)
	bad("crc", func(c []byte) []byte { c[40] ^= 1; return c }, false)
	bad("truncated", func(c []byte) []byte { return c[:len(c)-1] }, true)
	bad("trailing", func(c []byte) []byte { return append(c, 0) }, true)
	bad("count too big", func(c []byte) []byte { binary.BigEndian.PutUint32(c[18:], 1<<30); return c }, true)
	bad("ids out of order", func(c []byte) []byte { binary.BigEndian.PutUint64(c[22:], 9); return c }, true)
	bad("zero batches", func(c []byte) []byte { c[22+10] = 0; return c }, true)
	bad("batch past the offset", func(c []byte) []byte { binary.BigEndian.PutUint64(c[10:], 150); return c }, true)
	bad("sequence span", func(c []byte) []byte { binary.BigEndian.PutUint32(c[22+11+4:], 5); return c }, true)
	bad("short", func(c []byte) []byte { return c[:10] }, false)
}

func crcOf(b []byte) uint32 {
	return crc32.Checksum(b[snapshotCRCStart:], snapshotCRC)
}

func FuzzProducerSnapshot(f *testing.F) {
	ps := newProducerState()
	f.Add(encodeSnapshot(0, ps))
	for i := int64(0); i < 30; i++ {
		ps.replay(recordbatch.Header{ProducerID: i % 4, ProducerEpoch: int16(i / 20), BaseSequence: int32(i * 3), LastOffsetDelta: int32(i % 3), BaseOffset: i * 10, MaxTimestamp: i}, nil)
	}
	full := encodeSnapshot(1000, ps)
	f.Add(full)
	f.Add(snapshotV1(full))
	ps.trackTxn(recordbatch.Header{ProducerID: 2, ProducerEpoch: 1, Attributes: recordbatch.NewAttributes(recordbatch.CodecNone, recordbatch.CreateTime, true, false), BaseOffset: 900}, nil)
	ps.txns[9] = &txnEntry{first: -1, coordEpoch: 4}
	f.Add(encodeSnapshot(1000, ps))
	f.Add(full[:len(full)-5])
	f.Add(full[:snapshotHeaderSize])
	f.Add([]byte("STPS"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		off, ps, err := decodeSnapshot(b, -1)
		if err != nil {
			if !errors.Is(err, errBadSnapshot) {
				t.Fatalf("error %v does not wrap errBadSnapshot", err)
			}
			return
		}
		// Whatever decodes is canonical: it encodes back to the same
		// bytes (a version 1 file as version 2, which adds the
		// transaction count).
		want := b
		if binary.BigEndian.Uint16(b[4:]) == 1 {
			want = binary.BigEndian.AppendUint32(bytes.Clone(b), 0)
			want[5] = snapshotVersion
			binary.BigEndian.PutUint32(want[6:], crcOf(want))
		}
		if again := encodeSnapshot(off, ps); !bytes.Equal(again, want) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
		for pid, e := range ps.m {
			if pid < 0 || e.n < 1 || e.n > producerBatchesRetained || e.last().lastOffset >= off {
				t.Fatalf("accepted entry %d %+v", pid, e)
			}
		}
	})
}

func TestReplicatedAppendKeepsProducerState(t *testing.T) {
	ts := time.Now().UnixMilli()
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	leader := openLog(t, t.TempDir(), cfg)
	defer leader.Close()
	producerWorkload(t, leader, 25, map[int64]int32{}, map[int64]int16{}, ts)
	follower := openLog(t, t.TempDir(), cfg)
	defer follower.Close()
	for off := int64(0); off < leader.LogEndOffset(); {
		b, err := leader.Read(off, math.MaxInt64, 4096, true)
		if err != nil {
			t.Fatal(err)
		}
		info, err := follower.AppendReplicated(b, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		off = info.LastOffset + 1
	}
	// A follower that becomes leader deduplicates as the old leader did.
	sameProducers(t, "follower", producerSnapshotOf(follower), producerSnapshotOf(leader))
}

// TestProducerStateBounded: a partition written by ever new producer ids (a
// client that starts a producer per request) must not grow its producer
// state, and each roll's snapshot, without bound for a whole
// producer.id.expiration.ms. Past MaxProducers the least recently active
// producers are forgotten, as expiration would forget them.
func TestProducerStateBounded(t *testing.T) {
	now := time.Now().UnixMilli()
	cfg := smallConfig()
	cfg.MaxProducers = 100
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	const producers = 250
	for pid := int64(0); pid < producers; pid++ {
		mustAppend(t, l, idemBatch(t, pid, 0, 0, 1, now+pid), 0, nil)
		if n := len(producerSnapshotOf(l)); n > cfg.MaxProducers {
			t.Fatalf("after producer %d: %d producers remembered, more than MaxProducers %d", pid, n, cfg.MaxProducers)
		}
	}
	got := producerSnapshotOf(l)
	if _, ok := got[producers-1]; !ok {
		t.Fatalf("the most recent producer was forgotten: %d remembered", len(got))
	}
	if _, ok := got[0]; ok {
		t.Fatal("the least recently active producer is still remembered")
	}
	// The most recent producer's retry is still a duplicate.
	_, err := l.Append(idemBatch(t, producers-1, 0, 0, 1, now+producers-1), nil, 0, time.Now())
	if dup := (*DuplicateBatchError)(nil); !errors.As(err, &dup) {
		t.Fatalf("retry of the newest producer's batch: %v, want a duplicate", err)
	}
	l.Roll()
	l.FlushUpTo(l.LogEndOffset())
	b, err := os.ReadFile(snapshotPath(dir, l.LogEndOffset()))
	if err != nil {
		t.Fatal(err)
	}
	if _, ps, err := decodeSnapshot(b, l.LogEndOffset()); err != nil || len(ps.m) > cfg.MaxProducers {
		t.Fatalf("snapshot: %d producers (%v), want at most %d", len(ps.m), err, cfg.MaxProducers)
	}
	// A replay without snapshots is bounded too.
	crash(l)
	for _, off := range snapshotFiles(t, dir) {
		os.Remove(snapshotPath(dir, off))
	}
	l = openLog(t, dir, cfg)
	defer l.Close()
	if n := len(producerSnapshotOf(l)); n > cfg.MaxProducers {
		t.Fatalf("after a full replay: %d producers, more than %d", n, cfg.MaxProducers)
	}
}

// snapshotV1 turns a version 2 snapshot without transactions into the
// version 1 file an older broker wrote.
func snapshotV1(v2 []byte) []byte {
	b := bytes.Clone(v2[:len(v2)-4])
	b[5] = 1
	binary.BigEndian.PutUint32(b[6:], crcOf(b))
	return b
}

// TestProducerSnapshotTransactions: version 2 keeps the open transactions
// and coordinator epochs; a version 1 file (no transactions) still loads.
func TestProducerSnapshotTransactions(t *testing.T) {
	txnAttrs := recordbatch.NewAttributes(recordbatch.CodecNone, recordbatch.CreateTime, true, false)
	ps := newProducerState()
	ps.replay(recordbatch.Header{ProducerID: 7, ProducerEpoch: 2, BaseSequence: 0, LastOffsetDelta: 4, BaseOffset: 100, MaxTimestamp: 55, Attributes: txnAttrs}, nil)
	ps.replay(recordbatch.Header{ProducerID: 8, ProducerEpoch: 0, BaseSequence: 0, LastOffsetDelta: 0, BaseOffset: 105, MaxTimestamp: 56}, nil)
	ps.txns[9] = &txnEntry{first: -1, coordEpoch: 3}
	b := encodeSnapshot(300, ps)
	_, got, err := decodeSnapshot(b, 300)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got.txns, ps.txns, func(a, b *txnEntry) bool { return *a == *b }) || got.txns[7].first != 100 {
		t.Fatalf("transactions decoded as %v, want %v", got.txns, ps.txns)
	}
	if first := got.firstUnstable(300); first != 100 {
		t.Fatalf("first unstable offset after decoding %d, want 100", first)
	}
	bad := func(name string, mutate func([]byte) []byte) {
		c := mutate(bytes.Clone(b))
		binary.BigEndian.PutUint32(c[6:], crcOf(c))
		if _, _, err := decodeSnapshot(c, -1); !errors.Is(err, errBadSnapshot) {
			t.Errorf("%s: error %v", name, err)
		}
	}
	txnAt := len(b) - 2*snapshotTxnSize
	bad("transaction past the offset", func(c []byte) []byte { binary.BigEndian.PutUint64(c[txnAt+8:], 300); return c })
	bad("transaction ids out of order", func(c []byte) []byte { binary.BigEndian.PutUint64(c[txnAt:], 10); return c })
	bad("transaction count too big", func(c []byte) []byte { binary.BigEndian.PutUint32(c[txnAt-4:], 3); return c })

	old := newProducerState()
	old.replay(recordbatch.Header{ProducerID: 8, ProducerEpoch: 0, BaseSequence: 0, LastOffsetDelta: 0, BaseOffset: 105, MaxTimestamp: 56}, nil)
	_, got, err = decodeSnapshot(snapshotV1(encodeSnapshot(300, old)), 300)
	if err != nil || len(got.m) != 1 || len(got.txns) != 0 {
		t.Fatalf("version 1 snapshot: %v, %v", got, err)
	}
}
