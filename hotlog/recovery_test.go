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

// template is a crashed log: a sealed segment and an active one of several
// KiB, with what was written.
type template struct {
	files   map[string][]byte
	a       *appended
	active  string // file name of the active .log
	sealed  string // file name of the sealed .log
	actBase int64
	// positions of the active segment's batches in its file
	starts, ends []int64
	firstActive  int // index in a.batches of the active segment's first batch
}

func recoveryConfig() Config {
	cfg := smallConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 1024
	return cfg
}

func makeTemplate(t *testing.T) *template {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, recoveryConfig())
	a := &appended{}
	for i := 0; i < 110; i++ {
		mustAppend(t, l, simpleBatch(t, 1_000_000+int64(i)*100, 1+i%3, 60), int32(i/40), a)
	}
	segs := l.Segments()
	if len(segs) != 2 || segs[1].Size < 5000 {
		t.Fatalf("template has segments %+v", segs)
	}
	crash(l)
	tp := &template{files: map[string][]byte{}, a: a, actBase: segs[1].BaseOffset,
		active: filepath.Base(segs[1].Path), sealed: filepath.Base(segs[0].Path)}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		tp.files[e.Name()] = b
	}
	var pos int64
	for i, b := range a.batches {
		h, _ := recordbatch.ParseHeader(b)
		if h.BaseOffset < tp.actBase {
			continue
		}
		if len(tp.starts) == 0 {
			tp.firstActive = i
		}
		tp.starts = append(tp.starts, pos)
		pos += int64(len(b))
		tp.ends = append(tp.ends, pos)
	}
	if pos != int64(len(tp.files[tp.active])) {
		t.Fatalf("active file has %d bytes, batches %d", len(tp.files[tp.active]), pos)
	}
	return tp
}

