package hotlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// compactConfig is smallConfig for a compacted log: small segments, every
// dirty byte cleanable, tombstones kept an hour.
func compactConfig() Config {
	cfg := smallConfig()
	cfg.Compact = true
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetention = time.Hour
	return cfg
}

// logRecord is one record as read back from the log.
type logRecord struct {
	offset, ts int64
	key, value []byte
}

func (r logRecord) String() string {
	v := "<nil>"
	if r.value != nil {
		v = string(r.value)
	}
	return fmt.Sprintf("%d:%s=%s@%d", r.offset, r.key, v, r.ts)
}

// logRecords reads the whole log from its start and decodes every record,
// checking that offsets increase.
func logRecords(tb testing.TB, l *Log) []logRecord {
	tb.Helper()
	var out []logRecord
	b := readAll(tb, l, l.LogStartOffset())
	last := int64(-1)
	for _, h := range headersOf(tb, b) {
		if h.BaseOffset <= last {
			tb.Fatalf("batch at %d after offset %d", h.BaseOffset, last)
		}
		batch := b[:h.Size()]
		b = b[h.Size():]
		if recordbatch.Checksum(batch) != h.CRC {
			tb.Fatalf("batch at %d: bad crc", h.BaseOffset)
		}
		if err := recordbatch.Records(h, batch, math.MaxInt32, func(r *recordbatch.Record) error {
			out = append(out, logRecord{offset: r.Offset, ts: r.Timestamp, key: bytes.Clone(r.Key), value: bytes.Clone(r.Value)})
			return nil
		}); err != nil {
			tb.Fatalf("batch at %d: %v", h.BaseOffset, err)
		}
		last = h.LastOffset()
	}
	return out
}

// model is what a compacted log must hold: every keyless record, and per
// key its last record unless that is a tombstone whose delete horizon (the
// first clean that saw it, plus delete.retention.ms) has passed.
type model struct {
	all      []logRecord
	seenAt   map[int64]time.Time // offset -> time of the first clean that saw it
	retained time.Duration
}

func (m *model) view(now time.Time, cleanedTo int64) []logRecord {
	lastOf := map[string]int64{}
	for _, r := range m.all {
		if r.key != nil && r.offset < cleanedTo {
			lastOf[string(r.key)] = r.offset
		}
	}
	var out []logRecord
	for _, r := range m.all {
		switch {
		case r.offset >= cleanedTo || r.key == nil:
			out = append(out, r)
		case lastOf[string(r.key)] != r.offset:
		case r.value == nil && !now.Before(m.seenAt[r.offset].Add(m.retained)):
		default:
			out = append(out, r)
		}
	}
	return out
}

// TestCleanerModel: random keyed updates, tombstones and keyless records
// (every codec, an idempotent producer among plain ones), cleaned round
// after round with the clock moving past delete.retention.ms: after each
// clean the log read from its start is exactly the model's view (last
// value per key, tombstones until their horizon, keyless records kept),
// every record at its offset with its timestamp; the log reopens to the
// same view (indexes, swaps) and the producer's sequence survives.
func TestCleanerModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { testCleanerModel(t, seed, 0) })
	}
	t.Run("small dedupe buffer", func(t *testing.T) { testCleanerModel(t, 9, 24*40) })
}

