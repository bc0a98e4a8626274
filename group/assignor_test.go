package group

import (
	"fmt"
	"reflect"
	"testing"
)

func subscribing(ids []string, topics ...string) []assignorMember {
	var out []assignorMember
	for _, id := range ids {
		m := assignorMember{id: id, topics: map[string]bool{}}
		for _, t := range topics {
			m.topics[t] = true
		}
		out = append(out, m)
	}
	return out
}

// checkAssignment: every subscribed partition has exactly one owner, and
// that owner subscribes to its topic.
func checkAssignment(t *testing.T, members []assignorMember, partitions map[string]int32, got map[string]Assignment) {
	t.Helper()
	owner := map[topicPartition]string{}
	for _, m := range members {
		for topic, ps := range got[m.id] {
			if !m.topics[topic] {
				t.Fatalf("%s got %s, which it does not subscribe to", m.id, topic)
			}
			for _, p := range ps {
				tp := topicPartition{topic, p}
				if o, dup := owner[tp]; dup {
					t.Fatalf("%s/%d assigned to %s and %s", topic, p, o, m.id)
				}
				owner[tp] = m.id
			}
		}
	}
	for topic, n := range partitions {
		subscribed := false
		for _, m := range members {
			subscribed = subscribed || m.topics[topic]
		}
		for p := int32(0); p < n; p++ {
			if _, ok := owner[topicPartition{topic, p}]; !ok && subscribed {
				t.Fatalf("%s/%d has no owner", topic, p)
			}
		}
	}
}

func counts(members []assignorMember, got map[string]Assignment) (lo, hi int) {
	lo = 1 << 30
	for _, m := range members {
		n := got[m.id].count()
		lo, hi = min(lo, n), max(hi, n)
	}
	return lo, hi
}

func TestUniformAssignor(t *testing.T) {
	ids := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("m%02d", i))
		}
		return out
	}
	cases := []struct {
		name       string
		members    []assignorMember
		partitions map[string]int32
		maxSpread  int
	}{
		{"one member", subscribing(ids(1), "a"), map[string]int32{"a": 6}, 0},
		{"three over six", subscribing(ids(3), "a"), map[string]int32{"a": 6}, 0},
		{"four over six", subscribing(ids(4), "a"), map[string]int32{"a": 6}, 1},
		{"ten over six", subscribing(ids(10), "a"), map[string]int32{"a": 6}, 1},
		{"two topics", subscribing(ids(4), "a", "b"), map[string]int32{"a": 3, "b": 5}, 0},
		{"no partitions", subscribing(ids(2), "a"), map[string]int32{}, 0},
		{"unsubscribed topic", subscribing(ids(2), "a"), map[string]int32{"a": 2, "z": 4}, 0},
		{"heterogeneous", append(subscribing([]string{"x"}, "a"), subscribing([]string{"y", "z"}, "a", "b")...), map[string]int32{"a": 4, "b": 4}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := uniformAssignor{}.assign(c.members, c.partitions, nil)
			checkAssignment(t, c.members, c.partitions, got)
			if lo, hi := counts(c.members, got); hi-lo > c.maxSpread {
				t.Fatalf("counts from %d to %d: %v", lo, hi, got)
			}
			// Deterministic: the same input, the same output.
			if again := (uniformAssignor{}).assign(c.members, c.partitions, nil); !reflect.DeepEqual(again, got) {
				t.Fatalf("two runs differ: %v and %v", got, again)
			}
		})
	}
}

// TestUniformAssignorSticky: a member joining takes partitions only from
// the others' surplus; the rest stay where they were.
func TestUniformAssignorSticky(t *testing.T) {
	parts := map[string]int32{"a": 6}
	two := subscribing([]string{"m1", "m2"}, "a")
	first := uniformAssignor{}.assign(two, parts, nil)
	three := subscribing([]string{"m0", "m1", "m2"}, "a")
	second := uniformAssignor{}.assign(three, parts, first)
	checkAssignment(t, three, parts, second)
	if lo, hi := counts(three, second); lo != 2 || hi != 2 {
		t.Fatalf("three members: %v", second)
	}
	moved := 0
	for _, id := range []string{"m1", "m2"} {
		for _, p := range first[id]["a"] {
			if !contains(second[id]["a"], p) {
				moved++
			}
		}
	}
	if moved != 2 {
		t.Fatalf("%d partitions moved, want 2 (only the new member's share): %v -> %v", moved, first, second)
	}
	// A member leaving: its partitions go to the others, nothing else moves.
	third := uniformAssignor{}.assign(two, parts, second)
	for _, id := range []string{"m1", "m2"} {
		for _, p := range second[id]["a"] {
			if !contains(third[id]["a"], p) {
				t.Fatalf("%s lost %d when m0 left: %v -> %v", id, p, second, third)
			}
		}
	}
}

func contains(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func TestRangeAssignor(t *testing.T) {
	cases := []struct {
		name       string
		members    []assignorMember
		partitions map[string]int32
		want       map[string]Assignment
	}{
		{"even", subscribing([]string{"a", "b"}, "t"), map[string]int32{"t": 4},
			map[string]Assignment{"a": {"t": {0, 1}}, "b": {"t": {2, 3}}}},
		{"first members take the extra", subscribing([]string{"a", "b", "c"}, "t"), map[string]int32{"t": 7},
			map[string]Assignment{"a": {"t": {0, 1, 2}}, "b": {"t": {3, 4}}, "c": {"t": {5, 6}}}},
		{"co-partitioned topics", subscribing([]string{"a", "b"}, "t", "u"), map[string]int32{"t": 2, "u": 2},
			map[string]Assignment{"a": {"t": {0}, "u": {0}}, "b": {"t": {1}, "u": {1}}}},
		{"more members than partitions", subscribing([]string{"a", "b", "c"}, "t"), map[string]int32{"t": 2},
			map[string]Assignment{"a": {"t": {0}}, "b": {"t": {1}}, "c": {}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rangeAssignor{}.assign(c.members, c.partitions, nil)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}
