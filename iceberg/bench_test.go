package iceberg

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
)

// TestBenchSimulatedTiering (STRATA_ICEBERG_BENCH=<rounds>) simulates
// tiering of 1,000 partitions, one file per partition per 10 minutes, for
// <rounds> rounds (144 = a day) on a simulated clock, each file one
// commit, and reports commit latency and the metadata's size (local
// directory store, embedded etcd). The files are not written: commits read
// only the manifest entries.
func TestBenchSimulatedTiering(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("STRATA_ICEBERG_BENCH"))
	if rounds <= 0 {
		t.Skip("set STRATA_ICEBERG_BENCH=<rounds of 10 minutes> to run")
	}
	parts := int32(1000)
	if v, _ := strconv.Atoi(os.Getenv("STRATA_ICEBERG_BENCH_PARTITIONS")); v > 0 {
		parts = int32(v)
	}
	retention := 3 * time.Hour
	if v, _ := time.ParseDuration(os.Getenv("STRATA_ICEBERG_BENCH_RETENTION")); v > 0 {
		retention = v
	}
	f := newLocalFixture(t, parts)
	now := time.Now()
	tb, err := New(Config{Meta: f.meta, Bucket: f.bucket, Root: f.root, Namespace: "strata", Logger: testLogger(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	segs := make([][]meta.TierSegment, parts)
	var lat []time.Duration
	start := time.Now()
	for r := 0; r < rounds; r++ {
		for p := int32(0); p < parts; p++ {
			base := int64(r) * 1000
			segs[p] = append(segs[p], meta.TierSegment{Topic: f.topic, Partition: p, BaseOffset: base, LastOffset: base + 999, Records: 1000,
				Object: fmt.Sprintf("topic=%s/partition=%d/%020d-%020d.parquet", f.topic, p, base, base+999), Size: 1 << 20})
			t0 := time.Now()
			if _, err := tb.Sync(testCtx(t), Request{Topic: f.topic, TopicID: f.topicID(), Partition: p, Epoch: 1, Segments: segs[p], SnapshotRetention: retention}); err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			now = now.Add(10 * time.Minute / time.Duration(parts))
		}
	}
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	var files, bytes int64
	var mdBytes int64
	_ = f.bucket.List(testCtx(t), "topic="+f.topic+"/metadata/", func(oi objstore.ObjectInfo) error {
		files++
		bytes += oi.Size
		return nil
	})
	_, raw, err := tb.MetadataFile(testCtx(t), f.topic)
	if err != nil {
		t.Fatal(err)
	}
	mdBytes = int64(len(raw))
	st, _ := tb.TableStatus(testCtx(t), f.topic)
	t.Logf("%d partitions x %d rounds = %d commits in %s (%.1f commits/s); latency p50 %s p90 %s p99 %s max %s",
		parts, rounds, len(lat), elapsed.Round(time.Millisecond), float64(len(lat))/elapsed.Seconds(), pct(0.5), pct(0.9), pct(0.99), lat[len(lat)-1])
	t.Logf("retention %s: %d snapshots kept; current metadata file %d bytes; metadata/ holds %d objects, %d bytes; table %d files",
		retention, st.Snapshots, mdBytes, files, bytes, st.Files)
}
