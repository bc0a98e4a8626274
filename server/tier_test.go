package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/objstoretest"
	"github.com/stratalog/strata/tiering"
	"github.com/stratalog/strata/tiering/coldfile"
)

// tieredTopicConfigs make a topic tier quickly: small segments, local
// copies deleted as soon as they are tiered, the active segment rolled
// after half a second.
func tieredTopicConfigs() map[string]*string {
	return map[string]*string{
		"segment.bytes":          kadm.StringPtr("16384"),
		"local.retention.ms":     kadm.StringPtr("0"),
		"strata.tier.max.lag.ms": kadm.StringPtr("500"),
		"retention.ms":           kadm.StringPtr("-1"),
	}
}

type produced struct {
	partition int32
	offset    int64
	key       []byte
	value     []byte
	headers   []kgo.RecordHeader
	ts        time.Time
}

// produceMixed produces n records spread over the topic's two partitions
// with three producers (no compression, zstd, lz4): printable values (kcat
// compares them as text), null and empty keys, headers, explicit
// timestamps. It returns them by "partition/offset", as acknowledged.
func produceMixed(t *testing.T, tb *testBroker, topic string, n int, seed uint64) map[string]produced {
	t.Helper()
	ctx := testCtx(t)
	r := rand.New(rand.NewPCG(seed, 1))
	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression(), kgo.Lz4Compression()}
	var cls []*kgo.Client
	for _, c := range codecs {
		cls = append(cls, tb.client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond)))
	}
	var mu sync.Mutex
	out := map[string]produced{}
	var firstErr error
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond).Add(time.Duration(seed) * time.Minute)
	for i := 0; i < n; i++ {
		rec := &kgo.Record{Partition: int32(i % 2), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		switch i % 5 {
		case 0:
			rec.Key = nil
		case 1:
			rec.Key = []byte{}
		default:
			rec.Key = fmt.Appendf(nil, "k%d", i)
		}
		v := make([]byte, 20+r.IntN(200))
		for j := range v {
			v[j] = byte(r.IntN(256))
		}
		rec.Value = []byte(hex.EncodeToString(v))
		if i%3 == 0 {
			rec.Headers = []kgo.RecordHeader{{Key: "n", Value: []byte(strconv.Itoa(i))}, {Key: "empty", Value: nil}}
		}
		cls[i%3].Produce(ctx, rec, func(rec *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			out[fmt.Sprintf("%d/%d", rec.Partition, rec.Offset)] = produced{rec.Partition, rec.Offset, rec.Key, rec.Value, rec.Headers, rec.Timestamp}
		})
		if i%500 == 499 {
			for _, cl := range cls {
				if err := cl.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, cl := range cls {
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	if len(out) != n {
		t.Fatalf("%d records acknowledged at distinct offsets, produced %d", len(out), n)
	}
	return out
}

// waitTiered waits until every partition's local log holds only its active
// segment and the cold tier reaches the local start.
func waitTiered(t *testing.T, tb *testBroker, topic string, partitions int32, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for p := int32(0); p < partitions; p++ {
			part, err := tb.srv.Broker().Partition(topic, p)
			if err != nil {
				t.Fatal(err)
			}
			segs := part.Segments()
			_, end, err := tb.srv.Tier().ColdRange(context.Background(), topic, p)
			if err != nil || len(segs) != 1 || end != segs[0].BaseOffset || end <= 0 {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			st, _ := tb.srv.Tier().Status(context.Background(), topic)
			t.Fatalf("not tiered within %s: %+v", within, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sameRecord(t *testing.T, got *kgo.Record, want produced) {
	t.Helper()
	if (got.Key == nil) != (want.key == nil) || !bytes.Equal(got.Key, want.key) ||
		!bytes.Equal(got.Value, want.value) || !got.Timestamp.Equal(want.ts) || len(got.Headers) != len(want.headers) {
		t.Fatalf("record %d/%d differs: key %q (nil %v) value %d bytes ts %v headers %v; want key %q (nil %v) value %d bytes ts %v headers %v",
			got.Partition, got.Offset, got.Key, got.Key == nil, len(got.Value), got.Timestamp, got.Headers,
			want.key, want.key == nil, len(want.value), want.ts, want.headers)
	}
	for i, h := range got.Headers {
		w := want.headers[i]
		if h.Key != w.Key || !bytes.Equal(h.Value, w.Value) || (h.Value == nil) != (w.Value == nil) {
			t.Fatalf("record %d/%d header %d: %+v, want %+v", got.Partition, got.Offset, i, h, w)
		}
	}
}

// consumeAndCompare reads every record from offset 0 with kgo (tiny fetch
// sizes too) and compares each with what was produced.
func consumeAndCompare(t *testing.T, tb *testBroker, topic string, want map[string]produced, opts ...kgo.Opt) {
	t.Helper()
	recs := consumeAll(t, tb, topic, len(want), opts...)
	seen := map[string]bool{}
	next := map[int32]int64{}
	for _, r := range recs {
		k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
		w, ok := want[k]
		if !ok {
			t.Fatalf("consumed unknown record %s", k)
		}
		if seen[k] {
			t.Fatalf("record %s consumed twice", k)
		}
		seen[k] = true
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d after %d: gap", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition] = r.Offset + 1
		sameRecord(t, r, w)
	}
	if len(seen) != len(want) {
		t.Fatalf("consumed %d records, want %d", len(seen), len(want))
	}
}

// kcatCompare consumes the topic from the beginning with kcat and checks
// every record's partition, offset, key, value and timestamp.
func kcatCompare(t *testing.T, tb *testBroker, topic string, want map[string]produced) {
	t.Helper()
	_, err := exec.LookPath("kcat")
	needClient(t, err, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", "-C", "-b", tb.srv.KafkaAddr(), "-t", topic, "-o", "beginning", "-e", "-Z",
		"-f", "%p|%o|%T|%k|%s\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "|", 5)
		if len(f) != 5 {
			t.Fatalf("kcat line %q", sc.Text())
		}
		w, ok := want[f[0]+"/"+f[1]]
		if !ok {
			t.Fatalf("kcat: unknown record %s/%s", f[0], f[1])
		}
		key := string(w.key)
		if len(w.key) == 0 {
			key = "NULL" // librdkafka hands kcat empty keys as NULL too (hot or cold)
		}
		if f[3] != key || f[4] != string(w.value) || f[2] != strconv.FormatInt(w.ts.UnixMilli(), 10) {
			t.Fatalf("kcat record %s/%s: ts %s key %q value %.20q..., want ts %d key %q value %.20q...", f[0], f[1], f[2], f[3], f[4], w.ts.UnixMilli(), key, w.value)
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("kcat read %d records, want %d\n%s", n, len(want), stderr.String())
	}
}

func runTieredEndToEnd(t *testing.T, mutate func(*Config), bucket func(tb *testBroker) objstore.Bucket) {
	tb := startBroker(t, func(c *Config) { c.TierRowGroupBytes = 16 << 10 }, mutate)
	ctx := testCtx(t)
	topic := "cold"
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, tieredTopicConfigs(), topic); err != nil {
		t.Fatal(err)
	}
	const n = 6000
	want := produceMixed(t, tb, topic, n, 1)
	waitTiered(t, tb, topic, 2, 60*time.Second)

	// The objects are where DESIGN.md says, one per tiered range (beside
	// the Iceberg table's metadata/ folder, docs/format/iceberg.md).
	b := bucket(tb)
	var objs []string
	if err := b.List(ctx, coldfile.TopicPrefix(topic), func(oi objstore.ObjectInfo) error {
		if strings.HasPrefix(oi.Key, coldfile.TopicPrefix(topic)+"metadata/") {
			return nil
		}
		objs = append(objs, oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(objs) < 10 {
		t.Fatalf("%d objects in the store: %v", len(objs), objs)
	}
	for _, k := range objs {
		if tp, _, _, _, ok := coldfile.ParseObjectKey(k); !ok || tp != topic {
			t.Errorf("object key %q", k)
		}
	}

	// Every record, cold then hot, with kgo (default and tiny fetch
	// sizes) and kcat.
	consumeAndCompare(t, tb, topic, want)
	consumeAndCompare(t, tb, topic, want, kgo.FetchMaxPartitionBytes(300), kgo.FetchMaxBytes(300))
	kcatCompare(t, tb, topic, want)

	// ListOffsets: earliest is 0 (cold), earliest-local is not; a
	// timestamp in the cold part finds its record.
	adm := tb.admin()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	starts.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 0 {
			t.Errorf("start offset of %s/%d: %d %v", o.Topic, o.Partition, o.Offset, o.Err)
		}
	})
	probe := want["1/100"]
	byTs, err := adm.ListOffsetsAfterMilli(ctx, probe.ts.UnixMilli(), topic)
	if err != nil {
		t.Fatal(err)
	}
	expect := int64(-1)
	for _, w := range want {
		if w.partition == 1 && !w.ts.Before(probe.ts) && (expect < 0 || w.offset < expect) {
			expect = w.offset
		}
	}
	if o, _ := byTs.Lookup(topic, 1); o.Offset != expect {
		t.Errorf("offset for the timestamp of 1/100: %d, want %d", o.Offset, expect)
	}

	// strata tier status's data.
	st, err := tiering.FetchStatus(ctx, tb.srv.MetricsAddr(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].RemoteStart != 0 || st[0].RemoteEnd != st[0].LocalStart || st[0].RemoteFiles == 0 || st[0].RemoteBytes == 0 {
		t.Fatalf("tier status %+v", st)
	}
	// Metrics say what happened.
	metrics := httpGet(t, "http://"+tb.srv.MetricsAddr()+"/metrics")
	for _, m := range []string{"strata_tier_uploaded_segments_total", "strata_tier_cold_fetch_bytes_total", "strata_tier_upload_lag_offsets", "strata_tier_cold_fetch_seconds_bucket"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metric %s missing", m)
		}
	}

	// After a restart (empty caches) the cold data is still served.
	tb.restart()
	consumeAndCompare(t, tb, topic, want)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	_, body := httpStatus(t, url)
	return body
}

// TestTieredTopicFileStore: the default cold tier, a directory in the data
// dir.
func TestTieredTopicFileStore(t *testing.T) {
	runTieredEndToEnd(t, func(*Config) {}, func(tb *testBroker) objstore.Bucket {
		return tb.srv.Tier().Bucket()
	})
}

// TestTieredTopicMinIO: the same against a real MinIO, through
// --object-store s3://bucket/prefix --s3-endpoint.
func TestTieredTopicMinIO(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	b := m.Bucket(t, 0)
	t.Setenv("AWS_ACCESS_KEY_ID", objstoretest.MinIOAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", objstoretest.MinIOSecretKey)
	runTieredEndToEnd(t, func(c *Config) {
		c.ObjectStore = "s3://" + objstoretest.BucketURLName(b) + "/strata/cold-tier"
		c.S3Endpoint = m.Endpoint()
	}, func(*testBroker) objstore.Bucket {
		p, _ := objstore.Prefixed(b, "strata/cold-tier")
		return p
	})
}

// TestTieringFaultsMinIO: MinIO killed while uploads run, and a broker
// stopped between an object's PUT and its manifest commit. Nothing is
// lost, local segments stay until tiered, /readyz and the metrics say so,
// and no manifest entry names a missing object.
func TestTieringFaultsMinIO(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	b := m.Bucket(t, 0)
	t.Setenv("AWS_ACCESS_KEY_ID", objstoretest.MinIOAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", objstoretest.MinIOSecretKey)
	var blockCommit atomic.Bool
	blockCommit.Store(true)
	committed := make(chan string, 1)
	tb := startBroker(t, func(c *Config) {
		c.ObjectStore = "s3://" + objstoretest.BucketURLName(b)
		c.S3Endpoint = m.Endpoint()
		c.TierRowGroupBytes = 16 << 10
		c.TierHooks = &tiering.Hooks{BeforeCommit: func(seg meta.TierSegment) error {
			if blockCommit.Load() {
				select {
				case committed <- seg.Object:
				default:
				}
				return fmt.Errorf("injected: broker dies between PUT and manifest commit of %s", seg.Object)
			}
			return nil
		}}
	})
	ctx := testCtx(t)
	topic := "faulty"
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, tieredTopicConfigs(), topic); err != nil {
		t.Fatal(err)
	}
	want := produceMixed(t, tb, topic, 2000, 2)

	// 1. An object is PUT, the commit "crashes"; stop the broker there.
	var orphan string
	select {
	case orphan = <-committed:
	case <-time.After(30 * time.Second):
		t.Fatal("no upload reached the commit")
	}
	tb.stop()
	if _, err := b.Stat(ctx, orphan); err != nil {
		t.Fatalf("the object PUT before the crash: %v", err)
	}
	blockCommit.Store(false)
	tb.start()

	// 2. MinIO dies while more is produced and tiered.
	m.Stop()
	for k, v := range produceMixed(t, tb, topic, 1000, 4) {
		want[k] = v
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		body := httpGet(t, "http://"+tb.srv.MetricsAddr()+"/readyz")
		metrics := httpGet(t, "http://"+tb.srv.MetricsAddr()+"/metrics")
		if strings.Contains(body, "object store") && untieredBytes(metrics) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store down not reported: readyz %q", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Local segments stay while the store is down: everything is readable.
	consumeAndCompare(t, tb, topic, want)

	// 3. MinIO back: everything is tiered, and read back from the store.
	m.Start()
	waitTiered(t, tb, topic, 2, 60*time.Second)
	mc := metaClient(t, tb)
	named := map[string]bool{}
	for p := int32(0); p < 2; p++ {
		segs, err := mc.TierSegments(ctx, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			named[s.Object] = true
			if _, err := b.Stat(ctx, s.Object); err != nil {
				t.Errorf("manifest names %s, missing: %v", s.Object, err)
			}
		}
	}
	// The object of the crashed commit was uploaded again under the same
	// key and committed: not an orphan.
	if !named[orphan] {
		t.Errorf("object %s of the crashed commit is not in the manifest", orphan)
	}
	consumeAndCompare(t, tb, topic, want)
	kcatCompare(t, tb, topic, want)
	if body := httpGet(t, "http://"+tb.srv.MetricsAddr()+"/readyz"); !strings.Contains(body, "ready") || strings.Contains(body, "not ready") {
		t.Errorf("readyz after recovery: %q", body)
	}
}

func untieredBytes(metrics string) float64 {
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, "strata_tier_untiered_sealed_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// metaClient dials the broker's (embedded) etcd.
func metaClient(t *testing.T, tb *testBroker) *meta.Client {
	t.Helper()
	return tb.srv.meta
}
