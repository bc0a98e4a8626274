package tiering

import (
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/objstoretest"
	"github.com/stratalog/strata/tiering/coldfile"
)

// Tests of issue 15's tiering items: each drives the tierer's job by hand
// (one call = one pass), against a real etcd and real object stores.

// stores are the object stores the tests run against.
var stores = []struct {
	name   string
	bucket func(t *testing.T) objstore.Bucket
}{
	{"local", func(t *testing.T) objstore.Bucket { return localBucket(t) }},
	{"minio", func(t *testing.T) objstore.Bucket { return objstoretest.StartMinIO(t).Bucket(t, 0) }},
}

// pass runs one job of the partition, as the scheduler does.
func (e *env) pass(ps *partState) error {
	e.t.Helper()
	if ps.p == nil {
		ps.p, ps.activeBase, ps.tieredEnd, ps.lastSweep = e.part, -1, -2, time.Now()
	}
	ps.lastMaint = time.Time{} // maintenance is due
	// Everything appended is fsynced first (the background flush after a
	// roll would race the pass): only fakePart.unsynced holds it back.
	if err := e.part.log.FlushUpTo(e.part.log.LogEndOffset()); err != nil {
		e.t.Fatal(err)
	}
	return e.tier.job(testCtx(e.t), ps)
}

// bucketRows lists the partition's objects and counts their rows (what
// read_parquet over the folder counts).
func (e *env) bucketRows() (objects int, rows int64) {
	e.t.Helper()
	ctx := testCtx(e.t)
	var infos []objstore.ObjectInfo
	if err := e.bucket.List(ctx, coldfile.PartitionPrefix(e.part.topic, 0), func(oi objstore.ObjectInfo) error {
		infos = append(infos, oi)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	for _, oi := range infos {
		f, err := coldfile.Open(ctx, e.bucket, oi.Key, oi.Size, coldfile.Options{})
		if err != nil {
			e.t.Fatalf("object %s: %v", oi.Key, err)
		}
		for _, rg := range f.RowGroups() {
			rows += rg.Rows
		}
	}
	return len(infos), rows
}

// TestFirstPassNoDuplicateRows: the first maintenance pass after uploads
// does not merge the files it just uploaded (they are not MergeMinAge
// old), and the bucket holds every record once: the manifest's objects
// and nothing else.
func TestFirstPassNoDuplicateRows(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t, st.bucket(t), nil)
			e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1, TargetFileBytes: 128 << 20})
			e.produce(400)
			end := e.sealedEnd()
			if err := e.pass(&partState{}); err != nil {
				t.Fatalf("first pass: %v", err)
			}
			segs := e.checkManifest()
			if len(segs) < 7 || segs[len(segs)-1].LastOffset != end-1 {
				t.Fatalf("manifest of %d entries, want the %d offsets tiered", len(segs), end)
			}
			objects, rows := e.bucketRows()
			if objects != len(segs) || rows != end {
				t.Fatalf("bucket holds %d objects with %d rows; the manifest %d entries for %d records", objects, rows, len(segs), end)
			}
		})
	}
}

// TestFailedMergeLeavesNoObject: a merge whose manifest commit fails
// (the manifest changed under it: a real etcd conflict) deletes the merged
// object at once instead of leaving it beside its inputs.
func TestFailedMergeLeavesNoObject(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			var e *env
			conflicts := 0
			e = newEnv(t, st.bucket(t), func(c *Config) {
				c.Hooks = &Hooks{BeforeCommit: func(seg meta.TierSegment) error {
					if seg.Records == seg.LastOffset-seg.BaseOffset+1 && conflicts == 0 && e.part.TierSettings().TargetFileBytes > 0 {
						// Rewrite the merge's first input: its mod revision
						// moves, so the merge's transaction fails.
						cur, err := e.mc.TierSegments(testCtx(t), seg.Topic, seg.Partition)
						if err != nil {
							return err
						}
						for _, c := range cur {
							if c.BaseOffset == seg.BaseOffset {
								conflicts++
								_, err := e.mc.ReplaceTierSegments(testCtx(t), c.Topic, c.Partition, e.part.LeaderEpoch(), []meta.TierSegment{c}, &c)
								return err
							}
						}
					}
					return nil
				}}
			})
			e.produce(400)
			end := e.sealedEnd()
			ps := &partState{}
			if err := e.pass(ps); err != nil {
				t.Fatalf("upload pass: %v", err)
			}
			segs := e.checkManifest()
			var biggest int64
			for _, s := range segs {
				biggest = max(biggest, s.Size)
			}
			// A target of three files' size: a run of files reaching half of
			// it is merged at once, whatever its age.
			e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1, TargetFileBytes: 3 * biggest})
			err := e.pass(ps)
			if conflicts != 1 {
				t.Fatalf("the merge commit was not raced (%d conflicts), pass: %v", conflicts, err)
			}
			if err == nil {
				t.Fatal("a merge whose commit conflicted succeeded")
			}
			after := e.checkManifest()
			objects, rows := e.bucketRows()
			if objects != len(after) || rows != end {
				t.Fatalf("after the failed merge (%v) the bucket holds %d objects with %d rows; the manifest %d entries for %d records", err, objects, rows, len(after), end)
			}
		})
	}
}

