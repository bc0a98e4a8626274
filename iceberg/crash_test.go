package iceberg

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
)

// tableObjects is the set of object keys of the data files the current
// snapshot names (through iceberg-go's planner).
func (f *fixture) tableObjects() map[string]bool {
	f.t.Helper()
	tbl := openPath(f.t, f.current(), nil)
	tasks, err := tbl.Scan().PlanFiles(testCtx(f.t))
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, task := range tasks {
		out[strings.TrimPrefix(task.File.FilePath(), f.root+"/")] = true
	}
	return out
}

func (f *fixture) agree(parts ...int32) {
	f.t.Helper()
	got := f.tableObjects()
	want := map[string]bool{}
	for _, p := range parts {
		for _, s := range f.manifest(p) {
			want[s.Object] = true
		}
	}
	if len(got) != len(want) {
		f.t.Fatalf("table names %d files, the manifests %d: %v vs %v", len(got), len(want), got, want)
	}
	for k := range want {
		if !got[k] {
			f.t.Fatalf("table lacks %s", k)
		}
	}
}

var errInjected = errors.New("injected crash")

// TestCrashBetweenSteps: a commit that dies before its metadata file is
// stored, or after it but before the etcd pointer moves, or a manifest
// change whose table commit never ran (the tierer died after the etcd
// manifest write), is repaired by the next Sync (a fresh Tables, as after
// a restart): the table names exactly the manifest's files, each once,
// and scans to every record.
func TestCrashBetweenSteps(t *testing.T) {
	f := newLocalFixture(t, 1)
	var failAt atomic.Int32 // 1: before the metadata PUT, 2: before the pointer
	hooks := &Hooks{
		BeforeMetadataPut: func(string, int32) error {
			if failAt.Load() == 1 {
				return errInjected
			}
			return nil
		},
		BeforePointer: func(string, int32) error {
			if failAt.Load() == 2 {
				return errInjected
			}
			return nil
		},
	}
	crashy := f.newTables(hooks)
	f.sync(crashy, 0, f.upload(0, 0, 50))
	next := int64(50)
	for step := int32(1); step <= 3; step++ {
		// An upload, a merge and a retention pass, each dying at this step.
		for _, change := range []func() []meta.TierSegment{
			func() []meta.TierSegment { s := f.upload(0, next, 20); next += 20; return s },
			func() []meta.TierSegment { f.upload(0, next, 20); next += 20; return f.merge(0) },
			func() []meta.TierSegment { f.upload(0, next, 20); next += 20; return f.retain(0, 1) },
		} {
			segs := change()
			if step <= 2 {
				failAt.Store(step)
				if _, err := crashy.Sync(testCtx(t), Request{Topic: f.topic, TopicID: f.topicID(), Partition: 0, Epoch: 1, Segments: segs}); !errors.Is(err, errInjected) {
					t.Fatalf("step %d: sync %v, want the injected failure", step, err)
				}
				failAt.Store(0)
			}
			// step 3: the tierer died between the manifest write and the
			// table commit (no Sync at all).
			restarted := f.newTables(nil)
			f.sync(restarted, 0, f.manifest(0))
			f.agree(0)
			segs = f.manifest(0)
			checkRows(t, scanTable(t, openPath(t, f.current(), nil)), map[int32]int64{0: segs[0].BaseOffset}, map[int32]int64{0: next})
		}
	}
	// Leftovers of the failed attempts are never named; the committed
	// metadata files all parse (a crashed attempt's file is garbage that
	// no pointer names).
	ptr, _, _ := f.meta.IcebergTable(testCtx(t), f.topic)
	if ptr.Version < 8 {
		t.Fatalf("version %d after 9 changes", ptr.Version)
	}
}

// TestFencedCommit: a commit under an old leader epoch is refused and
// leaves the table as it was.
func TestFencedCommit(t *testing.T) {
	f := newLocalFixture(t, 1)
	f.sync(f.tables, 0, f.upload(0, 0, 10))
	before := f.current()
	// The partition moves to epoch 2.
	ctx := testCtx(t)
	ps, err := f.meta.PartitionStates(ctx, f.topic)
	if err != nil {
		t.Fatal(err)
	}
	st := ps[0]
	st.LeaderEpoch = 2
	if err := f.meta.UpdatePartitionState(ctx, st, 1); err != nil {
		t.Fatal(err)
	}
	seg := f.writeFile(0, 10, 5)
	if _, err := f.meta.AddTierSegment(ctx, seg, 2); err != nil {
		t.Fatal(err)
	}
	_, err = f.tables.Sync(ctx, Request{Topic: f.topic, TopicID: f.topicID(), Partition: 0, Epoch: 1, Segments: f.manifest(0)})
	if !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("stale leader's commit: %v, want ErrFenced", err)
	}
	if f.current() != before {
		t.Fatal("fenced commit moved the pointer")
	}
	if _, err := f.tables.Sync(ctx, Request{Topic: f.topic, TopicID: f.topicID(), Partition: 0, Epoch: 2, Segments: f.manifest(0)}); err != nil {
		t.Fatal(err)
	}
	f.agree(0)
}

