package meta

import (
	"errors"
	"testing"
	"time"
)

func tierSeg(topic string, p int32, base, last int64) TierSegment {
	return TierSegment{Topic: topic, Partition: p, BaseOffset: base, LastOffset: last, Records: last - base + 1,
		Object: "topic=" + topic + "/x", Size: 100, LogBytes: 1000, Format: 1}
}

func TestTierManifest(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "tt", Partitions: 2}, states("tt", 0, 2)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []TierSegment{tierSeg("tt", 0, 0, 9), tierSeg("tt", 0, 10, 19), tierSeg("tt", 0, 20, 29), tierSeg("tt", 1, 0, 4)} {
		if _, err := c.AddTierSegment(ctx, s, 0); err != nil {
			t.Fatalf("add %+v: %v", s, err)
		}
	}
	if _, err := c.AddTierSegment(ctx, tierSeg("tt", 0, 10, 19), 0); !errors.Is(err, ErrConflict) {
		t.Errorf("adding an existing entry: %v, want ErrConflict", err)
	}
	if _, err := c.AddTierSegment(ctx, tierSeg("tt", 0, 30, 39), 1); !errors.Is(err, ErrFenced) {
		t.Errorf("add with a wrong epoch: %v, want ErrFenced", err)
	}
	if _, err := c.AddTierSegment(ctx, tierSeg("tt", 0, 30, 29), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("add with last < base: %v, want ErrInvalid", err)
	}
	segs, err := c.TierSegments(ctx, "tt", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 3 || segs[0].BaseOffset != 0 || segs[2].LastOffset != 29 || segs[1].Revision == 0 || segs[1].UploadedAt == 0 {
		t.Fatalf("manifest of tt-0: %+v", segs)
	}

	// Merge the first two into one entry at base 0 (the key is reused).
	merged := tierSeg("tt", 0, 0, 19)
	if _, err := c.ReplaceTierSegments(ctx, "tt", 0, 0, segs[:2], &merged); err != nil {
		t.Fatalf("merge: %v", err)
	}
	// The same replacement again works on stale revisions: conflict.
	if _, err := c.ReplaceTierSegments(ctx, "tt", 0, 0, segs[:2], &merged); !errors.Is(err, ErrConflict) {
		t.Errorf("replace with stale revisions: %v, want ErrConflict", err)
	}
	segs, _ = c.TierSegments(ctx, "tt", 0)
	if len(segs) != 2 || segs[0].LastOffset != 19 || segs[1].BaseOffset != 20 {
		t.Fatalf("after merge: %+v", segs)
	}
	// Retention removes the oldest.
	if _, err := c.ReplaceTierSegments(ctx, "tt", 0, 0, segs[:1], nil); err != nil {
		t.Fatal(err)
	}
	segs, _ = c.TierSegments(ctx, "tt", 0)
	if len(segs) != 1 || segs[0].BaseOffset != 20 {
		t.Fatalf("after retention: %+v", segs)
	}

	// A new leader epoch fences the old leader's writes.
	ps, _ := c.PartitionStates(ctx, "tt")
	ps[0].LeaderEpoch = 1
	if err := c.UpdatePartitionState(ctx, ps[0], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReplaceTierSegments(ctx, "tt", 0, 0, segs, nil); !errors.Is(err, ErrFenced) {
		t.Errorf("stale leader's delete: %v, want ErrFenced", err)
	}
	if _, err := c.AddTierSegment(ctx, tierSeg("tt", 0, 30, 39), 1); err != nil {
		t.Errorf("new leader's add: %v", err)
	}

	// Deleting the topic takes the manifest with it.
	if err := c.DeleteTopic(ctx, "tt"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		if segs, err := c.TierSegments(ctx, "tt", p); err != nil || len(segs) != 0 {
			t.Errorf("manifest of deleted topic partition %d: %v %v", p, segs, err)
		}
	}
	if _, err := c.AddTierSegment(ctx, tierSeg("tt", 0, 40, 49), 1); !errors.Is(err, ErrFenced) || !errors.Is(err, ErrTopicNotFound) {
		t.Errorf("add to deleted topic: %v", err)
	}
}

func TestWatchTier(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "wt", Partitions: 3}, states("wt", 0, 3)); err != nil {
		t.Fatal(err)
	}
	ch := c.WatchTier(ctx)
	next := func() TierChange {
		t.Helper()
		select {
		case tc, ok := <-ch:
			if !ok {
				t.Fatal("watch closed")
			}
			return tc
		case <-time.After(10 * time.Second):
			t.Fatal("no tier change")
		}
		return TierChange{}
	}
	if tc := next(); !tc.Reset {
		t.Fatalf("first event %+v, want Reset", tc)
	}
	if _, err := c.AddTierSegment(ctx, tierSeg("wt", 2, 0, 9), 0); err != nil {
		t.Fatal(err)
	}
	if tc := next(); tc.Reset || tc.Topic != "wt" || tc.Partition != 2 {
		t.Fatalf("event %+v, want wt-2", tc)
	}
	segs, _ := c.TierSegments(ctx, "wt", 2)
	if _, err := c.ReplaceTierSegments(ctx, "wt", 2, 0, segs, nil); err != nil {
		t.Fatal(err)
	}
	if tc := next(); tc.Topic != "wt" || tc.Partition != 2 {
		t.Fatalf("event %+v, want wt-2 (delete)", tc)
	}
}

