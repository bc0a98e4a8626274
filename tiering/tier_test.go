package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/local"
	"github.com/stratalog/strata/objstore/objstoretest"
	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/tiering/coldfile"
)

// fakePart is a partition backed by a real hot log.
type fakePart struct {
	topic string
	id    [16]byte
	idx   int32
	log   *hotlog.Log
	epoch atomic.Int32
	set   atomic.Pointer[Settings]
	// unsynced, if > 0, holds the fsynced offset there: an fsync still
	// under way (the real log's background flush races the tests).
	unsynced atomic.Int64
	// deletedBefore is DeletedBefore (DeleteRecords' start).
	deletedBefore atomic.Int64
}

func (p *fakePart) FlushedOffset() int64 {
	f := p.log.FlushedOffset()
	if u := p.unsynced.Load(); u > 0 {
		f = min(f, u)
	}
	return f
}

func (p *fakePart) Topic() string                               { return p.topic }
func (p *fakePart) Index() int32                                { return p.idx }
func (p *fakePart) TopicID() [16]byte                           { return p.id }
func (p *fakePart) LeaderEpoch() int32                          { return p.epoch.Load() }
func (p *fakePart) HighWatermark() int64                        { return p.log.LogEndOffset() }
func (p *fakePart) Segments() []hotlog.SegmentInfo              { return p.log.Segments() }
func (p *fakePart) Roll() error                                 { return p.log.Roll() }
func (p *fakePart) TierSettings() Settings                      { return *p.set.Load() }
func (p *fakePart) ReadLocal(o, m int64, n int) ([]byte, error) { return p.log.Read(o, m, n, true) }
func (p *fakePart) DeletedBefore() int64                        { return p.deletedBefore.Load() }
func (p *fakePart) LastStableOffset() int64                     { return p.log.LastStableOffset(p.HighWatermark()) }
func (p *fakePart) LocalAbortedTransactions(from, upTo int64) []hotlog.AbortedTxn {
	return p.log.AbortedTransactions(from, upTo)
}

// env is a tierer on a fresh topic with one partition.
type env struct {
	t      *testing.T
	mc     *meta.Client
	bucket objstore.Bucket
	part   *fakePart
	tier   *Tier
	rows   []coldfile.Row // everything appended, decoded
	r      *rand.Rand
}

func newEnv(t *testing.T, b objstore.Bucket, mutate func(*Config)) *env {
	t.Helper()
	mc := newMeta(t)
	ctx := testCtx(t)
	topic := "t" + fmt.Sprint(testCounter.Add(1))
	id := meta.NewTopicID()
	if err := mc.CreateTopic(ctx, meta.Topic{Name: topic, ID: id, Partitions: 1},
		[]meta.PartitionState{{Topic: topic, Partition: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}); err != nil {
		t.Fatal(err)
	}
	l, err := hotlog.Open(t.TempDir(), hotlog.Config{SegmentBytes: 16 << 10, RetentionAge: -1, RetentionBytes: -1}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &fakePart{topic: topic, id: id, log: l}
	p.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1})
	cfg := Config{
		Bucket: b, Meta: mc, Logger: testLogger(), TempDir: t.TempDir(),
		Interval: 20 * time.Millisecond, MaintenanceInterval: 50 * time.Millisecond,
		RowGroupBytes: 4 << 10, CacheBytes: 64 << 10, MaxBackoff: 200 * time.Millisecond,
		SweepInterval: time.Hour,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	tier, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tier.Close() })
	return &env{t: t, mc: mc, bucket: b, part: p, tier: tier, r: rand.New(rand.NewPCG(uint64(len(topic)), 9))}
}

func (e *env) start() {
	e.tier.Start(func() []Partition { return []Partition{e.part} })
}

// produce appends n batches of mixed kinds, one Append each.
func (e *env) produce(n int) {
	e.t.Helper()
	base := e.part.log.LogEndOffset()
	data, _ := mixedBatchesFor(e.t, e.r, base, n, true)
	for pos := 0; pos < len(data); {
		h, _ := recordbatch.ParseHeader(data[pos:])
		b := append([]byte(nil), data[pos:pos+h.Size()]...)
		if _, err := e.part.log.Append(b, []recordbatch.Header{h}, h.PartitionLeaderEpoch, time.Now()); err != nil {
			e.t.Fatal(err)
		}
		pos += h.Size()
	}
	e.rows = e.localRows(0)
}

