package tiering

import (
	"testing"
	"time"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
)

// waitManifest waits until ok accepts the partition's manifest, then
// checks its invariants (not before: objects of entries being dropped go
// right after their entries).
func (e *env) waitManifest(within time.Duration, ok func([]meta.TierSegment) bool) []meta.TierSegment {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		segs, err := e.mc.TierSegments(testCtx(e.t), e.part.topic, 0)
		if err == nil && ok(segs) {
			return e.checkManifest()
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("manifest not as expected: %d entries", len(segs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeleteRecordsDropsTieredFiles: once the partition's DeleteRecords
// start passes tiered files, the tierer drops exactly the files wholly
// below it (a prefix; the straddling file stays) without waiting for a
// retention setting.
func TestDeleteRecordsDropsTieredFiles(t *testing.T) {
	e := newEnv(t, localBucket(t), nil)
	e.produce(400)
	e.start()
	end := e.sealedEnd()
	e.waitTiered(end, 60*time.Second)
	before := e.checkManifest()
	if len(before) < 4 {
		t.Fatalf("%d tiered files, want at least 4", len(before))
	}
	straddler := before[2]
	floor := straddler.BaseOffset + (straddler.LastOffset-straddler.BaseOffset)/2 + 1
	e.part.deletedBefore.Store(floor)
	after := e.waitManifest(30*time.Second, func(segs []meta.TierSegment) bool {
		return len(segs) > 0 && segs[0].BaseOffset != before[0].BaseOffset
	})
	if after[0].BaseOffset != straddler.BaseOffset || after[0].Object != straddler.Object {
		t.Fatalf("first file after the delete [%d, %d], want the straddling [%d, %d]",
			after[0].BaseOffset, after[0].LastOffset, straddler.BaseOffset, straddler.LastOffset)
	}
	if len(after) != len(before)-2 || after[len(after)-1].LastOffset != end-1 {
		t.Fatalf("%d files ending at %d, want %d ending at %d", len(after), after[len(after)-1].LastOffset, len(before)-2, end-1)
	}
}

// TestDeleteRecordsBeforeTiering: records deleted before they were tiered
// are never uploaded: the first file starts at the DeleteRecords start,
// inside a local segment, and reads from there match what was produced.
func TestDeleteRecordsBeforeTiering(t *testing.T) {
	e := newEnv(t, localBucket(t), nil)
	e.produce(400)
	segs := e.part.log.Segments()
	if len(segs) < 4 {
		t.Fatalf("%d local segments, want at least 4", len(segs))
	}
	// A record inside the third segment, not a batch boundary at best.
	floor := segs[2].BaseOffset + (segs[2].NextOffset-segs[2].BaseOffset)/2 + 1
	if _, err := e.part.log.AdvanceLogStart(floor); err != nil {
		t.Fatal(err)
	}
	e.part.deletedBefore.Store(floor)
	e.start()
	end := e.sealedEnd()
	e.waitTiered(end, 60*time.Second)
	got := e.checkManifest()
	if got[0].BaseOffset != floor {
		t.Fatalf("first tiered offset %d, want the DeleteRecords start %d", got[0].BaseOffset, floor)
	}
	e.readCold(floor, end, 8<<10)
}

// TestDeleteRecordsPastTheColdTier: the log start moves past everything
// tiered, into local segments not tiered yet: every tiered file goes, and
// tiering goes on from the log start (no gap is reported), its first file
// starting there.
func TestDeleteRecordsPastTheColdTier(t *testing.T) {
	e := newEnv(t, localBucket(t), nil)
	e.produce(200)
	e.start()
	e.waitTiered(e.sealedEnd(), 60*time.Second)
	// Tiering paused: everything sealed so far is tiered, so a job still
	// under way has nothing left to upload.
	e.part.set.Store(&Settings{Enabled: false, RetentionMs: -1, RetentionBytes: -1})
	tiered := e.checkManifest()
	coldEnd := tiered[len(tiered)-1].LastOffset + 1
	e.produce(200)
	var straddler *hotlog.SegmentInfo
	for _, s := range e.part.log.Segments() {
		if s.Sealed && s.BaseOffset > coldEnd {
			straddler = &s
			break
		}
	}
	if straddler == nil {
		t.Fatal("no sealed local segment past the cold tier")
	}
	floor := straddler.BaseOffset + (straddler.NextOffset-straddler.BaseOffset)/2
	if _, err := e.part.log.AdvanceLogStart(floor); err != nil {
		t.Fatal(err)
	}
	e.part.deletedBefore.Store(floor)
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1})
	end := e.sealedEnd()
	got := e.waitManifest(60*time.Second, func(segs []meta.TierSegment) bool {
		return len(segs) > 0 && segs[0].BaseOffset == floor && segs[len(segs)-1].LastOffset+1 == end
	})
	if got[0].BaseOffset != floor {
		t.Fatalf("first tiered offset %d, want %d", got[0].BaseOffset, floor)
	}
	e.readCold(floor, end, 8<<10)
}
