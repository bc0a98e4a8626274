package hotlog

import (
	"errors"
	"testing"
	"time"
)

// TestAdvanceLogStart: DeleteRecords' effect on the hot log. Segments of 8
// offsets (4 batches of 2): [0,8) [8,16) [16,24) [24,32) [32,40), active
// [40,48).
func TestAdvanceLogStart(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		offsets   []int64 // advanced in turn
		wantStart int64
		deleted   int   // segments deleted in all
		firstBase int64 // the first remaining segment's base
	}{
		{"inside the first segment", []int64{3}, 3, 0, 0},
		{"a segment boundary", []int64{16}, 16, 2, 16},
		{"straddling", []int64{19}, 19, 2, 16},
		{"never backwards", []int64{19, 5}, 19, 2, 16},
		{"into the active segment", []int64{44}, 44, 5, 40},
		{"clamped to the log end", []int64{1000}, 48, 5, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := segmentedLog(t, 5, base)
			defer l.Close()
			deleted := 0
			for _, off := range tt.offsets {
				n, err := l.AdvanceLogStart(off)
				if err != nil {
					t.Fatal(err)
				}
				deleted += n
			}
			if got := l.LogStartOffset(); got != tt.wantStart {
				t.Fatalf("log start %d, want %d", got, tt.wantStart)
			}
			if deleted != tt.deleted {
				t.Fatalf("%d segments deleted, want %d", deleted, tt.deleted)
			}
			if got := l.Segments()[0].BaseOffset; got != tt.firstBase {
				t.Fatalf("first segment %d, want %d", got, tt.firstBase)
			}
			if tt.wantStart > 0 {
				if _, err := l.Read(tt.wantStart-1, l.LogEndOffset(), 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("read below the log start: %v, want ErrOffsetOutOfRange", err)
				}
			}
			if tt.wantStart < l.LogEndOffset() {
				got, err := l.Read(tt.wantStart, l.LogEndOffset(), 1<<20, true)
				if err != nil {
					t.Fatal(err)
				}
				hs := headersOf(t, got)
				if first := hs[0]; first.BaseOffset > tt.wantStart || first.LastOffset() < tt.wantStart {
					t.Fatalf("read from %d starts with batch [%d, %d]", tt.wantStart, first.BaseOffset, first.LastOffset())
				}
			}
			// Retention after the advance keeps the higher start.
			if _, err := l.EnforceRetention(base, nil); err != nil {
				t.Fatal(err)
			}
			if got := l.LogStartOffset(); got != tt.wantStart {
				t.Fatalf("log start after a retention pass %d, want %d", got, tt.wantStart)
			}
		})
	}
}

// TestAdvanceLogStartThenTruncate: a truncation below the advanced start
// (a follower's divergence fix) brings the start down with the log end.
func TestAdvanceLogStartThenTruncate(t *testing.T) {
	l, _ := segmentedLog(t, 2, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	defer l.Close()
	if _, err := l.AdvanceLogStart(20); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(18); err != nil {
		t.Fatal(err)
	}
	if s, e := l.LogStartOffset(), l.LogEndOffset(); s > e {
		t.Fatalf("log start %d beyond log end %d", s, e)
	}
}
