package broker

import "testing"

func TestTruncationPoint(t *testing.T) {
	tests := []struct {
		name              string
		leo, hw           int64
		leaderEpoch       int32
		leaderEnd, ourEnd int64
		want              int64
	}{
		// We led epoch 4 and wrote 100..109 that nobody copied; the new
		// leader's epoch 4 ended at 100.
		{"divergent tail of an old leader", 110, 100, 4, 100, 110, 100},
		{"logs agree", 110, 110, 4, 110, 110, 110},
		{"leader has more of our epoch", 90, 90, 4, 120, 90, 90},
		// The leader's newest epoch <= ours is 3, ending at 80; our epoch 3
		// ended at 85 (we then wrote epoch 4 from 85).
		{"leader answers an older epoch", 110, 80, 3, 80, 85, 80},
		{"our epoch 3 ended first", 110, 70, 3, 90, 75, 75},
		{"leader knows no epoch that old: keep the committed prefix", 110, 60, -1, -1, -1, 60},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := truncationPoint(tc.leo, tc.hw, tc.leaderEpoch, tc.leaderEnd, tc.ourEnd); got != tc.want {
				t.Fatalf("truncate to %d, want %d", got, tc.want)
			}
		})
	}
}
