package broker

import (
	"fmt"
	"testing"

	"github.com/stratalog/strata/meta"
)

func TestElectLeader(t *testing.T) {
	st := func(leader, epoch int32, replicas, isr []int32) meta.PartitionState {
		return meta.PartitionState{Leader: leader, LeaderEpoch: epoch, Replicas: replicas, ISR: isr}
	}
	alive := func(ids ...int32) map[int32]bool {
		m := map[int32]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	tests := []struct {
		name    string
		in      meta.PartitionState
		live    map[int32]bool
		want    meta.PartitionState
		changed bool
	}{
		{"all alive", st(1, 3, []int32{1, 2, 3}, []int32{1, 2, 3}), alive(1, 2, 3), st(1, 3, []int32{1, 2, 3}, []int32{1, 2, 3}), false},
		{"leader dies: first live ISR member in replica order", st(1, 3, []int32{1, 2, 3}, []int32{1, 3, 2}), alive(2, 3), st(2, 4, []int32{1, 2, 3}, []int32{3, 2}), true},
		{"out-of-sync replica never leads", st(1, 3, []int32{1, 2, 3}, []int32{1, 3}), alive(2, 3), st(3, 4, []int32{1, 2, 3}, []int32{3}), true},
		{"no live ISR member: offline, ISR kept", st(1, 3, []int32{1, 2, 3}, []int32{1}), alive(2, 3), st(-1, 4, []int32{1, 2, 3}, []int32{1}), true},
		{"offline stays offline", st(-1, 4, []int32{1, 2, 3}, []int32{1}), alive(2, 3), st(-1, 4, []int32{1, 2, 3}, []int32{1}), false},
		{"ISR member returns: elected", st(-1, 4, []int32{1, 2, 3}, []int32{1}), alive(1, 3), st(1, 5, []int32{1, 2, 3}, []int32{1}), true},
		{"dead follower leaves the ISR", st(1, 3, []int32{1, 2, 3}, []int32{1, 2, 3}), alive(1, 2), st(1, 3, []int32{1, 2, 3}, []int32{1, 2}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := electLeader(tc.in, tc.live)
			if changed != tc.changed || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %+v (changed %v), want %+v (changed %v)", got, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestCompleteReassignment(t *testing.T) {
	tests := []struct {
		name string
		in   meta.PartitionState
		want meta.PartitionState
		done bool
	}{
		{
			"added replica not yet in sync",
			meta.PartitionState{Leader: 1, LeaderEpoch: 2, Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, AddingReplicas: []int32{2, 3}, RemovingReplicas: []int32{1}},
			meta.PartitionState{}, false,
		},
		{
			"all in sync, leader removed: first target replica in the ISR leads, new epoch",
			meta.PartitionState{Leader: 1, LeaderEpoch: 2, Replicas: []int32{2, 3, 1}, ISR: []int32{1, 3, 2}, AddingReplicas: []int32{2, 3}, RemovingReplicas: []int32{1}},
			meta.PartitionState{Leader: 2, LeaderEpoch: 3, Replicas: []int32{2, 3}, ISR: []int32{3, 2}}, true,
		},
		{
			"leader kept: same epoch",
			meta.PartitionState{Leader: 2, LeaderEpoch: 2, Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2, 3}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}},
			meta.PartitionState{Leader: 2, LeaderEpoch: 2, Replicas: []int32{2, 3}, ISR: []int32{2, 3}}, true,
		},
		{
			"no reassignment",
			meta.PartitionState{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
			meta.PartitionState{}, false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, done := completeReassignment(tc.in)
			if done != tc.done {
				t.Fatalf("done %v, want %v", done, tc.done)
			}
			if done && fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
