package hotlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	codec         int8
	firstTs       int64
	logAppendTime bool
	records       []testRecord
}

// buildBatch encodes a real RecordBatch v2 with kmsg, compressing with kgo's
// compressor if asked, and computes the CRC32C.
func buildBatch(tb testing.TB, spec batchSpec) []byte {
	tb.Helper()
	var raw []byte
	maxTs := spec.firstTs
	for i, r := range spec.records {
		rec := kmsg.Record{
			TimestampDelta64: r.tsDelta,
			OffsetDelta:      int32(i),
			Key:              r.key,
			Value:            r.value,
			Headers:          r.headers,
		}
		body := rec.AppendTo(nil)
		// AppendTo writes Length first; recompute it from the body.
		_, n := binary.Varint(body)
		body = body[n:]
		raw = binary.AppendVarint(raw, int64(len(body)))
		raw = append(raw, body...)
		maxTs = max(maxTs, spec.firstTs+r.tsDelta)
	}
	attrs := int16(spec.codec)
	if spec.codec != 0 {
		codec := map[int8]kgo.CompressionCodec{
			1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression(),
		}[spec.codec]
		c, err := kgo.DefaultCompressor(codec)
		if err != nil {
			tb.Fatal(err)
		}
		out, used := c.Compress(new(bytes.Buffer), raw)
		if int8(used) != spec.codec {
			tb.Fatalf("compressor used codec %d, want %d", used, spec.codec)
		}
		raw = append([]byte(nil), out...)
	}
	if spec.logAppendTime {
		attrs |= attrLogAppendTime
	}
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(len(spec.records) - 1),
		FirstTimestamp:       spec.firstTs,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(spec.records)),
		Records:              raw,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	fixCRC(out)
	return out
}

// fixCRC recomputes a batch's CRC after a test changed bytes inside it.
func fixCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
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
		h, _ := ParseBatchHeader(b)
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
	info, err := l.Append(b, epoch, time.Now())
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	if a != nil {
		pos := 0
		for pos < len(b) {
			h, _ := ParseBatchHeader(b[pos:])
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
func headersOf(tb testing.TB, b []byte) []BatchHeader {
	tb.Helper()
	var hs []BatchHeader
	for pos := 0; pos < len(b); {
		h, err := ParseBatchHeader(b[pos:])
		if err != nil {
			tb.Fatalf("parse at %d: %v", pos, err)
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs
}

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