// materialize writes the template into a new directory, letting mutate
// change the active .log bytes.
func (tp *template) materialize(t *testing.T, mutate func(b []byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range tp.files {
		b = append([]byte(nil), b...)
		if name == tp.active && mutate != nil {
			b = mutate(b)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkPrefix opens dir and checks that the log holds exactly the first
// keep batches of the active segment (and all earlier ones), then that an
// append lands at the right offset.
func (tp *template) checkPrefix(t *testing.T, dir string, keep int) {
	t.Helper()
	tp.checkPrefixPatched(t, dir, keep, nil)
}

// checkPrefixPatched is checkPrefix where patch changes the expected bytes
// (the whole log, concatenated) first.
func (tp *template) checkPrefixPatched(t *testing.T, dir string, keep int, patch func([]byte)) {
	t.Helper()
	l := openLog(t, dir, recoveryConfig())
	defer crash(l)
	n := tp.firstActive + keep
	var want []byte
	for _, b := range tp.a.batches[:n] {
		want = append(want, b...)
	}
	if patch != nil {
		patch(want)
	}
	wantLEO := tp.actBase
	if keep > 0 {
		h, _ := recordbatch.ParseHeader(want[len(want)-len(tp.a.batches[n-1]):])
		wantLEO = h.LastOffset() + 1
	}
	if l.LogEndOffset() != wantLEO {
		t.Fatalf("LEO %d, want %d (keep %d batches)", l.LogEndOffset(), wantLEO, keep)
	}
	if got := readAll(t, l, 0); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d", len(got), len(want))
	}
	if fi, _ := os.Stat(filepath.Join(dir, tp.active)); fi.Size() != tp.starts[0]+sumLens(tp, keep) {
		t.Fatalf("active file is %d bytes, want %d", fi.Size(), sumLens(tp, keep))
	}
	info, err := l.Append(simpleBatch(t, 5, 2, 5), nil, 9, time.Now())
	if err != nil || info.FirstOffset != wantLEO {
		t.Fatalf("append after recovery: %+v %v", info, err)
	}
	if got := readAll(t, l, wantLEO); len(headersOf(t, got)) != 1 {
		t.Fatalf("appended batch not readable")
	}
}

func sumLens(tp *template, keep int) int64 {
	if keep == 0 {
		return 0
	}
	return tp.ends[keep-1]
}

func TestRecoveryTornTail(t *testing.T) {
	tp := makeTemplate(t)
	nb := len(tp.starts)
	last := nb - 1
	size := tp.ends[last]

	t.Run("intact", func(t *testing.T) {
		tp.checkPrefix(t, tp.materialize(t, nil), nb)
	})
	t.Run("truncate at every byte of the last batch", func(t *testing.T) {
		for cut := tp.starts[last]; cut < size; cut++ {
			dir := tp.materialize(t, func(b []byte) []byte { return b[:cut] })
			tp.checkPrefix(t, dir, last)
		}
	})
	t.Run("truncate inside earlier batches", func(t *testing.T) {
		for _, j := range []int{0, 1, nb / 2} {
			for _, d := range []int64{0, 1, 8, 12, 60, 61} {
				cut := tp.starts[j] + d
				dir := tp.materialize(t, func(b []byte) []byte { return b[:cut] })
				tp.checkPrefix(t, dir, j)
			}
		}
	})
	// Flip one bit in each region of a batch: the fields of the header and
	// the records. Only the leader epoch is outside every check (it is
	// outside the CRC too), so that batch survives.
	regions := []struct {
		name    string
		off     int64
		epoch   bool
		fromEnd bool
	}{
		{"base offset high", 0, false, false},
		{"base offset low", 7, false, false},
		{"length high", 8, false, false},
		{"length low", 11, false, false},
		{"leader epoch", 13, true, false},
		{"magic", 16, false, false},
		{"crc", 18, false, false},
		{"attributes", 22, false, false},
		{"last offset delta", 26, false, false},
		{"first timestamp", 30, false, false},
		{"max timestamp", 40, false, false},
		{"producer id", 45, false, false},
		{"record count", 60, false, false},
		{"first record", 62, false, false},
		{"last byte", 1, false, true},
	}
	for _, j := range []int{last, nb / 2, 0} {
		for _, r := range regions {
			t.Run(fmt.Sprintf("flip %s of batch %d", r.name, j), func(t *testing.T) {
				at := tp.starts[j] + r.off
				if r.fromEnd {
					at = tp.ends[j] - r.off
				}
				dir := tp.materialize(t, func(b []byte) []byte { b[at] ^= 0x10; return b })
				sealedLen := int64(len(tp.files[tp.sealed]))
				if r.epoch {
					tp.checkPrefixPatched(t, dir, nb, func(b []byte) { b[sealedLen+at] ^= 0x10 })
					return
				}
				if r.off == 7 && tp.files[tp.active][at]&0x10 == 0 {
					// A raised base offset is a gap, which a compacted
					// log has wherever the cleaner removed batches: the
					// batch is kept (as Kafka keeps it) and the next one,
					// now below it, is where the valid prefix ends.
					tp.checkPrefixPatched(t, dir, j+1, func(b []byte) { b[sealedLen+at] ^= 0x10 })
					return
				}
				tp.checkPrefix(t, dir, j)
			})
		}
	}
	t.Run("zero the final 4 KiB page", func(t *testing.T) {
		page := ((size - 1) / 4096) * 4096
		dir := tp.materialize(t, func(b []byte) []byte { clear(b[page:]); return b })
		keep := 0
		for keep < nb && tp.ends[keep] <= page {
			keep++
		}
		if keep == 0 || keep == nb {
			t.Fatalf("template does not exercise a partial page (keep %d of %d)", keep, nb)
		}
		tp.checkPrefix(t, dir, keep)
	})
	t.Run("zeroed pages past the end", func(t *testing.T) {
		dir := tp.materialize(t, func(b []byte) []byte { return append(b, make([]byte, 8192)...) })
		tp.checkPrefix(t, dir, nb)
	})
	t.Run("garbage appended", func(t *testing.T) {
		garbage := bytes.Repeat([]byte("garbage!"), 100)
		dir := tp.materialize(t, func(b []byte) []byte { return append(b, garbage...) })
		tp.checkPrefix(t, dir, nb)
	})
	t.Run("valid batch with a wrong offset appended", func(t *testing.T) {
		extra := append([]byte(nil), tp.a.batches[len(tp.a.batches)-1]...)
		dir := tp.materialize(t, func(b []byte) []byte { return append(b, extra...) })
		tp.checkPrefix(t, dir, nb)
	})
	t.Run("empty active file", func(t *testing.T) {
		dir := tp.materialize(t, func(b []byte) []byte { return b[:0] })
		tp.checkPrefix(t, dir, 0)
	})
	t.Run("active index files missing", func(t *testing.T) {
		dir := tp.materialize(t, nil)
		base := tp.active[:20]
		os.Remove(filepath.Join(dir, base+extIndex))
		os.Remove(filepath.Join(dir, base+extTimeIndex))
		tp.checkPrefix(t, dir, nb)
	})
}

func TestRecoverySealedSegmentTail(t *testing.T) {
	tp := makeTemplate(t)
	// Truncate the sealed segment inside its last batch: its index no
	// longer matches, so it is recovered, and the active segment (written
	// after it) goes.
	dir := tp.materialize(t, nil)
	sealedPath := filepath.Join(dir, tp.sealed)
	b := tp.files[tp.sealed]
	if err := os.WriteFile(sealedPath, b[:len(b)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cleanShutdownFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, recoveryConfig())
	defer l.Close()
	want := tp.a.batches[:tp.firstActive-1]
	if got := readAll(t, l, 0); !bytes.Equal(got, bytes.Join(want, nil)) {
		t.Fatalf("read %d bytes, want %d", len(got), len(bytes.Join(want, nil)))
	}
	h, _ := recordbatch.ParseHeader(want[len(want)-1])
	if l.LogEndOffset() != h.LastOffset()+1 || len(l.Segments()) != 1 {
		t.Fatalf("LEO %d segments %d", l.LogEndOffset(), len(l.Segments()))
	}
	if _, err := os.Stat(filepath.Join(dir, tp.active)); !os.IsNotExist(err) {
		t.Fatalf("later segment not removed: %v", err)
	}
	if info := mustAppend(t, l, simpleBatch(t, 1, 1, 1), 5, nil); info.FirstOffset != h.LastOffset()+1 {
		t.Fatalf("append at %d", info.FirstOffset)
	}
}

func TestCorruptSealedSegmentReads(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, recoveryConfig())
	a := &appended{}
	for i := 0; i < 110; i++ {
		mustAppend(t, l, simpleBatch(t, 1_000_000+int64(i)*100, 2, 60), 0, a)
	}
	sealed := l.Segments()[0]
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Damage batch 10's records in place: invisible to a clean open.
	var pos int64
	for _, b := range a.batches[:10] {
		pos += int64(len(b))
	}
	f, err := os.OpenFile(sealed.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xde, 0xad}, pos+80)
	f.Close()

	l = openLog(t, dir, recoveryConfig())
	defer l.Close()
	got := readAll(t, l, 0)
	if !bytes.Equal(got, bytes.Join(a.batches[:10], nil)) {
		t.Fatalf("read before the damage: %d batches", len(headersOf(t, got)))
	}
	h10, _ := recordbatch.ParseHeader(a.batches[10])
	if _, err := l.Read(h10.BaseOffset, math.MaxInt64, 1<<20, true); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("read of the damaged batch: %v", err)
	}
	if _, _, _, err := l.OffsetForTimestamp(h10.BaseTimestamp); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("timestamp lookup into the damaged batch: %v", err)
	}
	h11, _ := recordbatch.ParseHeader(a.batches[11])
	if got, err := l.Read(h11.BaseOffset, math.MaxInt64, 1<<20, false); err != nil || len(got) == 0 {
		t.Fatalf("read after the damage: %v", err)
	}
}