// localRows decodes the local log from offset on.
func (e *env) localRows(from int64) []coldfile.Row {
	e.t.Helper()
	var out []coldfile.Row
	for off := max(from, e.part.log.LogStartOffset()); off < e.part.log.LogEndOffset(); {
		data, err := e.part.log.Read(off, e.part.log.LogEndOffset(), 1<<20, true)
		if err != nil {
			e.t.Fatal(err)
		}
		rows := decodeAll(e.t, data, 0)
		for _, r := range rows {
			if r.Offset >= off {
				out = append(out, r)
			}
		}
		off = rows[len(rows)-1].Offset + 1
	}
	return out
}

// sealedEnd is the end of the last sealed segment.
func (e *env) sealedEnd() int64 {
	segs := e.part.log.Segments()
	end := int64(-1)
	for _, s := range segs {
		if s.Sealed {
			end = s.NextOffset
		}
	}
	return end
}

// waitTiered waits until the cold tier reaches offset end.
func (e *env) waitTiered(end int64, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, got, err := e.tier.ColdRange(testCtx(e.t), e.part.topic, 0)
		if err == nil && got >= end {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("cold tier reached %d (err %v), want %d", got, err, end)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkManifest checks the invariants: entries contiguous, every object
// there with the recorded size.
func (e *env) checkManifest() []meta.TierSegment {
	e.t.Helper()
	segs, err := e.mc.TierSegments(testCtx(e.t), e.part.topic, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, s := range segs {
		if i > 0 && s.BaseOffset != segs[i-1].LastOffset+1 {
			e.t.Errorf("manifest hole: %d after %d", s.BaseOffset, segs[i-1].LastOffset)
		}
		st, err := e.bucket.Stat(testCtx(e.t), s.Object)
		if err != nil || st.Size != s.Size {
			e.t.Errorf("manifest entry %d names object %s (%d bytes): %+v %v", s.BaseOffset, s.Object, s.Size, st, err)
		}
	}
	return segs
}

// readCold reads [from, end) with the given budget per read, checking each
// record against the produced rows.
func (e *env) readCold(from, end int64, maxBytes int) int {
	e.t.Helper()
	reads := 0
	off := from
	for off < end {
		out, err := e.tier.ColdRead(testCtx(e.t), e.part.topic, 0, off, end, maxBytes, true)
		if err != nil {
			e.t.Fatalf("cold read at %d (budget %d): %v", off, maxBytes, err)
		}
		reads++
		if maxBytes > 1 && len(out) > maxBytes {
			hs, _ := recordbatch.Validate(out, recordbatch.DefaultMaxDecompressed)
			if len(hs) > 1 {
				e.t.Fatalf("cold read at %d: %d bytes over budget %d in %d batches", off, len(out), maxBytes, len(hs))
			}
		}
		if _, err := recordbatch.Validate(out, recordbatch.DefaultMaxDecompressed); err != nil {
			e.t.Fatalf("cold read at %d: invalid batches: %v", off, err)
		}
		rows := decodeAll(e.t, out, 0)
		if len(rows) == 0 {
			e.t.Fatalf("cold read at %d (budget %d): nothing", off, maxBytes)
		}
		for _, r := range rows {
			if r.Offset != off {
				e.t.Fatalf("cold read: offset %d, expected %d", r.Offset, off)
			}
			if err := sameRow(r, e.rows[r.Offset-e.rows[0].Offset]); err != nil {
				e.t.Fatalf("cold read (budget %d): %v", maxBytes, err)
			}
			off++
			if off > end {
				e.t.Fatalf("cold read went past %d", end)
			}
		}
	}
	return reads
}

func testUploadAndRead(t *testing.T, b objstore.Bucket) {
	e := newEnv(t, b, nil)
	e.produce(400)
	e.start()
	end := e.sealedEnd()
	if len(e.part.log.Segments()) < 8 {
		t.Fatalf("only %d segments", len(e.part.log.Segments()))
	}
	e.waitTiered(end, 60*time.Second)
	segs := e.checkManifest()
	if len(segs) < 7 || segs[0].BaseOffset != 0 || segs[len(segs)-1].LastOffset != end-1 {
		t.Fatalf("manifest of %d entries [%d, %d], want [0, %d)", len(segs), segs[0].BaseOffset, segs[len(segs)-1].LastOffset, end)
	}
	// Every file is in its Hive-style place with its own offsets.
	for _, s := range segs {
		topic, p, base, last, ok := coldfile.ParseObjectKey(s.Object)
		if !ok || topic != e.part.topic || p != 0 || base != s.BaseOffset || last != s.LastOffset || s.Records != last-base+1 {
			t.Errorf("entry %+v", s)
		}
	}
	// Whole-range reads with various budgets, from 0.
	for _, budget := range []int{1, 700, 4096, 64 << 10, 4 << 20} {
		n := e.readCold(0, end, budget)
		t.Logf("budget %d: %d reads for %d records", budget, n, end)
	}
	// Starts mid-file and at every file boundary.
	for i := 0; i < 30; i++ {
		from := e.r.Int64N(end)
		e.readCold(from, min(end, from+50), 300)
	}
	for _, s := range segs {
		e.readCold(s.BaseOffset, min(end, s.BaseOffset+3), 1)
		if s.BaseOffset > 0 {
			e.readCold(s.BaseOffset-1, min(end, s.BaseOffset+1), 1<<20)
		}
	}
	// endOffset limits the answer.
	out, err := e.tier.ColdRead(testCtx(t), e.part.topic, 0, 5, 9, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if rows := decodeAll(t, out, 0); len(rows) != 4 || rows[3].Offset != 8 {
		t.Fatalf("read [5, 9): %d rows", len(rows))
	}
	// Past the cold end: nothing.
	if out, err := e.tier.ColdRead(testCtx(t), e.part.topic, 0, end, end+100, 1<<20, true); err != nil || len(out) != 0 {
		t.Fatalf("read at the cold end: %d bytes, %v", len(out), err)
	}
	// Offsets by timestamp agree with a scan of the produced rows.
	for i := 0; i < 20; i++ {
		ts := e.rows[e.r.IntN(int(end))].Timestamp + int64(e.r.IntN(3)) - 1
		want := int64(-1)
		for _, r := range e.rows[:end] {
			if r.Timestamp >= ts {
				want = r.Offset
				break
			}
		}
		got, _, found, err := e.tier.ColdOffsetForTimestamp(testCtx(t), e.part.topic, 0, ts)
		if err != nil || (want >= 0) != found || (found && got != want) {
			t.Fatalf("offset for timestamp %d: %d %v %v, want %d", ts, got, found, err, want)
		}
	}
	off, ts, found, err := e.tier.ColdMaxTimestamp(testCtx(t), e.part.topic, 0)
	var maxTs int64 = -1
	for _, r := range e.rows[:end] {
		maxTs = max(maxTs, r.Timestamp)
	}
	if err != nil || !found || ts != maxTs || e.rows[off].Timestamp != maxTs {
		t.Fatalf("max timestamp: %d %d %v %v, want ts %d", off, ts, found, err, maxTs)
	}
	if e.tier.m.coldGets == nil {
		t.Fatal("no metrics")
	}
}

func TestUploadAndReadLocalStore(t *testing.T) { testUploadAndRead(t, localBucket(t)) }

func TestUploadAndReadMinIO(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	testUploadAndRead(t, m.Bucket(t, 0))
}

// TestMaxLagRoll: a quiet partition's active segment is rolled and tiered
// once it is older than strata.tier.max.lag.ms.
func TestMaxLagRoll(t *testing.T) {
	e := newEnv(t, localBucket(t), nil)
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1, MaxLag: 300 * time.Millisecond})
	e.produce(3)
	if e.sealedEnd() >= 0 {
		t.Fatal("test data filled a segment")
	}
	e.start()
	e.waitTiered(e.part.log.LogEndOffset(), 10*time.Second)
	e.readCold(0, e.part.log.LogEndOffset(), 1<<20)
}

// TestRetentionMergeSweep: merges keep reads exact, remote retention moves
// the start (entries first, objects second), orphans are swept.
func TestRetentionMergeSweep(t *testing.T) {
	b := localBucket(t)
	e := newEnv(t, b, func(c *Config) {
		c.MergeMinAge = time.Millisecond
		c.OrphanGrace = 500 * time.Millisecond
		c.SweepInterval = 100 * time.Millisecond
	})
	e.produce(400)
	e.start()
	end := e.sealedEnd()
	e.waitTiered(end, 60*time.Second)
	before := e.checkManifest()

	// An orphan (a crash between PUT and commit) and a foreign object.
	orphan := coldfile.ObjectKey(e.part.topic, 0, end+1000, end+2000)
	foreign := coldfile.PartitionPrefix(e.part.topic, 0) + "README"
	for _, k := range []string{orphan, foreign} {
		if _, err := b.Put(testCtx(t), k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}

	// Merge toward 3x the average file size.
	var total int64
	for _, s := range before {
		total += s.Size
	}
	target := 3 * total / int64(len(before))
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1, TargetFileBytes: target})
	deadline := time.Now().Add(30 * time.Second)
	for {
		segs, _ := e.mc.TierSegments(testCtx(t), e.part.topic, 0)
		if len(segs) <= len(before)/2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1})
	time.Sleep(200 * time.Millisecond) // let a merge in flight finish
	merged := e.checkManifest()
	if len(merged) > len(before)/2 {
		t.Fatalf("%d files after merging, had %d", len(merged), len(before))
	}
	if merged[0].BaseOffset != 0 || merged[len(merged)-1].LastOffset != end-1 {
		t.Fatalf("merged manifest covers [%d, %d]", merged[0].BaseOffset, merged[len(merged)-1].LastOffset)
	}
	e.readCold(0, end, 8<<10)
	// Old objects are gone, except the ones still named.
	named := map[string]bool{}
	for _, s := range merged {
		named[s.Object] = true
	}
	for _, s := range before {
		if _, err := b.Stat(testCtx(t), s.Object); err == nil && !named[s.Object] {
			t.Errorf("merged-away object %s still there", s.Object)
		}
	}

	// The orphan goes after its grace period; the foreign object stays.
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := b.Stat(testCtx(t), orphan); errors.Is(err, objstore.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("orphan not swept")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := b.Stat(testCtx(t), foreign); err != nil {
		t.Errorf("foreign object swept: %v", err)
	}

	// Remote retention by bytes: keep about half.
	var logBytes int64
	for _, s := range merged {
		logBytes += s.LogBytes
	}
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: logBytes / 2})
	var kept []meta.TierSegment
	deadline = time.Now().Add(10 * time.Second)
	for {
		kept, _ = e.mc.TierSegments(testCtx(t), e.part.topic, 0)
		if len(kept) < len(merged) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(kept) >= len(merged) {
		t.Fatal("retention.bytes removed nothing")
	}
	start := kept[0].BaseOffset
	if s, _, _ := e.tier.ColdRange(testCtx(t), e.part.topic, 0); s != start {
		t.Errorf("cold range starts at %d, manifest at %d", s, start)
	}
	if _, err := e.tier.ColdRead(testCtx(t), e.part.topic, 0, start-1, end, 1000, true); !errors.Is(err, ErrOffsetOutOfRange) || !errors.Is(err, hotlog.ErrOffsetOutOfRange) {
		t.Errorf("read below the start: %v, want ErrOffsetOutOfRange (and hotlog's)", err)
	}
	e.readCold(start, end, 64<<10)
	for _, s := range merged[:len(merged)-len(kept)] {
		if _, err := b.Stat(testCtx(t), s.Object); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("object %s of a deleted entry still there: %v", s.Object, err)
		}
	}
	// retention.ms: everything is older than a second.
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: 1000, RetentionBytes: -1})
	deadline = time.Now().Add(10 * time.Second)
	for {
		kept, _ = e.mc.TierSegments(testCtx(t), e.part.topic, 0)
		if len(kept) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(kept) != 0 {
		t.Fatalf("retention.ms kept %d entries", len(kept))
	}
}

