package iceberg

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/local"
	"github.com/stratalog/strata/tiering/coldfile"
)

var (
	etcdMu      sync.Mutex
	testEtcd    *embedetcd.Server
	etcdDir     string
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

func sharedEtcd(t testing.TB) *embedetcd.Server {
	t.Helper()
	etcdMu.Lock()
	defer etcdMu.Unlock()
	if testEtcd != nil {
		return testEtcd
	}
	dir, err := os.MkdirTemp("", "iceberg-test-etcd-")
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

func newMeta(t testing.TB) *meta.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := meta.Dial(ctx, sharedEtcd(t).Endpoints(), fmt.Sprintf("iceberg-%d", testCounter.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fixture is a topic in etcd with partitions led at epoch 1 and a bucket.
type fixture struct {
	t      *testing.T
	meta   *meta.Client
	bucket objstore.Bucket
	root   string
	topic  string
	id     [16]byte
	tables *Tables
}

func newLocalFixture(t *testing.T, partitions int32) *fixture {
	dir := t.TempDir()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, b, "file://"+dir, partitions)
}

func newFixture(t *testing.T, b objstore.Bucket, root string, partitions int32) *fixture {
	t.Helper()
	m := newMeta(t)
	f := &fixture{t: t, meta: m, bucket: b, root: root, topic: "orders"}
	tp := meta.Topic{Name: f.topic, Partitions: partitions, ReplicationFactor: 1}
	var parts []meta.PartitionState
	for p := int32(0); p < partitions; p++ {
		parts = append(parts, meta.PartitionState{Topic: f.topic, Partition: p, Leader: 1, LeaderEpoch: 1, Replicas: []int32{1}, ISR: []int32{1}})
	}
	if err := m.CreateTopic(testCtx(t), tp, parts); err != nil {
		t.Fatal(err)
	}
	got, err := m.Topic(testCtx(t), f.topic)
	if err != nil {
		t.Fatal(err)
	}
	f.id = got.ID
	f.tables = f.newTables(nil)
	return f
}

func (f *fixture) newTables(h *Hooks) *Tables {
	tb, err := New(Config{Meta: f.meta, Bucket: f.bucket, Root: f.root, Namespace: "strata", Logger: testLogger(), Hooks: h})
	if err != nil {
		f.t.Fatal(err)
	}
	return tb
}

func (f *fixture) topicID() string { return base64.RawURLEncoding.EncodeToString(f.id[:]) }

// row is what a record of the test holds at offset o of partition p.
func testRow(p int32, o int64) coldfile.Row {
	r := coldfile.Row{Offset: o, Timestamp: 1_700_000_000_000 + o, Partition: p, ProducerID: -1, ProducerEpoch: -1, Sequence: -1, LeaderEpoch: 1}
	if o%7 != 3 {
		r.Key = []byte(fmt.Sprintf("k-%d-%d", p, o))
	}
	if o%11 != 5 {
		r.Value = []byte(fmt.Sprintf("value of %d/%d", p, o))
	}
	if o%3 == 0 {
		r.Headers = []coldfile.Header{{Key: "h", Value: []byte(fmt.Sprint(o))}, {Key: "nil"}}
	}
	return r
}

// upload writes offsets [base, base+n) of partition p as a tier file and
// adds its manifest entry; it returns the partition's manifest.
func (f *fixture) upload(p int32, base, n int64) []meta.TierSegment {
	f.t.Helper()
	ctx := testCtx(f.t)
	seg := f.writeFile(p, base, n)
	if _, err := f.meta.AddTierSegment(ctx, seg, 1); err != nil {
		f.t.Fatal(err)
	}
	return f.manifest(p)
}

func (f *fixture) writeFile(p int32, base, n int64) meta.TierSegment {
	f.t.Helper()
	var buf bytes.Buffer
	fw := coldfile.NewFileWriter(&buf, f.topic, f.id, p, 0)
	for o := base; o < base+n; o++ {
		if err := fw.Add(testRow(p, o)); err != nil {
			f.t.Fatal(err)
		}
	}
	info, err := fw.Close(n * 100)
	if err != nil {
		f.t.Fatal(err)
	}
	key := coldfile.ObjectKey(f.topic, p, info.BaseOffset, info.LastOffset)
	oi, err := f.bucket.Put(testCtx(f.t), key, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		f.t.Fatal(err)
	}
	seg := info.Segment(key, int64(buf.Len()), oi.ETag)
	seg.UploadedAt = time.Now().UnixMilli()
	return seg
}

func (f *fixture) manifest(p int32) []meta.TierSegment {
	f.t.Helper()
	segs, err := f.meta.TierSegments(testCtx(f.t), f.topic, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return segs
}

// merge replaces the manifest entries of partition p with one file.
func (f *fixture) merge(p int32) []meta.TierSegment {
	f.t.Helper()
	segs := f.manifest(p)
	if len(segs) < 2 {
		return segs
	}
	base, last := segs[0].BaseOffset, segs[len(segs)-1].LastOffset
	seg := f.writeFileAs(p, base, last-base+1, true)
	if _, err := f.meta.ReplaceTierSegments(testCtx(f.t), f.topic, p, 1, segs, &seg); err != nil {
		f.t.Fatal(err)
	}
	return f.manifest(p)
}

func (f *fixture) writeFileAs(p int32, base, n int64, _ bool) meta.TierSegment {
	return f.writeFile(p, base, n)
}

// retain removes the first k entries of partition p's manifest.
func (f *fixture) retain(p int32, k int) []meta.TierSegment {
	f.t.Helper()
	segs := f.manifest(p)
	if _, err := f.meta.ReplaceTierSegments(testCtx(f.t), f.topic, p, 1, segs[:k], nil); err != nil {
		f.t.Fatal(err)
	}
	return f.manifest(p)
}

func (f *fixture) sync(tb *Tables, p int32, segs []meta.TierSegment) Result {
	f.t.Helper()
	res, err := tb.Sync(testCtx(f.t), Request{Topic: f.topic, TopicID: f.topicID(), Partition: p, Epoch: 1, Segments: segs})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// scanned is one record as a scan returned it.
type scanned struct {
	partition int32
	offset    int64
	row       coldfile.Row
}

// scanTable reads every row of the table's current (or given) snapshot
// with iceberg-go's scan to Arrow.
func scanTable(t *testing.T, tbl *table.Table, opts ...table.ScanOption) []scanned {
	t.Helper()
	sc := tbl.Scan(opts...)
	at, err := sc.ToArrowTable(testCtx(t))
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	defer at.Release()
	rdr := array.NewTableReader(at, 1024)
	defer rdr.Release()
	var out []scanned
	for rdr.Next() {
		rec := rdr.RecordBatch()
		out = append(out, decodeRecord(t, rec)...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].partition != out[j].partition {
			return out[i].partition < out[j].partition
		}
		return out[i].offset < out[j].offset
	})
	return out
}

func col(t *testing.T, rec arrow.RecordBatch, name string) arrow.Array {
	t.Helper()
	idx := rec.Schema().FieldIndices(name)
	if len(idx) != 1 {
		t.Fatalf("scan: no column %s in %s", name, rec.Schema())
	}
	return rec.Column(idx[0])
}

func decodeRecord(t *testing.T, rec arrow.RecordBatch) []scanned {
	t.Helper()
	offs := col(t, rec, "offset").(*array.Int64)
	parts := col(t, rec, "partition").(*array.Int32)
	keys := col(t, rec, "key").(*array.Binary)
	vals := col(t, rec, "value").(*array.Binary)
	ts := col(t, rec, "timestamp").(*array.Timestamp)
	tsUnit := ts.DataType().(*arrow.TimestampType).Unit
	hdrs := col(t, rec, "headers").(*array.List)
	hs := hdrs.ListValues().(*array.Struct)
	hk := hs.Field(0).(*array.String)
	hv := hs.Field(1).(*array.Binary)
	var out []scanned
	for i := 0; i < int(rec.NumRows()); i++ {
		r := coldfile.Row{Offset: offs.Value(i), Partition: parts.Value(i), ProducerID: -1, ProducerEpoch: -1, Sequence: -1, LeaderEpoch: 1}
		switch tsUnit {
		case arrow.Microsecond:
			r.Timestamp = int64(ts.Value(i)) / 1000
		case arrow.Millisecond:
			r.Timestamp = int64(ts.Value(i))
		default:
			t.Fatalf("timestamp unit %v", tsUnit)
		}
		if !keys.IsNull(i) {
			r.Key = append([]byte{}, keys.Value(i)...)
		}
		if !vals.IsNull(i) {
			r.Value = append([]byte{}, vals.Value(i)...)
		}
		s, e := hdrs.ValueOffsets(i)
		for j := s; j < e; j++ {
			h := coldfile.Header{Key: hk.Value(int(j))}
			if !hv.IsNull(int(j)) {
				h.Value = append([]byte{}, hv.Value(int(j))...)
			}
			r.Headers = append(r.Headers, h)
		}
		out = append(out, scanned{partition: r.Partition, offset: r.Offset, row: r})
	}
	return out
}

// checkRows: the scan holds exactly offsets [from[p], to[p]) of each
// partition, once each, each record as produced.
func checkRows(t *testing.T, got []scanned, from, to map[int32]int64) {
	t.Helper()
	want := 0
	for p := range to {
		want += int(to[p] - from[p])
	}
	if len(got) != want {
		t.Fatalf("scan returned %d rows, want %d (%v..%v)", len(got), want, from, to)
	}
	next := map[int32]int64{}
	for p := range from {
		next[p] = from[p]
	}
	for _, s := range got {
		if s.offset != next[s.partition] {
			t.Fatalf("partition %d: offset %d where %d was next (a duplicate or a gap)", s.partition, s.offset, next[s.partition])
		}
		next[s.partition]++
		w := testRow(s.partition, s.offset)
		if err := coldfile.DiffRows(s.row, w); err != nil {
			t.Fatalf("partition %d offset %d: %v", s.partition, s.offset, err)
		}
	}
}