// TestTierManifestContiguity: manifest writes keep the entries one
// contiguous run: a new entry starts exactly at the previous end and
// overlaps nothing, a merge covers exactly what it replaces, and removals
// take a prefix. Anything else is refused (ErrInvalid) and changes nothing.
func TestTierManifestContiguity(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "tc", Partitions: 1}, states("tc", 0, 1)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []TierSegment{tierSeg("tc", 0, 0, 9), tierSeg("tc", 0, 10, 19), tierSeg("tc", 0, 20, 29)} {
		if _, err := c.AddTierSegment(ctx, s, 0); err != nil {
			t.Fatalf("add %d: %v", s.BaseOffset, err)
		}
	}
	segs, err := c.TierSegments(ctx, "tc", 0)
	if err != nil {
		t.Fatal(err)
	}
	seg := func(b, l int64) *TierSegment { s := tierSeg("tc", 0, b, l); return &s }
	for _, tc := range []struct {
		name string
		old  []TierSegment
		add  *TierSegment
	}{
		{"gap after the end", nil, seg(40, 49)},
		{"overlaps the last", nil, seg(25, 34)},
		{"starts inside an entry", nil, seg(5, 14)},
		{"merge that loses offsets", segs[:2], seg(0, 18)},
		{"merge that overlaps the next", segs[:1], seg(0, 12)},
		{"removal that opens a hole", segs[1:2], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.ReplaceTierSegments(ctx, "tc", 0, 0, tc.old, tc.add); !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v, want ErrInvalid", err)
			}
			if now, _ := c.TierSegments(ctx, "tc", 0); len(now) != 3 || now[2].LastOffset != 29 {
				t.Fatalf("manifest changed: %+v", now)
			}
		})
	}
	if _, err := c.AddTierSegment(ctx, tierSeg("tc", 0, 30, 39), 0); err != nil {
		t.Fatalf("contiguous add: %v", err)
	}
	if _, err := c.ReplaceTierSegments(ctx, "tc", 0, 0, segs[:2], seg(0, 19)); err != nil {
		t.Fatalf("exact merge: %v", err)
	}
	segs, _ = c.TierSegments(ctx, "tc", 0)
	if _, err := c.ReplaceTierSegments(ctx, "tc", 0, 0, segs[:2], nil); err != nil {
		t.Fatalf("removal of a prefix: %v", err)
	}
	if segs, _ = c.TierSegments(ctx, "tc", 0); len(segs) != 1 || segs[0].BaseOffset != 30 {
		t.Fatalf("manifest %+v, want [30, 39]", segs)
	}
	// Once empty, the next entry may start anywhere (retention took all).
	if _, err := c.ReplaceTierSegments(ctx, "tc", 0, 0, segs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTierSegment(ctx, tierSeg("tc", 0, 100, 109), 0); err != nil {
		t.Fatalf("first entry of an empty manifest: %v", err)
	}
}