func TestIndexRebuild(t *testing.T) {
	dir := t.TempDir()
	cfg := recoveryConfig()
	l := openLog(t, dir, cfg)
	a := &appended{}
	for i := 0; i < 200; i++ {
		mustAppend(t, l, simpleBatch(t, 1_000_000+int64(i)*100, 1+i%4, 50), 0, a)
	}
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	orig := map[string][]byte{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		orig[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
	}
	sealed := segmentFileName(segs[1].BaseOffset, "")
	active := segmentFileName(segs[len(segs)-1].BaseOffset, "")
	tests := []struct {
		name   string
		file   string
		mutate func([]byte) []byte // nil: delete
	}{
		{"sealed index missing", sealed + extIndex, nil},
		{"sealed time index missing", sealed + extTimeIndex, nil},
		{"active index missing", active + extIndex, nil},
		{"sealed index partial entry", sealed + extIndex, func(b []byte) []byte { return append(b, 1, 2, 3) }},
		{"sealed index garbage", sealed + extIndex, func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, len(b)) }},
		{"sealed index zeroed", sealed + extIndex, func(b []byte) []byte { return make([]byte, len(b)) }},
		{"sealed index entries swapped", sealed + extIndex, func(b []byte) []byte {
			c := append([]byte(nil), b...)
			copy(c[8:16], b[16:24])
			copy(c[16:24], b[8:16])
			return c
		}},
		{"sealed index position past the end", sealed + extIndex, func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[len(c)-4] = 0x7f
			return c
		}},
		{"sealed index last entry lost", sealed + extIndex, func(b []byte) []byte { return b[:len(b)-8] }},
		{"sealed index empty", sealed + extIndex, func(b []byte) []byte { return nil }},
		{"sealed time index final entry lost", sealed + extTimeIndex, func(b []byte) []byte { return b[:len(b)-12] }},
		{"sealed time index garbage", sealed + extTimeIndex, func(b []byte) []byte { return bytes.Repeat([]byte{0x80}, len(b)) }},
		{"active time index empty", active + extTimeIndex, func(b []byte) []byte { return nil }},
	}
	for _, tt := range tests {
		for _, clean := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s clean=%v", tt.name, clean), func(t *testing.T) {
				d := t.TempDir()
				for name, b := range orig {
					if name == cleanShutdownFile && !clean {
						continue
					}
					if name == tt.file {
						if tt.mutate == nil {
							continue
						}
						b = tt.mutate(b)
					}
					os.WriteFile(filepath.Join(d, name), b, 0o644)
				}
				l := openLog(t, d, cfg)
				if got := readAll(t, l, 0); !bytes.Equal(got, a.from(0, math.MaxInt64)) {
					t.Fatalf("read differs")
				}
				for _, off := range []int64{0, 17, segs[1].BaseOffset + 3, l.LogEndOffset() - 1} {
					if got := readAll(t, l, off); !bytes.Equal(got, a.from(off, math.MaxInt64)) {
						t.Fatalf("read from %d differs", off)
					}
				}
				o, ts, found, err := l.MaxTimestamp()
				last, _ := recordbatch.ParseHeader(a.batches[len(a.batches)-1])
				if err != nil || !found || ts != last.MaxTimestamp || o != last.LastOffset() {
					t.Fatalf("max timestamp %d at %d (%v %v), want %d at %d", ts, o, found, err, last.MaxTimestamp, last.LastOffset())
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				// The rebuilt files equal the ones written by appends.
				got, err := os.ReadFile(filepath.Join(d, tt.file))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, orig[tt.file]) {
					t.Fatalf("%s rebuilt as %d bytes, originally %d", tt.file, len(got), len(orig[tt.file]))
				}
			})
		}
	}
}

