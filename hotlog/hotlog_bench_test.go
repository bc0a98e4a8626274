package hotlog

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// benchShapes are batches of about 64 KiB (what franz-go sends under load)
// made of small, medium and large records.
var benchShapes = []struct {
	name          string
	records, size int
}{
	{"100B", 640, 100},
	{"1KiB", 64, 1024},
	{"16KiB", 4, 16384},
}

func benchConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentAge = 0
	cfg.RetentionAge = -1
	cfg.RetentionBytes = -1
	return cfg
}

func openBench(b *testing.B, cfg Config) *Log {
	b.Helper()
	l, err := Open(filepath.Join(b.TempDir(), "bench-0"), cfg, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkValidateBatches is the produce path's check of every batch:
// frame, CRC32C, and a walk over each record.
func BenchmarkValidateBatches(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			batch := simpleBatch(b, 1, s.records, s.size)
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := recordbatch.Validate(batch, recordbatch.DefaultMaxDecompressed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppend appends one batch per op without fsync (acks=1).
func BenchmarkAppend(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			l := openBench(b, benchConfig())
			batch := simpleBatch(b, 1, s.records, s.size)
			now := time.Now()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := l.Append(batch, nil, 0, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendFlush appends one batch and fsyncs it per op (acks=all
// with a single producer: no group commit to share the fsync).
func BenchmarkAppendFlush(b *testing.B) {
	l := openBench(b, benchConfig())
	batch := simpleBatch(b, 1, 64, 1024)
	now := time.Now()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		info, err := l.Append(batch, nil, 0, now)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.FlushUpTo(info.LastOffset + 1); err != nil {
			b.Fatal(err)
		}
	}
}

// filledLog is a log of one 128 MiB segment of ~64 KiB batches of 1 KiB
// records (an offset-index entry every 4 KiB, so every batch has one).
func filledLog(b *testing.B) (*Log, int64) {
	b.Helper()
	l := openBench(b, benchConfig())
	batch := simpleBatch(b, 1, 64, 1024)
	now := time.Now()
	for written := 0; written+len(batch) <= DefaultSegmentBytes; written += len(batch) {
		if _, err := l.Append(batch, nil, 0, now); err != nil {
			b.Fatal(err)
		}
	}
	return l, l.LogEndOffset()
}

// BenchmarkReadSequential is a consumer catching up: 1 MiB fetches, each
// from where the previous one ended (page cache, warm).
func BenchmarkReadSequential(b *testing.B) {
	l, end := filledLog(b)
	var off, n, ops int64
	for b.Loop() {
		data, err := l.Read(off, end, 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		n, ops = n+int64(len(data)), ops+1
		off = nextOffset(b, data)
		if off >= end {
			off = 0
		}
	}
	b.SetBytes(n / max(1, ops)) // the mean fetch size
}

// BenchmarkReadRandom fetches 1 MiB from random offsets: each op locates
// its batch through the offset index first.
func BenchmarkReadRandom(b *testing.B) {
	l, end := filledLog(b)
	r := rand.New(rand.NewPCG(1, 2))
	var n, ops int64
	for b.Loop() {
		data, err := l.Read(r.Int64N(end), end, 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		n, ops = n+int64(len(data)), ops+1
	}
	b.SetBytes(n / max(1, ops)) // the mean fetch size
}

// nextOffset is the offset after the last batch of data.
func nextOffset(b *testing.B, data []byte) int64 {
	hs, err := recordbatch.Frame(data)
	if err != nil {
		b.Fatalf("fetch returned no whole batch: %v", err)
	}
	return hs[len(hs)-1].LastOffset() + 1
}

// BenchmarkIndexLookup finds the index entry at or below an offset in the
// offset index of a full 128 MiB segment (one entry per 4 KiB). The bytes
// per op are one entry's.
func BenchmarkIndexLookup(b *testing.B) {
	entries := DefaultSegmentBytes / DefaultIndexIntervalBytes
	idx := make([]offsetEntry, entries)
	for i := range idx {
		idx[i] = offsetEntry{rel: uint32(i * 4), pos: uint32(i * DefaultIndexIntervalBytes)}
	}
	r := rand.New(rand.NewPCG(1, 2))
	b.SetBytes(offsetEntrySize)
	for b.Loop() {
		if _, ok := floorOffset(idx, r.Int64N(int64(entries*4))); !ok {
			b.Fatal("no entry")
		}
	}
}

// BenchmarkDecodeOffsetIndex loads and checks a full segment's offset
// index (what opening a segment costs).
func BenchmarkDecodeOffsetIndex(b *testing.B) {
	entries := DefaultSegmentBytes / DefaultIndexIntervalBytes
	es := make([]offsetEntry, entries)
	for i := range es {
		es[i] = offsetEntry{rel: uint32(i * 4), pos: uint32(i * DefaultIndexIntervalBytes)}
	}
	raw := appendOffsetEntries(nil, es)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := decodeOffsetIndex(raw, DefaultSegmentBytes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCleaner measures, in one run on the same segments: a raw
// sequential read of the dirty segments (the disk and page cache's pace),
// the log cleaner over them (offset map, rewrite, swap) in MB/s of dirty
// log, and appends to the same log alone and while the cleaner runs (their
// ratio is what cleaning costs producers). 64 MiB of 1 KiB records over
// 10,000 keys, 8 MiB segments. docs/benchmarks.md has the figures.
func BenchmarkCleaner(b *testing.B) {
	const (
		total  = 64 << 20
		recLen = 1024
		keys   = 10000
	)
	for b.Loop() {
		b.StopTimer()
		cfg := benchConfig()
		cfg.SegmentBytes = 8 << 20
		cfg.Compact = true
		cfg.MinCleanableDirtyRatio = 0
		l := openBench(b, cfg)
		rng := rand.New(rand.NewPCG(1, 2))
		batchOf := func(n int) []byte {
			spec := batchSpec{firstTs: time.Now().UnixMilli()}
			for range n {
				spec.records = append(spec.records, testRecord{key: fmt.Appendf(nil, "key-%d", rng.IntN(keys)), value: make([]byte, recLen)})
			}
			return buildBatch(b, spec)
		}
		for written := 0; written < total; {
			bb := batchOf(64)
			written += len(bb)
			if _, err := l.Append(bb, nil, 0, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		l.Roll()
		l.FlushUpTo(l.LogEndOffset())
		var dirty int64
		for _, s := range l.Segments() {
			dirty += s.Size
		}

		// Raw sequential read of the same files.
		start := time.Now()
		buf := make([]byte, 256<<10)
		for _, s := range l.Segments() {
			f, err := os.Open(s.Path)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := f.Read(buf); err != nil {
					break
				}
			}
			f.Close()
		}
		raw := time.Since(start)

		// Appends alone, for a second.
		appendFor := func(d time.Duration) float64 {
			var n int
			start := time.Now()
			for time.Since(start) < d {
				bb := batchOf(64)
				if _, err := l.Append(bb, nil, 0, time.Now()); err != nil {
					b.Fatal(err)
				}
				n += len(bb)
			}
			return float64(n) / time.Since(start).Seconds()
		}
		alone := appendFor(time.Second)

		b.StartTimer()
		cl := NewCleaner(CleanerConfig{DedupeBufferBytes: 16 << 20})
		done := make(chan time.Duration)
		go func() {
			start := time.Now()
			if _, err := cl.Clean(context.Background(), l, time.Now(), math.MaxInt64); err != nil {
				b.Error(err)
			}
			done <- time.Since(start)
		}()
		var during float64
		var took time.Duration
		var n int
		t0 := time.Now()
	loop:
		for {
			select {
			case took = <-done:
				break loop
			default:
			}
			bb := batchOf(64)
			if _, err := l.Append(bb, nil, 0, time.Now()); err != nil {
				b.Fatal(err)
			}
			n += len(bb)
		}
		during = float64(n) / time.Since(t0).Seconds()
		b.StopTimer()
		mb := float64(dirty) / 1e6
		b.ReportMetric(mb/raw.Seconds(), "raw-read-MB/s")
		b.ReportMetric(mb/took.Seconds(), "clean-MB/s")
		b.ReportMetric(alone/1e6, "append-alone-MB/s")
		b.ReportMetric(during/1e6, "append-while-cleaning-MB/s")
		b.ReportMetric(during/alone, "append-ratio")
		l.Close()
		b.StartTimer()
	}
}