// TestConcurrentPartitions: the partitions of one topic commit at once
// (as their leaders on several brokers do); every commit lands, none is
// lost.
func TestConcurrentPartitions(t *testing.T) {
	f := newLocalFixture(t, 4)
	errs := make(chan error, 4)
	for p := int32(0); p < 4; p++ {
		go func(p int32) {
			tb := f.newTables(nil) // one per "broker"
			var err error
			for i := int64(0); i < 5 && err == nil; i++ {
				seg := f.writeFile(p, i*10, 10)
				if _, err = f.meta.AddTierSegment(testCtx(t), seg, 1); err != nil {
					break
				}
				segs, _ := f.meta.TierSegments(testCtx(t), f.topic, p)
				_, err = tb.Sync(testCtx(t), Request{Topic: f.topic, TopicID: f.topicID(), Partition: p, Epoch: 1, Segments: segs})
			}
			errs <- err
		}(p)
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	f.agree(0, 1, 2, 3)
	checkRows(t, scanTable(t, openPath(t, f.current(), nil)), map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}, map[int32]int64{0: 50, 1: 50, 2: 50, 3: 50})
}

// TestBackfill: a topic with tiered files and no table gets all of them
// in its first commit.
func TestBackfill(t *testing.T) {
	f := newLocalFixture(t, 2)
	for i := int64(0); i < 6; i++ {
		f.upload(0, i*10, 10)
		f.upload(1, i*5, 5)
	}
	for p := int32(0); p < 2; p++ {
		if res := f.sync(f.tables, p, f.manifest(p)); res.Operation != table.OpAppend || res.Added != 6 {
			t.Fatalf("backfill of %d: %+v", p, res)
		}
	}
	f.agree(0, 1)
	checkRows(t, scanTable(t, openPath(t, f.current(), nil)), map[int32]int64{0: 0, 1: 0}, map[int32]int64{0: 60, 1: 30})
}

// TestSnapshotExpiry: snapshots older than the retention expire at the
// next commit, with their manifest lists, the manifests only they named
// and old metadata files; time travel to a kept snapshot works.
func TestSnapshotExpiry(t *testing.T) {
	f := newLocalFixture(t, 1)
	now := time.Now()
	clock := func() time.Time { return now }
	tb, err := New(Config{Meta: f.meta, Bucket: f.bucket, Root: f.root, Namespace: "strata", Logger: testLogger(), Now: func() time.Time { return clock() }})
	if err != nil {
		t.Fatal(err)
	}
	sync := func(segs []meta.TierSegment) Result {
		res, err := tb.Sync(testCtx(t), Request{Topic: f.topic, TopicID: f.topicID(), Partition: 0, Epoch: 1, Segments: segs, SnapshotRetention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := int64(0); i < 15; i++ {
		sync(f.upload(0, i*10, 10))
		now = now.Add(time.Minute)
	}
	countMeta := func() (lists, manifests, metas int) {
		_ = f.bucket.List(testCtx(t), "topic="+f.topic+"/metadata/", func(oi objstore.ObjectInfo) error {
			switch {
			case strings.Contains(oi.Key, "/snap-"):
				lists++
			case strings.HasSuffix(oi.Key, ".avro"):
				manifests++
			case strings.HasSuffix(oi.Key, ".metadata.json"):
				metas++
			}
			return nil
		})
		return
	}
	l0, m0, md0 := countMeta()
	if l0 != 15 || m0 != 15 {
		t.Fatalf("before expiry: %d lists, %d manifests", l0, m0)
	}
	// Metadata log kept to 10 previous versions (+ current), each with
	// its v<N> copy.
	if md0 > 2*11 {
		t.Fatalf("%d metadata files", md0)
	}
	tblBefore := openPath(t, f.current(), nil)
	keep := tblBefore.Metadata().Snapshots()[10] // 4 minutes before the last commit
	now = now.Add(time.Hour - 10*time.Minute + 30*time.Second)
	res := sync(f.upload(0, 150, 10))
	if res.Expired == 0 {
		t.Fatalf("nothing expired: %+v", res)
	}
	l1, m1, _ := countMeta()
	tbl := openPath(t, f.current(), nil)
	if got := len(tbl.Metadata().Snapshots()); got != 16-res.Expired {
		t.Fatalf("%d snapshots after expiring %d of 16", got, res.Expired)
	}
	if l1 != 16-res.Expired || m1 != 16-res.Expired {
		t.Fatalf("after expiry: %d lists, %d manifests, want %d each", l1, m1, 16-res.Expired)
	}
	// Time travel to a kept snapshot.
	checkRows(t, scanTable(t, tbl, table.WithSnapshotID(keep.SnapshotID)), map[int32]int64{0: 0}, map[int32]int64{0: 110})
	checkRows(t, scanTable(t, tbl), map[int32]int64{0: 0}, map[int32]int64{0: 160})
}
