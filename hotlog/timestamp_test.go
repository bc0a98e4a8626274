package hotlog

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// recTS is one record's offset and timestamp, as a brute-force reference.
type recTS struct{ offset, ts int64 }

func TestOffsetForTimestampRecordPrecision(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	cfg.IndexIntervalBytes = 300
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var all []recTS
	ts := int64(1_700_000_000_000)
	for i := 0; i < 150; i++ {
		spec := batchSpec{codec: recordbatch.Codec(rng.IntN(5)), firstTs: ts}
		n := 1 + rng.IntN(6)
		for j := 0; j < n; j++ {
			// Mostly rising timestamps with some going backwards, within
			// and across batches.
			spec.records = append(spec.records, testRecord{tsDelta: int64(rng.IntN(400)) - 50, value: []byte("value")})
		}
		spec.logAppendTime = i%17 == 0
		b := buildBatch(t, spec)
		info := mustAppend(t, l, b, 0, nil)
		h, _ := recordbatch.ParseHeader(b)
		for j, r := range spec.records {
			rt := spec.firstTs + r.tsDelta
			if spec.logAppendTime {
				rt = h.MaxTimestamp
			}
			all = append(all, recTS{info.FirstOffset + int64(j), rt})
		}
		ts += int64(rng.IntN(300)) - 60
	}
	if len(l.Segments()) < 5 {
		t.Fatalf("only %d segments", len(l.Segments()))
	}
	brute := func(q int64) (recTS, bool) {
		for _, r := range all {
			if r.ts >= q {
				return r, true
			}
		}
		return recTS{}, false
	}
	check := func(l *Log) {
		t.Helper()
		lo, hi := all[0].ts-100, all[len(all)-1].ts+1000
		for q := lo; q <= hi; q += 7 {
			want, wantOK := brute(q)
			o, got, ok, err := l.OffsetForTimestamp(q)
			if err != nil || ok != wantOK || (ok && (o != want.offset || got != want.ts)) {
				t.Fatalf("OffsetForTimestamp(%d) = %d,%d,%v,%v; want %d,%d,%v", q, o, got, ok, err, want.offset, want.ts, wantOK)
			}
		}
		var best recTS
		best.ts = -1
		for _, r := range all {
			if r.ts > best.ts {
				best = r
			}
		}
		o, ts, ok, err := l.MaxTimestamp()
		if err != nil || !ok || o != best.offset || ts != best.ts {
			t.Fatalf("MaxTimestamp = %d,%d,%v,%v; want %d,%d", o, ts, ok, err, best.offset, best.ts)
		}
	}
	check(l)
	dir := l.dir
	l.Close()
	l = openLog(t, dir, cfg)
	check(l)
	crash(l)
	l = openLog(t, dir, cfg)
	defer l.Close()
	check(l)
}

func TestOffsetForTimestampCases(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig())
	defer l.Close()
	// offsets 0-2: ts 1000, 1050, 1020 (zstd)
	mustAppend(t, l, buildBatch(t, batchSpec{codec: 4, firstTs: 1000, records: []testRecord{
		{tsDelta: 0, value: []byte("a")}, {tsDelta: 50, value: []byte("b")}, {tsDelta: 20, value: []byte("c")},
	}}), 0, nil)
	// offsets 3-4: LogAppendTime 5000
	lat := buildBatch(t, batchSpec{firstTs: 900, logAppendTime: true, records: []testRecord{{value: []byte("d")}, {tsDelta: 1, value: []byte("e")}}})
	// a broker stamps LogAppendTime into maxTimestamp
	latH, _ := recordbatch.ParseHeader(lat)
	recordbatch.StampLogAppendTime(lat, &latH, 5000)
	mustAppend(t, l, lat, 0, nil)
	// offsets 5-6: ts 1500, 1600 (gzip)
	mustAppend(t, l, buildBatch(t, batchSpec{codec: 1, firstTs: 1500, records: []testRecord{
		{value: []byte("f")}, {tsDelta: 100, value: []byte("g")},
	}}), 0, nil)
	tests := []struct {
		ts         int64
		off, found int64 // found: 1 yes
		wantTs     int64
	}{
		{0, 0, 1, 1000},
		{1000, 0, 1, 1000},
		{1001, 1, 1, 1050},
		{1030, 1, 1, 1050},
		{1050, 1, 1, 1050},
		{1051, 3, 1, 5000},
		{4999, 3, 1, 5000},
		{5000, 3, 1, 5000},
		{5001, 0, 0, 0},
		{math.MaxInt64, 0, 0, 0},
	}
	for _, tt := range tests {
		o, ts, ok, err := l.OffsetForTimestamp(tt.ts)
		if err != nil || ok != (tt.found == 1) || (ok && (o != tt.off || ts != tt.wantTs)) {
			t.Errorf("OffsetForTimestamp(%d) = %d,%d,%v,%v; want %d,%d,%v", tt.ts, o, ts, ok, err, tt.off, tt.wantTs, tt.found == 1)
		}
	}
	o, ts, ok, err := l.MaxTimestamp()
	if err != nil || !ok || o != 3 || ts != 5000 {
		t.Fatalf("MaxTimestamp = %d %d %v %v", o, ts, ok, err)
	}
}

func TestMaxTimestampFirstOccurrence(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig())
	defer l.Close()
	now := time.Now().UnixMilli()
	mustAppend(t, l, buildBatch(t, batchSpec{firstTs: now, records: []testRecord{{value: []byte("a")}, {tsDelta: 9, value: []byte("b")}, {tsDelta: 9}}}), 0, nil)
	l.Roll()
	mustAppend(t, l, buildBatch(t, batchSpec{firstTs: now + 9, records: []testRecord{{}}}), 0, nil)
	o, ts, ok, err := l.MaxTimestamp()
	if err != nil || !ok || o != 1 || ts != now+9 {
		t.Fatalf("MaxTimestamp = %d %d %v %v", o, ts, ok, err)
	}
}

func TestTimestampLookupDecompressionLimit(t *testing.T) {
	ts := time.Now().UnixMilli()
	spec := batchSpec{codec: recordbatch.CodecZstd, firstTs: ts}
	for i := 0; i < 20; i++ {
		spec.records = append(spec.records, testRecord{tsDelta: int64(i), value: bytes.Repeat([]byte{'x'}, 1000)})
	}
	cfg := smallConfig()
	cfg.MaxDecompressedBatchBytes = 4096
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	mustAppend(t, l, buildBatch(t, spec), 0, nil)
	if _, _, _, err := l.OffsetForTimestamp(ts + 5); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("lookup in a batch over the limit: %v", err)
	}
	cfg.MaxDecompressedBatchBytes = 0 // default: 64 MiB
	l.SetConfig(cfg)
	off, got, found, err := l.OffsetForTimestamp(ts + 5)
	if err != nil || !found || off != 5 || got != ts+5 {
		t.Fatalf("lookup with the default limit: %d %d %v %v", off, got, found, err)
	}
	l.Close()
}