// segmentAt appends about a segment of records with timestamps around ts
// and rolls: a segment with that age.
func (e *env) segmentAt(ts time.Time) {
	e.t.Helper()
	for i := 0; i < 4; i++ {
		recs, first, maxTs := randomRecords(e.r, 20, ts.UnixMilli())
		s := batchSpec{producerID: -1, producerEpoch: -1, baseSequence: -1, records: recs, firstTs: first, maxTs: maxTs}
		if _, err := e.part.log.Append(s.build(e.t, 0), nil, 0, time.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.part.log.Roll(); err != nil {
		e.t.Fatal(err)
	}
}

// TestTieringLeavesNoHole: with retention.ms, the tierer skips only an
// expired prefix; a back-dated segment between fresh ones is tiered, so
// the cold tier is contiguous and local retention never deletes it
// untiered.
func TestTieringLeavesNoHole(t *testing.T) {
	now := time.Now()
	fresh, old := now.Add(-time.Minute), now.Add(-48*time.Hour)
	for _, tc := range []struct {
		name    string
		ages    []time.Time
		skipped int // segments of the expired prefix left untiered
	}{
		{"back-dated between fresh ones", []time.Time{fresh, old, fresh}, 0},
		{"old prefix", []time.Time{old, old, fresh, old, fresh}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, localBucket(t), nil)
			e.part.set.Store(&Settings{Enabled: true, RetentionMs: time.Hour.Milliseconds(), RetentionBytes: -1})
			for _, ts := range tc.ages {
				e.segmentAt(ts)
			}
			locals := e.part.log.Segments()
			if err := e.pass(&partState{}); err != nil {
				t.Fatalf("pass: %v", err)
			}
			segs := e.checkManifest()
			start, end := locals[tc.skipped].BaseOffset, locals[len(tc.ages)-1].NextOffset
			if len(segs) == 0 || segs[0].BaseOffset != start || segs[len(segs)-1].LastOffset != end-1 {
				t.Fatalf("cold tier of %d entries, want [%d, %d) in one run", len(segs), start, end)
			}
		})
	}
}

// TestTierOnlyFsynced: the tierer takes only segments below both the high
// watermark and the fsynced offset: after a power loss the local log may
// reuse offsets it had not fsynced, and the cold tier must not hold the
// lost records under them.
func TestTierOnlyFsynced(t *testing.T) {
	e := newEnv(t, localBucket(t), nil)
	e.produce(400)
	locals := e.part.log.Segments()
	if len(locals) < 6 {
		t.Fatalf("only %d segments", len(locals))
	}
	synced := locals[3].BaseOffset + 1 // inside segment 3
	e.part.unsynced.Store(synced)
	ps := &partState{}
	if err := e.pass(ps); err != nil {
		t.Fatalf("pass: %v", err)
	}
	segs := e.checkManifest()
	if len(segs) == 0 || segs[len(segs)-1].LastOffset+1 != locals[2].NextOffset {
		t.Fatalf("with offsets fsynced below %d the cold tier ends at %d, want %d", synced, segs[len(segs)-1].LastOffset+1, locals[2].NextOffset)
	}
	e.part.unsynced.Store(0)
	if err := e.pass(ps); err != nil {
		t.Fatalf("pass: %v", err)
	}
	if segs := e.checkManifest(); segs[len(segs)-1].LastOffset+1 != e.sealedEnd() {
		t.Fatalf("once fsynced, the cold tier ends at %d, want %d", segs[len(segs)-1].LastOffset+1, e.sealedEnd())
	}
}