func TestOpenIgnoresStrangeFiles(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig())
	a := fill(t, l, 20, 0)
	l.Close()
	for name, content := range map[string]string{
		"garbage.log":                    "x",
		"123.log":                        "y",
		"00000000000000099999.index":     "orphan",
		"00000000000000099999.timeindex": "orphan",
		"leader-epoch-checkpoint.tmp":    "half written",
		"notes.txt":                      "hello",
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	// A directory named like a segment is not ignored but refused: see
	// TestOpenRefusesDirectoryNamedLikeSegment.
	l = openLog(t, dir, smallConfig())
	defer l.Close()
	if got := readAll(t, l, 0); !bytes.Equal(got, a.from(0, math.MaxInt64)) {
		t.Fatal("read differs")
	}
	for name, exists := range map[string]bool{
		"garbage.log": true, "123.log": true, "notes.txt": true,
		"00000000000000099999.index": false, "00000000000000099999.timeindex": false,
		"leader-epoch-checkpoint.tmp": false,
	} {
		_, err := os.Stat(filepath.Join(dir, name))
		if (err == nil) != exists {
			t.Errorf("%s: exists=%v, want %v", name, err == nil, exists)
		}
	}
}

func FuzzRecovery(f *testing.F) {
	// Seeds: a real segment, its truncations and damaged copies.
	dir := f.TempDir()
	l, err := Open(dir, smallConfig(), nil)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := l.Append(simpleBatch(f, int64(i)*10, 1+i%3, 20), nil, 1, time.Now()); err != nil {
			f.Fatal(err)
		}
	}
	z := buildBatch(f, batchSpec{codec: 4, firstTs: 100, records: []testRecord{{value: []byte("zstd")}, {value: []byte("z")}}})
	if _, err := l.Append(z, nil, 2, time.Now()); err != nil {
		f.Fatal(err)
	}
	crash(l)
	seg, err := os.ReadFile(filepath.Join(dir, segmentFileName(0, extLog)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-1])
	f.Add(seg[:100])
	f.Add(append(append([]byte(nil), seg...), make([]byte, 100)...))
	flipped := append([]byte(nil), seg...)
	flipped[150] ^= 1
	f.Add(flipped)
	f.Add([]byte{})
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentFileName(0, extLog)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, smallConfig(), nil)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		got, err := l.Read(0, math.MaxInt64, math.MaxInt32, true)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		next := int64(0)
		for pos := 0; pos < len(got); {
			h, err := recordbatch.ParseHeader(got[pos:])
			if err != nil {
				t.Fatal(err)
			}
			if err := recordbatch.CheckFrame(h, int64(len(got)-pos)); err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset != next || recordbatch.Checksum(got[pos:pos+h.Size()]) != h.CRC {
				t.Fatalf("batch at %d: base %d (want %d), crc ok %v", pos, h.BaseOffset, next, recordbatch.Checksum(got[pos:pos+h.Size()]) == h.CRC)
			}
			next = h.LastOffset() + 1
			pos += h.Size()
		}
		if !bytes.Equal(got, data[:len(got)]) {
			t.Fatal("recovered bytes are not a prefix of the file")
		}
		if l.LogEndOffset() != next {
			t.Fatalf("LEO %d, batches end at %d", l.LogEndOffset(), next)
		}
		info, err := l.Append(simpleBatch(t, 1, 1, 1), nil, 3, time.Now())
		if err != nil || info.FirstOffset != next {
			t.Fatalf("append after recovery: %+v %v", info, err)
		}
	})
}