func testCleanerModel(t *testing.T, seed uint64, dedupe int64) {
	rng := rand.New(rand.NewPCG(seed, 77))
	dir := t.TempDir()
	cfg := compactConfig()
	l := openLog(t, dir, cfg)
	defer func() { l.Close() }()
	cl := NewCleaner(CleanerConfig{DedupeBufferBytes: dedupe})
	m := &model{seenAt: map[int64]time.Time{}, retained: cfg.DeleteRetention}
	// Real time: the producer state expires by the wall clock at Open.
	now := time.Now().Truncate(time.Millisecond)
	var seq int32
	lastIdem := []byte(nil)
	cleanedTo := int64(0)
	for round := 0; round < 12; round++ {
		for range 20 + rng.IntN(30) {
			spec := batchSpec{codec: recordbatch.Codec(rng.IntN(5)), firstTs: now.UnixMilli()}
			n := 1 + rng.IntN(6)
			for i := range n {
				r := testRecord{tsDelta: int64(i)}
				switch x := rng.IntN(20); {
				case x == 0:
					r.value = fmt.Appendf(nil, "keyless-%d", rng.IntN(1000))
				case x < 4:
					r.key = fmt.Appendf(nil, "k%d", rng.IntN(30))
				default:
					r.key = fmt.Appendf(nil, "k%d", rng.IntN(30))
					r.value = fmt.Appendf(nil, "v%d-%d", round, rng.IntN(1e6))
				}
				spec.records = append(spec.records, r)
			}
			b := buildBatch(t, spec)
			idem := rng.IntN(4) == 0
			if idem {
				h, _ := recordbatch.ParseHeader(b)
				h.ProducerID, h.ProducerEpoch, h.BaseSequence = 7, 0, seq
				h.Put(b)
				recordbatch.SetCRC(b)
				seq += int32(n)
				lastIdem = bytes.Clone(b)
			}
			info, err := l.Append(b, nil, 0, now)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range spec.records {
				m.all = append(m.all, logRecord{offset: info.FirstOffset + int64(i), ts: now.UnixMilli() + int64(i), key: r.key, value: r.value})
			}
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		// Clean until the checkpoint reaches the log end (a small
		// dedupe buffer takes several passes).
		for pass := 0; cleanedTo < l.LogEndOffset(); pass++ {
			if pass > 50 {
				t.Fatalf("cleaner stuck at %d", cleanedTo)
			}
			c := l.Cleanable(now, math.MaxInt64)
			if !c.Due(0) {
				t.Fatalf("not due: %+v, checkpoint %d, end %d", c, cleanedTo, l.LogEndOffset())
			}
			st, err := cl.Clean(context.Background(), l, now, math.MaxInt64)
			if err != nil {
				t.Fatal(err)
			}
			// Every record is sealed now, and the passes of a round run
			// at the same time: this round's clean sees them all.
			for _, r := range m.all {
				if _, ok := m.seenAt[r.offset]; !ok {
					m.seenAt[r.offset] = now
				}
			}
			cleanedTo = st.End
			got, want := logRecords(t, l), m.view(now, cleanedTo)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d pass %d: log\n%v\nwant\n%v", round, pass, got, want)
			}
		}
		if round%4 == 3 {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, cfg)
			if got, want := logRecords(t, l), m.view(now, cleanedTo); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after reopen: %d records, want %d", len(got), len(want))
			}
		}
		now = now.Add(time.Duration(10+rng.IntN(40)) * time.Minute)
	}
	// Reads from any offset, gaps included, start at the next batch.
	recs := logRecords(t, l)
	for off := l.LogStartOffset(); off < l.LogEndOffset(); off += 7 {
		b, err := l.Read(off, math.MaxInt64, 1, true)
		if err != nil || len(b) == 0 {
			t.Fatalf("read %d: %v", off, err)
		}
		h, _ := recordbatch.ParseHeader(b)
		if h.LastOffset() < off {
			t.Fatalf("read %d returned a batch ending at %d", off, h.LastOffset())
		}
	}
	if len(recs) >= len(m.all) {
		t.Fatalf("nothing was removed: %d of %d", len(recs), len(m.all))
	}
	// The idempotent producer's state survived: a retry of its last
	// batch is a duplicate, the next sequence is accepted.
	if _, err := l.Append(bytes.Clone(lastIdem), nil, 0, now); !errors.As(err, new(*DuplicateBatchError)) {
		t.Fatalf("retry of the last idempotent batch: %v", err)
	}
	next := idemBatch(t, 7, 0, seq, 2, now.UnixMilli())
	if _, err := l.Append(next, nil, 0, now); err != nil {
		t.Fatalf("next idempotent batch: %v", err)
	}
}

// TestCleanerNeverCleansActiveOrYoung: the active segment and segments with
// records younger than min.compaction.lag.ms are left alone, and upTo (the
// high watermark) bounds the clean.
func TestCleanerNeverCleansActiveOrYoung(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCompactionLag = time.Hour
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	now := time.UnixMilli(1_700_000_000_000)
	add := func(ts time.Time, k, v string) {
		b := buildBatch(t, batchSpec{firstTs: ts.UnixMilli(), records: []testRecord{{key: []byte(k), value: []byte(v)}}})
		if _, err := l.Append(b, nil, 0, ts); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		add(now.Add(-2*time.Hour), "a", fmt.Sprint("old", i))
	}
	l.Roll()
	for i := range 20 {
		add(now, "a", fmt.Sprint("young", i))
	}
	l.Roll()
	for i := range 5 {
		add(now, "a", fmt.Sprint("active", i))
	}
	l.FlushUpTo(l.LogEndOffset())
	cl := NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16})
	if _, err := cl.Clean(context.Background(), l, now, math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	got := logRecords(t, l)
	// Old segment: only its last "a" (offset 19) remains, since younger
	// segments were not mapped; the young and active ones are untouched.
	if len(got) != 1+20+5 || got[0].offset != 19 || string(got[0].value) != "old19" {
		t.Fatalf("got %v", got)
	}
	// upTo below the first segment's end: nothing is cleanable.
	if c := l.Cleanable(now.Add(2*time.Hour), 10); c.DirtyBytes != 0 {
		t.Fatalf("cleanable below upTo 10: %+v", c)
	}
}

