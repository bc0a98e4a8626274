package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog/rest"
	iceio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // s3:// for iceberg-go's readers
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/iceberg"
	"github.com/stratalog/strata/iceberg/icebergtest"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/objstoretest"
	"github.com/stratalog/strata/tiering"
	"github.com/stratalog/strata/tiering/coldfile"
)

// icebergTopicConfigs tier fast and merge small files at once.
func icebergTopicConfigs() map[string]*string {
	c := tieredTopicConfigs()
	c["strata.tier.target.file.bytes"] = kadm.StringPtr("120000")
	return c
}

// waitTableCaughtUp waits until the topic's Iceberg table holds, for
// every partition, exactly what the tier manifest holds.
func waitTableCaughtUp(t *testing.T, tb *testBroker, topic string, partitions int32, within time.Duration) {
	t.Helper()
	ctx := testCtx(t)
	deadline := time.Now().Add(within)
	m := metaClient(t, tb)
	for {
		st, err := tb.srv.Tables().TableStatus(ctx, topic)
		ok := err == nil
		for p := int32(0); ok && p < partitions; p++ {
			segs, err := m.TierSegments(ctx, topic, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) == 0 || st.PartitionEnds[p] != segs[len(segs)-1].LastOffset+1 {
				ok = false
			}
		}
		if ok {
			files, err := tableFiles(t, tb, topic)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for p := int32(0); p < partitions; p++ {
				segs, _ := m.TierSegments(ctx, topic, p)
				for _, s := range segs {
					want[s.Object] = true
				}
			}
			if len(files) == len(want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("table not caught up within %s: %+v %v", within, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tableFiles is the set of data files the table's current snapshot
// names, as object keys.
func tableFiles(t *testing.T, tb *testBroker, topic string) (map[string]bool, error) {
	loc, raw, found, err := tb.srv.Tables().Metadata(context.Background(), topic)
	if err != nil || !found {
		return nil, fmt.Errorf("no table: %v", err)
	}
	_ = raw
	tbl, err := table.NewFromLocation(context.Background(), table.Identifier{"x", topic}, loc, iceio.LoadFSFunc(tb.icebergProps, loc), nil)
	if err != nil {
		return nil, err
	}
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	root := tb.srv.Tables().Root() + "/"
	for _, task := range tasks {
		out[strings.TrimPrefix(task.File.FilePath(), root)] = true
	}
	return out, nil
}

// scanAndCompare loads the table, scans it with iceberg-go and compares
// the rows with what was produced, up to the ends of the version it
// loaded. The tiering may still commit after the wait (a max-lag roll
// seals and tiers the tail that the active segment held), so a status of
// a later version than the one scanned is no verdict: load and scan
// again. It returns the table scanned and its status.
func scanAndCompare(t *testing.T, tb *testBroker, load func() (*table.Table, error), topic string, want map[string]produced) (*table.Table, iceberg.Status) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		tbl, err := load()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := icebergtest.Scan(testCtx(t), tbl)
		if err != nil {
			t.Fatal(err)
		}
		st, err := tb.srv.Tables().TableStatus(testCtx(t), topic)
		if err != nil {
			t.Fatal(err)
		}
		if st.MetadataLocation != tbl.MetadataLocation() && attempt < 20 {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if st.MetadataLocation != tbl.MetadataLocation() {
			t.Fatalf("table scanned at %s, status names %s: still moving after %d loads", tbl.MetadataLocation(), st.MetadataLocation, attempt)
		}
		compareRows(t, rows, want, st.PartitionEnds)
		return tbl, st
	}
}

// compareRows: the scan returned exactly the produced records below
// ends (the table holds the tiered offsets, not the hot tail).
func compareRows(t *testing.T, rows []coldfile.Row, all map[string]produced, ends map[int32]int64) {
	t.Helper()
	want := map[string]produced{}
	for k, w := range all {
		if w.offset < ends[w.partition] {
			want[k] = w
		}
	}
	if len(rows) != len(want) || len(want) == 0 {
		t.Fatalf("scan returned %d rows, produced %d below the tiered ends %v", len(rows), len(want), ends)
	}
	if _, err := icebergtest.Contiguous(rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		w, ok := want[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]
		if !ok {
			t.Fatalf("scan returned %d/%d, never produced", r.Partition, r.Offset)
		}
		if string(r.Key) != string(w.key) || (r.Key == nil) != (w.key == nil) || string(r.Value) != string(w.value) || (r.Value == nil) != (w.value == nil) {
			t.Fatalf("%d/%d: key %q value %q, produced %q %q", r.Partition, r.Offset, r.Key, r.Value, w.key, w.value)
		}
		if r.Timestamp != w.ts.UnixMilli() {
			t.Fatalf("%d/%d: timestamp %d, produced %d", r.Partition, r.Offset, r.Timestamp, w.ts.UnixMilli())
		}
		if len(r.Headers) != len(w.headers) {
			t.Fatalf("%d/%d: %d headers, produced %d", r.Partition, r.Offset, len(r.Headers), len(w.headers))
		}
		for i, h := range w.headers {
			if r.Headers[i].Key != h.Key || string(r.Headers[i].Value) != string(h.Value) || (r.Headers[i].Value == nil) != (h.Value == nil) {
				t.Fatalf("%d/%d: header %d %+v, produced %+v", r.Partition, r.Offset, i, r.Headers[i], h)
			}
		}
	}
}

// runIcebergEndToEnd: produce, tier, merge; the table Strata commits is
// read back by iceberg-go through Strata's REST catalog and through the
// path-based metadata; while more records are produced and retention and
// merges commit, repeated scans never see a duplicate or a gap; after a
// restart the table still agrees with the manifest.
func runIcebergEndToEnd(t *testing.T, mutate func(*Config), props map[string]string) {
	tb := startBroker(t, func(c *Config) {
		c.TierRowGroupBytes = 16 << 10
		c.IcebergRESTListen = "127.0.0.1:0"
	}, mutate)
	tb.icebergProps = props
	ctx := testCtx(t)
	topic := "lake"
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, icebergTopicConfigs(), topic); err != nil {
		t.Fatal(err)
	}
	want := produceMixed(t, tb, topic, 4000, 1)
	waitTiered(t, tb, topic, 2, 60*time.Second)
	waitTableCaughtUp(t, tb, topic, 2, 60*time.Second)

	cat, err := rest.NewCatalog(ctx, "strata", "http://"+tb.srv.CatalogAddr(), rest.WithAdditionalProps(ice.Properties(props)))
	if err != nil {
		t.Fatal(err)
	}
	tbl, st := scanAndCompare(t, tb, func() (*table.Table, error) {
		return cat.LoadTable(ctx, table.Identifier{"default", topic})
	}, topic, want)
	if snap := tbl.CurrentSnapshot(); snap == nil || snap.Summary == nil {
		t.Fatal("no current snapshot")
	}
	ops := map[table.Operation]int{}
	for _, s := range tbl.Metadata().Snapshots() {
		ops[s.Summary.Operation]++
	}
	if ops[table.OpAppend] == 0 || ops[table.OpReplace] == 0 {
		t.Errorf("snapshots by operation %v: want appends and replaces (merges)", ops)
	}

	// The path-based reader: version-hint.text names v<N>.metadata.json
	// (once the last commit's copy is written).
	b := tb.srv.Tier().Bucket()
	var hint []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		rc, err := b.Get(ctx, "topic="+topic+"/metadata/version-hint.text")
		if err != nil {
			t.Fatal(err)
		}
		hint, _ = io.ReadAll(rc)
		rc.Close()
		st, err = tb.srv.Tables().TableStatus(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(hint)) == fmt.Sprint(st.Version) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("version hint %q, table at version %d", hint, st.Version)
		}
		time.Sleep(50 * time.Millisecond)
	}
	loc := tb.srv.Tables().Root() + "/topic=" + topic + "/metadata/v" + strings.TrimSpace(string(hint)) + ".metadata.json"
	ptbl, err := table.NewFromLocation(ctx, table.Identifier{"default", topic}, loc, iceio.LoadFSFunc(props, loc), nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := icebergtest.Scan(ctx, ptbl)
	if err != nil {
		t.Fatal(err)
	}
	compareRows(t, rows, want, st.PartitionEnds)

	// Retention and merges commit while more is produced: every scan is
	// one contiguous run per partition.
	if _, err := tb.admin().AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr("150000")}}, topic); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(2); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			produceMixed(t, tb, topic, 500, i)
		}
	}()
	scans, moved, failed := 0, 0, 0
	var first map[int32][2]int64
	deadline, hard := time.Now().Add(8*time.Second), time.Now().Add(90*time.Second)
	for (scans < 3 || time.Now().Before(deadline)) && time.Now().Before(hard) {
		tbl, err := cat.LoadTable(ctx, table.Identifier{"default", topic})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := icebergtest.Scan(ctx, tbl)
		if err != nil {
			// A scan planned on a snapshot whose files retention or a
			// merge dropped finds them for RetireGrace (1 minute) after;
			// a failure here is counted and fails the test below.
			if strings.Contains(err.Error(), "not exist") || strings.Contains(err.Error(), "NoSuchKey") || strings.Contains(err.Error(), "no such file") {
				failed++
				continue
			}
			t.Fatal(err)
		}
		spans, err := icebergtest.Contiguous(rows)
		if err != nil {
			t.Fatalf("scan %d: %v", scans, err)
		}
		if first == nil {
			first = spans
		} else if spans[0][0] != first[0][0] || spans[1][0] != first[1][0] {
			moved++
		}
		scans++
	}
	close(stop)
	wg.Wait()
	if failed > 0 {
		t.Errorf("%d scans failed on a file deleted under them", failed)
	}
	if scans < 3 {
		t.Fatalf("only %d scans", scans)
	}
	t.Logf("%d scans during produce/retention/merge, %d after the start moved, %d failed on a deleted file and were planned again", scans, moved, failed)
	// (Not waitTiered: with retention.bytes set, local retention may keep
	// tiered segments a while; what matters is that the table follows.)
	waitTableCaughtUp(t, tb, topic, 2, 60*time.Second)

	tb.restart()
	waitTableCaughtUp(t, tb, topic, 2, 60*time.Second)
	st, err = tb.srv.Tables().TableStatus(ctx, topic)
	if err != nil || st.Files == 0 || st.Bytes == 0 {
		t.Fatalf("status %+v %v", st, err)
	}
	// strata tier status's data names the table.
	ps, err := tiering.FetchStatus(ctx, tb.srv.MetricsAddr(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !p.Iceberg || p.TableFiles != int64(p.RemoteFiles) || p.TableBytes != p.RemoteBytes || p.TableEnd != p.RemoteEnd || p.TableLag != 0 || p.TableSnap == 0 {
			t.Fatalf("tier status of %d: %+v", p.Partition, p)
		}
	}
	metrics := httpGet(t, "http://"+tb.srv.MetricsAddr()+"/metrics")
	for _, m := range []string{"strata_iceberg_commits_total", "strata_iceberg_commit_seconds_bucket", "strata_iceberg_snapshot_lag_offsets", "strata_iceberg_commit_failures_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metric %s missing", m)
		}
	}
	_ = objstore.ErrNotExist
}

