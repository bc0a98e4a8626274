package hotlog

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// testRecord is one record of a test batch.
type testRecord struct {
	tsDelta int64
	key     []byte
	value   []byte
	headers []kmsg.Header
}

// batchSpec describes a test batch.
type batchSpec struct {
	codec         recordbatch.Codec
	firstTs       int64
	logAppendTime bool
	records       []testRecord
}

// buildBatch encodes a RecordBatch v2 with recordbatch's builder,
// compressing with kgo's compressor if asked.
func buildBatch(tb testing.TB, spec batchSpec) []byte {
	tb.Helper()
	var raw []byte
	maxTs := spec.firstTs
	for i, r := range spec.records {
		var hs []recordbatch.RecordHeader
		for _, h := range r.headers {
			hs = append(hs, recordbatch.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		raw = recordbatch.AppendRecord(raw, int32(i), r.tsDelta, r.key, r.value, hs)
		maxTs = max(maxTs, spec.firstTs+r.tsDelta)
	}
	if spec.codec != 0 {
		codec := map[recordbatch.Codec]kgo.CompressionCodec{
			1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression(),
		}[spec.codec]
		c, err := kgo.DefaultCompressor(codec)
		if err != nil {
			tb.Fatal(err)
		}
		out, used := c.Compress(new(bytes.Buffer), raw)
		if recordbatch.Codec(used) != spec.codec {
			tb.Fatalf("compressor used codec %d, want %d", used, spec.codec)
		}
		raw = append([]byte(nil), out...)
	}
	ts := recordbatch.CreateTime
	if spec.logAppendTime {
		ts = recordbatch.LogAppendTime
	}
	return recordbatch.AppendBatch(nil, recordbatch.Header{
		PartitionLeaderEpoch: -1,
		Attributes:           recordbatch.NewAttributes(spec.codec, ts, false, false),
		LastOffsetDelta:      int32(len(spec.records) - 1),
		BaseTimestamp:        spec.firstTs,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
		NumRecords:           int32(len(spec.records)),
	}, raw)
}

// simpleBatch is an uncompressed batch of n records with timestamps ts,
// ts+1, ... and values of valueLen bytes.
func simpleBatch(tb testing.TB, ts int64, n, valueLen int) []byte {
	tb.Helper()
	spec := batchSpec{firstTs: ts}
	for i := 0; i < n; i++ {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, valueLen)
		spec.records = append(spec.records, testRecord{tsDelta: int64(i), key: []byte(fmt.Sprintf("k%d", i)), value: v})
	}
	return buildBatch(tb, spec)
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func openLog(tb testing.TB, dir string, cfg Config) *Log {
	tb.Helper()
	l, err := Open(dir, cfg, testLogger(tb))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return l
}

// crash abandons a log as a killed process would: no fsync, no marker.
func crash(l *Log) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.isClosed.Store(true)
	l.mu.Unlock()
	close(l.stop)
	<-l.bgDone
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	for _, s := range l.segs {
		s.close()
	}
}

// appended remembers what a test wrote: the stored bytes of each batch.
type appended struct {
	batches [][]byte
	firsts  []int64
}

func (a *appended) add(first int64, b []byte) {
	a.batches = append(a.batches, append([]byte(nil), b...))
	a.firsts = append(a.firsts, first)
}

// from returns the stored bytes from the batch holding offset on, limited to
// batches whose last offset is below maxOffset.
func (a *appended) from(offset, maxOffset int64) []byte {
	var out []byte
	for i, b := range a.batches {
		h, _ := recordbatch.ParseHeader(b)
		if h.LastOffset() < offset {
			continue
		}
		if h.LastOffset() >= maxOffset {
			break
		}
		out = append(out, a.batches[i]...)
	}
	return out
}

func mustAppend(tb testing.TB, l *Log, b []byte, epoch int32, a *appended) AppendInfo {
	tb.Helper()
	info, err := l.Append(b, nil, epoch, time.Now())
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	if a != nil {
		pos := 0
		for pos < len(b) {
			h, _ := recordbatch.ParseHeader(b[pos:])
			a.add(h.BaseOffset, b[pos:pos+h.Size()])
			pos += h.Size()
		}
	}
	return info
}

func readAll(tb testing.TB, l *Log, from int64) []byte {
	tb.Helper()
	b, err := l.Read(from, math.MaxInt64, math.MaxInt32, true)
	if err != nil {
		tb.Fatalf("read from %d: %v", from, err)
	}
	return b
}

// headersOf parses the headers of concatenated stored batches.
func headersOf(tb testing.TB, b []byte) []recordbatch.Header {
	tb.Helper()
	var hs []recordbatch.Header
	for pos := 0; pos < len(b); {
		h, err := recordbatch.ParseHeader(b[pos:])
		if err != nil {
			tb.Fatalf("parse at %d: %v", pos, err)
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// swapLogFile replaces the open .log file of s (opened first if the cache
// had closed it) with f and returns the one it had, to inject faults.
func swapLogFile(tb testing.TB, s *segment, f *os.File) *os.File {
	tb.Helper()
	if _, err := s.logF.acquire(false); err != nil {
		tb.Fatal(err)
	}
	c := s.logF.c
	c.mu.Lock()
	old := s.logF.f
	s.logF.f = f
	c.mu.Unlock()
	s.logF.release()
	return old
}
