package tiering

import (
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
)

// TestMergeGroupBound: a merge replaces at most what one fenced manifest
// write can (etcd's default of 128 operations per transaction), however
// many small files would fit the target.
func TestMergeGroupBound(t *testing.T) {
	tr := &Tier{cfg: Config{MergeMinAge: time.Hour}}
	var segs []meta.TierSegment
	for i := range int64(300) {
		segs = append(segs, meta.TierSegment{BaseOffset: i * 10, LastOffset: i*10 + 9, Size: 1, UploadedAt: 1})
	}
	tests := []struct {
		name   string
		target int64
		want   int
	}{
		{"all fit the target", 1 << 20, meta.MaxTierSegmentsPerWrite},
		{"target smaller than the bound", 50, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tr.mergeGroup(segs, tt.target)
			if len(got) != tt.want || got[0].BaseOffset != 0 {
				t.Fatalf("merge group of %d starting at %v, want %d from 0", len(got), got[0].BaseOffset, tt.want)
			}
		})
	}
}