func TestIcebergEndToEndFileStore(t *testing.T) {
	runIcebergEndToEnd(t, func(*Config) {}, nil)
}

func TestIcebergEndToEndMinIO(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	b := m.Bucket(t, 0)
	t.Setenv("AWS_ACCESS_KEY_ID", objstoretest.MinIOAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", objstoretest.MinIOSecretKey)
	runIcebergEndToEnd(t, func(c *Config) {
		c.ObjectStore = "s3://" + objstoretest.BucketURLName(b) + "/lake"
		c.S3Endpoint = m.Endpoint()
		c.S3Region = "us-east-1"
	}, map[string]string{
		"s3.endpoint": m.Endpoint(), "s3.region": "us-east-1", "s3.force-virtual-addressing": "false",
		"s3.access-key-id": objstoretest.MinIOAccessKey, "s3.secret-access-key": objstoretest.MinIOSecretKey,
	})
}

// TestIcebergCommitFailuresRepaired: table commits fail for a while (as if
// the broker died between each manifest write and its table commit) while
// uploads and merges go on, then the broker restarts: tiering never
// stopped, no object the table still named was deleted, and after the
// restart the table catches up and agrees with the manifest; an upload
// whose manifest commit failed (PUT done) is never named by the table.
func TestIcebergCommitFailuresRepaired(t *testing.T) {
	var failTable, failCommit atomic.Bool
	failTable.Store(true)
	hooks := &tiering.Hooks{
		BeforeTableSync: func(string, int32) error {
			if failTable.Load() {
				return errors.New("injected: died before the table commit")
			}
			return nil
		},
		BeforeCommit: func(meta.TierSegment) error {
			if failCommit.Load() {
				return errors.New("injected: died before the manifest commit")
			}
			return nil
		},
	}
	tb := startBroker(t, func(c *Config) {
		c.TierRowGroupBytes = 16 << 10
		c.TierHooks = hooks
	})
	ctx := testCtx(t)
	topic := "repair"
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, icebergTopicConfigs(), topic); err != nil {
		t.Fatal(err)
	}
	want := produceMixed(t, tb, topic, 3000, 7)
	waitTiered(t, tb, topic, 2, 60*time.Second)
	if _, err := tb.srv.Tables().TableStatus(ctx, topic); err == nil {
		t.Fatal("a table was committed while every table commit failed")
	}
	// Behind: status says so, the metric counts it.
	ps, err := tiering.FetchStatus(ctx, tb.srv.MetricsAddr(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Iceberg || p.RemoteEnd <= 0 {
			t.Fatalf("status while the table is missing: %+v", p)
		}
	}
	if !strings.Contains(httpGet(t, "http://"+tb.srv.MetricsAddr()+"/metrics"), "strata_tier_table_sync_errors_total") {
		t.Fatal("no sync error metric")
	}
	// Now the manifest commits fail too: objects are PUT, never committed.
	failCommit.Store(true)
	more := produceMixed(t, tb, topic, 500, 8)
	time.Sleep(2 * time.Second)
	tb.stop()
	failCommit.Store(false)
	failTable.Store(false)
	tb.start()
	waitTiered(t, tb, topic, 2, 60*time.Second)
	waitTableCaughtUp(t, tb, topic, 2, 60*time.Second)
	for k, v := range more {
		want[k] = v
	}
	scanAndCompare(t, tb, func() (*table.Table, error) {
		loc, _, _, err := tb.srv.Tables().Metadata(ctx, topic)
		if err != nil {
			return nil, err
		}
		return table.NewFromLocation(ctx, table.Identifier{"default", topic}, loc, iceio.LoadFSFunc(nil, loc), nil)
	}, topic, want)
}

// TestCatalogServeApart: `strata catalog serve`'s server, on the broker's
// etcd and store, serves the same table.
func TestCatalogServeApart(t *testing.T) {
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e, err := embedetcd.Start(sctx, embedetcd.Config{Dir: t.TempDir()}, testLogger())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	tb := startBroker(t, func(c *Config) {
		c.TierRowGroupBytes = 16 << 10
		c.EtcdEndpoints = e.Endpoints()
		c.Cluster = "catalog-apart"
		c.ObjectStore = "file://" + t.TempDir()
	})
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, icebergTopicConfigs(), "apart"); err != nil {
		t.Fatal(err)
	}
	want := produceMixed(t, tb, "apart", 1000, 3)
	waitTiered(t, tb, "apart", 2, 60*time.Second)
	waitTableCaughtUp(t, tb, "apart", 2, 60*time.Second)
	c, err := ServeCatalog(ctx, CatalogConfig{EtcdEndpoints: tb.cfg.EtcdEndpoints, Cluster: "catalog-apart", ObjectStore: tb.cfg.ObjectStore, Listen: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cat, err := rest.NewCatalog(ctx, "strata", "http://"+c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	scanAndCompare(t, tb, func() (*table.Table, error) {
		return cat.LoadTable(ctx, table.Identifier{"catalog-apart", "apart"})
	}, "apart", want)
}