// failingBucket fails every operation while down is set.
type failingBucket struct {
	objstore.Bucket
	down  atomic.Bool
	fails atomic.Int64
}

var errDown = errors.New("injected: object store down")

func (f *failingBucket) check() error {
	if f.down.Load() {
		f.fails.Add(1)
		return errDown
	}
	return nil
}

func (f *failingBucket) Put(ctx context.Context, key string, r io.Reader, size int64) (objstore.ObjectInfo, error) {
	if err := f.check(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	return f.Bucket.Put(ctx, key, r, size)
}

func (f *failingBucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := f.check(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	return f.Bucket.Stat(ctx, key)
}

// TestStoreDownAndCrashBeforeCommit: uploads fail while the store is down
// (the untiered bytes grow, nothing is lost), a crash between PUT and the
// manifest commit leaves only an orphan, and everything is tiered once the
// store is back. The manifest never names a missing object.
func TestStoreDownAndCrashBeforeCommit(t *testing.T) {
	lb, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fb := &failingBucket{Bucket: lb}
	var commitFails atomic.Int64
	var orphans sync.Map
	e := newEnv(t, fb, func(c *Config) {
		c.Hooks = &Hooks{BeforeCommit: func(seg meta.TierSegment) error {
			if commitFails.Add(1) <= 3 {
				orphans.Store(seg.Object, true)
				return errors.New("injected: crash between PUT and manifest commit")
			}
			return nil
		}}
	})
	// Invariant checker.
	stop := make(chan struct{})
	var checks atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			segs, err := e.mc.TierSegments(context.Background(), e.part.topic, 0)
			if err != nil {
				continue
			}
			for _, s := range segs {
				if _, err := lb.Stat(context.Background(), s.Object); err != nil {
					t.Errorf("manifest names %s, object missing: %v", s.Object, err)
				}
			}
			checks.Add(1)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	fb.down.Store(true)
	e.produce(200)
	e.start()
	for deadline := time.Now().Add(30 * time.Second); fb.fails.Load() < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts with the store down, want retries", fb.fails.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, end, _ := e.tier.ColdRange(testCtx(t), e.part.topic, 0); end > 0 {
		t.Fatalf("tiered up to %d with the store down", end)
	}
	lag := e.tier.lagTotals()
	if lag.sealedBytes == 0 || e.tier.StoreError() == nil {
		t.Fatalf("untiered bytes %d, store error %v: the failure is not visible", lag.sealedBytes, e.tier.StoreError())
	}
	fb.down.Store(false)
	e.produce(100)
	end := e.sealedEnd()
	e.waitTiered(end, 60*time.Second)
	e.checkManifest()
	e.readCold(0, end, 32<<10)
	if commitFails.Load() < 4 {
		t.Fatalf("commit hook ran %d times", commitFails.Load())
	}
	if e.tier.StoreError() != nil {
		t.Errorf("store error still set: %v", e.tier.StoreError())
	}
	// The failed commits' objects were overwritten by the retries (same
	// key): they are named now, not orphans.
	orphans.Range(func(k, _ any) bool {
		t.Logf("object of a failed commit: %s", k)
		return true
	})
	if checks.Load() == 0 {
		t.Fatal("invariant checker never ran")
	}
}

// TestEtcdDown: with etcd unreachable the tierer cannot commit; the object
// is stored, nothing is named, and everything is tiered once etcd is back.
func TestEtcdDown(t *testing.T) {
	dir := t.TempDir()
	start := func() *embedetcd.Server {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ee, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir}, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		return ee
	}
	ee := start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	mc, err := meta.Dial(ctx, ee.Endpoints(), "etcd-down")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	if err := mc.CreateTopic(testCtx(t), meta.Topic{Name: "ed", Partitions: 1},
		[]meta.PartitionState{{Topic: "ed", Partition: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}); err != nil {
		t.Fatal(err)
	}
	l, err := hotlog.Open(t.TempDir(), hotlog.Config{SegmentBytes: 16 << 10, RetentionAge: -1, RetentionBytes: -1}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := &fakePart{topic: "ed", log: l}
	p.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1})
	b := localBucket(t)
	tier, err := New(Config{Bucket: b, Meta: mc, Logger: testLogger(), TempDir: t.TempDir(), Interval: 20 * time.Millisecond,
		RowGroupBytes: 4 << 10, MaxBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	e := &env{t: t, mc: mc, bucket: b, part: p, tier: tier, r: rand.New(rand.NewPCG(5, 6))}

	e.produce(100)
	e.start()
	first := e.sealedEnd()
	e.waitTiered(first, 30*time.Second)
	before := len(e.checkManifest())

	ee.Close() // etcd down: the tierer still uploads, but cannot commit
	e.produce(100)
	time.Sleep(2 * time.Second)
	var objs []string
	b.List(context.Background(), "", func(oi objstore.ObjectInfo) error { objs = append(objs, oi.Key); return nil })
	if len(objs) <= before {
		t.Errorf("%d objects with etcd down, %d before: no upload was tried", len(objs), before)
	}
	// Cold reads of what the cached manifest knows go on.
	e.readCold(0, first, 16<<10)

	ee = start()
	defer ee.Close()
	end := e.sealedEnd()
	e.waitTiered(end, 60*time.Second)
	e.checkManifest()
	e.readCold(0, end, 16<<10)
	t.Logf("objects stored while etcd was down: %d (manifest had %d)", len(objs), before)
}
