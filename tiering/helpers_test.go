package tiering

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/local"
	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/tiering/coldfile"
)

var (
	testEtcd    *embedetcd.Server
	testCounter atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	etcdMu.Lock()
	if testEtcd != nil {
		testEtcd.Close()
		os.RemoveAll(etcdDir)
	}
	etcdMu.Unlock()
	os.Exit(code)
}

var (
	etcdMu  sync.Mutex
	etcdDir string
)

// sharedEtcd starts the embedded etcd the tests share, on first use (fuzz
// workers never need it).
func sharedEtcd(t testing.TB) *embedetcd.Server {
	t.Helper()
	etcdMu.Lock()
	defer etcdMu.Unlock()
	if testEtcd != nil {
		return testEtcd
	}
	dir, err := os.MkdirTemp("", "tiering-test-etcd-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	testEtcd, etcdDir = e, dir
	return e
}

func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newMeta returns a client on the shared etcd under a cluster name no other
// test uses.
func newMeta(t testing.TB) *meta.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := meta.Dial(ctx, sharedEtcd(t).Endpoints(), fmt.Sprintf("tiering-%d", testCounter.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func localBucket(t testing.TB) objstore.Bucket {
	t.Helper()
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// batchSpec describes a record batch to build for tests.
type batchSpec struct {
	codec         kgo.CompressionCodec
	compressed    bool
	control       bool
	transactional bool
	logAppendTime bool
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	leaderEpoch   int32
	records       []kmsg.Record
	firstTs       int64
	maxTs         int64
}

// randomRecords makes n records with a mix of null / empty / random keys,
// values and headers, and timestamps that mostly increase.
func randomRecords(r *rand.Rand, n int, ts0 int64) ([]kmsg.Record, int64, int64) {
	recs := make([]kmsg.Record, n)
	maxTs := ts0
	for i := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i)}
		ts := ts0 + int64(i*3) + int64(r.IntN(5)) - 2
		rec.TimestampDelta64 = ts - ts0
		maxTs = max(maxTs, ts)
		switch r.IntN(5) {
		case 0:
			rec.Key = nil
		case 1:
			rec.Key = []byte{}
		default:
			rec.Key = fmt.Appendf(nil, "key-%d-%d", i, r.IntN(1000))
		}
		switch r.IntN(6) {
		case 0:
			rec.Value = nil
		case 1:
			rec.Value = []byte{}
		default:
			v := make([]byte, r.IntN(300))
			for j := range v {
				v[j] = byte(r.IntN(256))
			}
			rec.Value = v
		}
		for h := range r.IntN(4) {
			hd := kmsg.Header{Key: fmt.Sprintf("h%d", h)}
			if r.IntN(3) > 0 {
				hd.Value = fmt.Appendf(nil, "hv-%d", r.IntN(100))
			}
			if r.IntN(5) == 0 {
				hd.Key = ""
			}
			rec.Headers = append(rec.Headers, hd)
		}
		recs[i] = rec
	}
	return recs, ts0, maxTs
}

// build encodes the batch with base offset base.
func (s batchSpec) build(t testing.TB, base int64) []byte {
	t.Helper()
	var area []byte
	for i := range s.records {
		rec := s.records[i]
		body := rec
		body.Length = 0
		enc := body.AppendTo(nil)
		// AppendTo wrote Length=0 as a one-byte varint: replace it.
		payload := enc[1:]
		area = binary.AppendVarint(area, int64(len(payload)))
		area = append(area, payload...)
	}
	codec := recordbatch.CodecNone
	if s.compressed {
		c, err := kgo.DefaultCompressor(s.codec)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		out, used := c.Compress(&buf, area)
		if used == 0 {
			t.Fatalf("compression with %v did not happen", s.codec)
		}
		area = append([]byte(nil), out...)
		codec = recordbatch.Codec(used)
	}
	ts := recordbatch.CreateTime
	if s.logAppendTime {
		ts = recordbatch.LogAppendTime
	}
	return recordbatch.AppendBatch(nil, recordbatch.Header{
		BaseOffset: base, PartitionLeaderEpoch: s.leaderEpoch,
		Attributes:      recordbatch.NewAttributes(codec, ts, s.transactional, s.control),
		LastOffsetDelta: int32(len(s.records) - 1), BaseTimestamp: s.firstTs, MaxTimestamp: s.maxTs,
		ProducerID: s.producerID, ProducerEpoch: s.producerEpoch, BaseSequence: s.baseSequence,
		NumRecords: int32(len(s.records)),
	}, area)
}

// mixedBatches builds a realistic mix of batches from offset base: plain,
// every compression codec, an idempotent producer with wrapping sequences,
// LogAppendTime, transactional data and a control (commit marker) batch.
func mixedBatches(t testing.TB, r *rand.Rand, base int64, nBatches int) ([]byte, int64) {
	return mixedBatchesFor(t, r, base, nBatches, false)
}

var nextPID atomic.Int64

// mixedBatchesFor with forLog builds batches the hot log accepts through
// Append (which checks idempotent producers' sequences and producer
// epochs): every producer batch gets a producer id of its own.
func mixedBatchesFor(t testing.TB, r *rand.Rand, base int64, nBatches int, forLog bool) ([]byte, int64) {
	t.Helper()
	var out []byte
	ts := int64(1_700_000_000_000) + base*3
	codecs := []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()}
	for i := 0; i < nBatches; i++ {
		n := 1 + r.IntN(40)
		recs, first, maxTs := randomRecords(r, n, ts)
		s := batchSpec{producerID: -1, producerEpoch: -1, baseSequence: -1, leaderEpoch: int32(base / 500), records: recs, firstTs: first, maxTs: maxTs}
		switch i % 7 {
		case 1, 2, 3, 4:
			s.compressed, s.codec = true, codecs[(i+int(base))%4]
		case 5:
			s.producerID, s.producerEpoch, s.baseSequence = 4242, 3, 2147483647-int32(r.IntN(3))
			if forLog {
				s.producerID = 1000 + nextPID.Add(1)
			}
		case 6:
			s.logAppendTime = true
			s.maxTs = ts + 1000
		}
		if i%11 == 10 {
			// A transaction: data then its commit marker.
			pid := int64(77)
			if forLog {
				pid = 1000 + nextPID.Add(1)
			}
			commit := recordbatch.ControlRecord{Type: recordbatch.ControlCommit}
			s.transactional, s.producerID, s.producerEpoch, s.baseSequence = true, pid, 1, 0
			out = append(out, s.build(t, base)...)
			base += int64(n)
			ctl := batchSpec{control: true, transactional: true, producerID: pid, producerEpoch: 1, baseSequence: -1,
				leaderEpoch: s.leaderEpoch, firstTs: ts, maxTs: ts,
				records: []kmsg.Record{{Key: commit.Key(), Value: commit.Value()}}}
			out = append(out, ctl.build(t, base)...)
			base++
		} else {
			out = append(out, s.build(t, base)...)
			base += int64(n)
		}
		ts = maxTs + 5
	}
	return out, base
}

// decodeAll decodes batches to rows.
func decodeAll(t testing.TB, b []byte, partition int32) []coldfile.Row {
	t.Helper()
	var rows []coldfile.Row
	if err := coldfile.DecodeBatches(b, partition, func(r coldfile.Row) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return rows
}

// sameRow compares two rows exactly, including nil versus empty keys and
// values.
func sameRow(a, b coldfile.Row) error { return coldfile.DiffRows(a, b) }