// TestCleanerCrashAtEachStep kills the clean (the files left as a crash
// leaves them, the log abandoned without Close) at every step of a
// segment swap: the reopened log holds the old segments before the commit
// and the cleaned ones after it, never a mix, and no .cleaned or .swap
// file is left.
func TestCleanerCrashAtEachStep(t *testing.T) {
	for _, step := range []string{"cleaned", "swap-indexes", "committed", "old-deleted"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			cfg := compactConfig()
			l := openLog(t, dir, cfg)
			now := time.UnixMilli(1_700_000_000_000)
			for i := range 200 {
				b := buildBatch(t, batchSpec{firstTs: now.UnixMilli(), records: []testRecord{{key: fmt.Appendf(nil, "k%d", i%7), value: fmt.Appendf(nil, "v%d", i)}}})
				if _, err := l.Append(b, nil, 0, now); err != nil {
					t.Fatal(err)
				}
			}
			l.Roll()
			l.FlushUpTo(l.LogEndOffset())
			before := fmt.Sprint(logRecords(t, l))
			l.testHookClean = func(s string) error {
				if s == step {
					return errSimulatedCrash
				}
				return nil
			}
			_, err := NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16}).Clean(context.Background(), l, now, math.MaxInt64)
			if !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("clean: %v", err)
			}
			crash(l)
			l = openLog(t, dir, cfg)
			defer l.Close()
			l.FlushUpTo(l.LogEndOffset()) // recovery starts unflushed; the cleaner takes only flushed data
			after := logRecords(t, l)
			committed := step == "committed" || step == "old-deleted"
			if !committed && fmt.Sprint(after) != before {
				t.Fatalf("crash before the commit changed the log:\n%v\nwant\n%s", after, before)
			}
			if committed {
				// The first group's swap went through: its segment
				// holds the last value of each key it saw, and the log
				// still reads as a log (later groups are old).
				if fmt.Sprint(after) == before {
					t.Fatal("crash after the commit left the old segments")
				}
			}
			names, _ := os.ReadDir(dir)
			for _, e := range names {
				if strings.HasSuffix(e.Name(), suffixCleaned) || strings.HasSuffix(e.Name(), suffixSwap) {
					t.Fatalf("left over: %s", e.Name())
				}
			}
			// A full clean afterwards gives the compacted view.
			if _, err := NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16}).Clean(context.Background(), l, now, math.MaxInt64); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range logRecords(t, l) {
				keys = append(keys, string(r.key))
			}
			slices.Sort(keys)
			if len(slices.Compact(slices.Clone(keys))) != 7 || len(keys) != 7 {
				t.Fatalf("after a full clean: keys %v", keys)
			}
		})
	}
}

// TestCleanerCarriesSiblings: a file of a carried extension beside each
// old segment is concatenated into the new segment's (the hook the
// aborted-transaction index uses).
func TestCleanerCarriesSiblings(t *testing.T) {
	old := carriedExts
	carriedExts = []string{".sibling"}
	defer func() { carriedExts = old }()
	dir := t.TempDir()
	l := openLog(t, dir, compactConfig())
	defer l.Close()
	now := time.UnixMilli(1_700_000_000_000)
	for i := range 60 {
		b := buildBatch(t, batchSpec{firstTs: now.UnixMilli(), records: []testRecord{{key: []byte("k"), value: fmt.Appendf(nil, "v%d", i)}}})
		if _, err := l.Append(b, nil, 0, now); err != nil {
			t.Fatal(err)
		}
	}
	l.Roll()
	l.FlushUpTo(l.LogEndOffset())
	segs := l.Segments()
	for _, s := range segs[:len(segs)-1] {
		os.WriteFile(filepath.Join(dir, segmentFileName(s.BaseOffset, ".sibling")), fmt.Appendf(nil, "[%d]", s.BaseOffset), 0o644)
	}
	cl := NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16})
	st, err := cl.Clean(context.Background(), l, now, math.MaxInt64)
	if err != nil || st.Segments != len(segs)-1 {
		t.Fatalf("clean: %+v %v", st, err)
	}
	// Each group of old segments became one; the cleaned segments are
	// small, so the next clean (new dirty records) merges them, each
	// sibling file carried into the merged one's, in order.
	cleaned := l.Segments()
	cleaned = cleaned[:len(cleaned)-1]
	var want []byte
	for _, s := range cleaned {
		b, err := os.ReadFile(filepath.Join(dir, segmentFileName(s.BaseOffset, ".sibling")))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	if len(cleaned) < 2 {
		t.Fatalf("want several small cleaned segments, have %d", len(cleaned))
	}
	b := buildBatch(t, batchSpec{firstTs: now.UnixMilli(), records: []testRecord{{key: []byte("k"), value: []byte("new")}}})
	l.Append(b, nil, 0, now)
	l.Roll()
	l.FlushUpTo(l.LogEndOffset())
	if _, err := cl.Clean(context.Background(), l, now, math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	merged := l.Segments()
	if len(merged) != 2 || merged[0].BaseOffset != 0 {
		t.Fatalf("segments after the second clean: %+v", merged)
	}
	got, err := os.ReadFile(filepath.Join(dir, segmentFileName(0, ".sibling")))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("carried %q, want %q (%v)", got, want, err)
	}
	if recs := logRecords(t, l); len(recs) != 1 || string(recs[0].value) != "new" {
		t.Fatalf("records %v", recs)
	}
}