// TestOpenRefusesDirectoryNamedLikeSegment: a directory where a segment
// file belongs is a storage error, not a segment to skip; skipping it
// opened the log without those records and removed their indexes.
func TestOpenRefusesDirectoryNamedLikeSegment(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, DefaultConfig())
	var a appended
	mustAppend(t, l, simpleBatch(t, 1, 3, 10), 0, &a)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, "00000000000000000000.log")
	if err := os.Rename(seg, seg+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(seg, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, DefaultConfig(), testLogger(t)); !errors.Is(err, ErrStorage) {
		t.Fatalf("open with a directory for a segment: %v, want ErrStorage", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.index")); err != nil {
		t.Fatalf("the segment's index was removed: %v", err)
	}
	os.Remove(seg)
	if err := os.Rename(seg+".moved", seg); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, DefaultConfig())
	defer l.Close()
	if got := l.LogEndOffset(); got != 3 {
		t.Fatalf("log end %d after the segment is back, want 3", got)
	}
}

// TestUncleanOpenFlushesAfterOpen: Open after a crash runs no fsync of
// its own (start-up with thousands of partitions, issue 25), so what it
// recovered is not yet flushed; the first FlushUpTo fsyncs every segment
// and the directory before the log end counts as flushed.
func TestUncleanOpenFlushesAfterOpen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig())
	for range 20 {
		mustAppend(t, l, simpleBatch(t, 1, 2, 100), 0, nil)
	}
	if len(l.Segments()) < 2 {
		t.Fatalf("want sealed segments, have %d", len(l.Segments()))
	}
	leo := l.LogEndOffset()
	crash(l)

	l = openLog(t, dir, smallConfig())
	defer l.Close()
	if f, n := l.FlushedOffset(), l.syncs.Load(); f != l.LogStartOffset() || n != 0 {
		t.Fatalf("after an unclean open: flushed %d, want the log start %d; %d fsync rounds, want 0", f, l.LogStartOffset(), n)
	}
	if err := l.FlushUpTo(leo); err != nil {
		t.Fatal(err)
	}
	if l.syncs.Load() != 1 {
		t.Fatalf("%d fsync rounds for the first flush, want 1", l.syncs.Load())
	}
	if l.FlushedOffset() != leo {
		t.Fatalf("flushed %d, want %d", l.FlushedOffset(), leo)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		if s.dirty {
			t.Fatalf("segment %d still dirty after the flush", s.base)
		}
	}
	if l.dirDirty {
		t.Fatal("directory not fsynced by the first flush after an unclean open")
	}
}
