package placement

import (
	"fmt"
	"slices"
	"testing"
)

// TestCoordinatorPlacementMovesOnlyAShare checks the property clients
// depend on when the broker set changes: only the groups of a broker that
// leaves move (to the others), and a broker that joins takes about its share
// and nothing moves between the brokers that stayed. A rebalance storm (most
// groups moving at once) is what hashing modulo the broker count does.
func TestCoordinatorPlacementMovesOnlyAShare(t *testing.T) {
	const groups = 10000
	names := make([]string, groups)
	for i := range names {
		names[i] = fmt.Sprintf("consumer-group-%d", i)
	}
	place := func(ids []int32) map[string]int32 {
		m := make(map[string]int32, groups)
		for _, n := range names {
			m[n] = Owner(n, ids)
		}
		return m
	}
	cases := []struct {
		name          string
		before, after []int32
		// joined is the broker that was added (0: none); left the one removed.
		joined, left int32
	}{
		{name: "3 -> 4 brokers", before: []int32{1, 2, 3}, after: []int32{1, 2, 3, 4}, joined: 4},
		{name: "4 -> 3 brokers", before: []int32{1, 2, 3, 4}, after: []int32{1, 3, 4}, left: 2},
		{name: "1 -> 2 brokers", before: []int32{7}, after: []int32{7, 9}, joined: 9},
		{name: "5 -> 4 brokers", before: []int32{1, 2, 3, 4, 5}, after: []int32{1, 2, 4, 5}, left: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, after := place(tc.before), place(tc.after)
			moved := 0
			for _, n := range names {
				if before[n] == after[n] {
					continue
				}
				moved++
				if tc.joined != 0 && after[n] != tc.joined {
					t.Fatalf("%s moved from %d to %d: only moves to the new broker %d are allowed", n, before[n], after[n], tc.joined)
				}
				if tc.left != 0 && before[n] != tc.left {
					t.Fatalf("%s moved from %d to %d though broker %d stayed", n, before[n], after[n], before[n])
				}
			}
			// The share that must move: what the new broker takes, or what
			// the broker that left had. Allow 20% either side.
			share := float64(groups) / float64(len(tc.after))
			if tc.left != 0 {
				share = float64(groups) / float64(len(tc.before))
			}
			if f := float64(moved); f < 0.8*share || f > 1.2*share {
				t.Fatalf("%d of %d groups moved; want about %.0f", moved, groups, share)
			}
		})
	}
}

// TestCoordinatorPlacementBalanced checks that each broker coordinates
// about its share of groups, whatever its id.
func TestCoordinatorPlacementBalanced(t *testing.T) {
	for _, ids := range [][]int32{{1, 2, 3}, {10, 20, 30, 40, 50}, {1, 2}, {100, 101, 102, 1000}} {
		count := map[int32]int{}
		const groups = 12000
		for i := 0; i < groups; i++ {
			count[Owner(fmt.Sprintf("g%d", i), ids)]++
		}
		want := float64(groups) / float64(len(ids))
		for _, id := range ids {
			if c := float64(count[id]); c < 0.85*want || c > 1.15*want {
				t.Errorf("brokers %v: broker %d coordinates %d groups, want about %.0f (%v)", ids, id, count[id], want, count)
			}
		}
	}
}

// TestOffsetsPartition checks Kafka's mapping against Java's
// String.hashCode values ("abc" hashes to 96354, "polygenelubricants" to
// MinInt32, which Kafka's abs maps to 0).
func TestOffsetsPartition(t *testing.T) {
	for _, c := range []struct {
		group string
		want  int32
	}{
		{"", 0},
		{"abc", 96354 % 50},
		{"polygenelubricants", 0},
		{"Aa", 2112 % 50},
		{"BB", 2112 % 50},
	} {
		if got := OffsetsPartition(c.group, 50); got != c.want {
			t.Errorf("OffsetsPartition(%q) = %d, want %d", c.group, got, c.want)
		}
	}
}

func TestLive(t *testing.T) {
	for _, tc := range []struct {
		live []int32
		self int32
		want []int32
	}{
		{nil, 3, []int32{3}},
		{[]int32{}, 1, []int32{1}},
		{[]int32{3, 1, 2, 1}, 1, []int32{1, 2, 3}},
		{[]int32{2}, 1, []int32{2}}, // self not yet registered: not added
	} {
		in := slices.Clone(tc.live)
		if got := Live(tc.live, tc.self); !slices.Equal(got, tc.want) {
			t.Errorf("Live(%v, %d) = %v, want %v", tc.live, tc.self, got, tc.want)
		}
		if !slices.Equal(in, tc.live) {
			t.Errorf("Live changed its input: %v -> %v", in, tc.live)
		}
	}
}
