package group

import (
	"slices"
	"sort"
)

// Server-side assignors of the KIP-848 consumer protocol. The coordinator
// computes each member's target assignment with the assignor the members
// ask for (server_assignor; the most asked-for one wins, uniform when none
// is asked for), as Kafka's group.consumer.assignors does.

// Assignment is a set of partitions by topic name, each list sorted.
type Assignment map[string][]int32

// assignorMember is one member as an assignor sees it.
type assignorMember struct {
	id     string
	topics map[string]bool // resolved subscription
}

// assignor computes a target assignment. partitions is the partition count
// of every subscribed topic; previous is the target assignment it replaces
// (by member id), which sticky assignors keep as far as balance allows.
type assignor interface {
	name() string
	assign(members []assignorMember, partitions map[string]int32, previous map[string]Assignment) map[string]Assignment
}

const (
	uniformAssignorName = "uniform"
	rangeAssignorName   = "range"
)

// assignors are the server-side assignors, the default first.
var assignors = []assignor{uniformAssignor{}, rangeAssignor{}}

func assignorByName(name string) assignor {
	for _, a := range assignors {
		if a.name() == name {
			return a
		}
	}
	return nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// uniformAssignor spreads every subscribed partition over the members that
// subscribe to its topic so that no eligible member has two partitions more
// than another, and keeps each member's previous partitions as far as that
// balance allows (Kafka's UniformAssignor: sticky and balanced).
type uniformAssignor struct{}

func (uniformAssignor) name() string { return uniformAssignorName }

func (uniformAssignor) assign(members []assignorMember, partitions map[string]int32, previous map[string]Assignment) map[string]Assignment {
	members = sortedMembers(members)
	owner := map[topicPartition]int{} // partition -> index into members
	counts := make([]int, len(members))
	eligible := func(i int, tp topicPartition) bool { return members[i].topics[tp.topic] }

	// Every partition and the members that may take it.
	var all []topicPartition
	for _, t := range sortedKeys(partitions) {
		for p := int32(0); p < partitions[t]; p++ {
			all = append(all, topicPartition{t, p})
		}
	}
	// Keep previous partitions that are still valid, up to the ceiling of
	// the member's share; the rebalancing pass below evens out the rest.
	total := len(all)
	ceil := 1
	if len(members) > 0 {
		ceil = (total + len(members) - 1) / len(members)
	}
	for i, m := range members {
		prev := previous[m.id]
		for _, t := range sortedKeys(prev) {
			for _, p := range prev[t] {
				tp := topicPartition{t, p}
				if p >= partitions[t] || !eligible(i, tp) || counts[i] >= ceil {
					continue
				}
				if _, taken := owner[tp]; taken {
					continue
				}
				owner[tp] = i
				counts[i]++
			}
		}
	}
	// Partitions without an owner go to the eligible member with the
	// fewest (ties: the first by member id).
	for _, tp := range all {
		if _, ok := owner[tp]; ok {
			continue
		}
		best := -1
		for i := range members {
			if eligible(i, tp) && (best < 0 || counts[i] < counts[best]) {
				best = i
			}
		}
		if best >= 0 {
			owner[tp] = best
			counts[best]++
		}
	}
	// Even out: move a partition from a member to an eligible member with
	// at least two fewer, until none can move. Each move lowers the sum of
	// squared counts, so this ends.
	for moved := true; moved; {
		moved = false
		for _, tp := range all {
			from, ok := owner[tp]
			if !ok {
				continue
			}
			for to := range members {
				if to != from && eligible(to, tp) && counts[to]+1 < counts[from] {
					owner[tp] = to
					counts[from]--
					counts[to]++
					moved = true
					break
				}
			}
		}
	}
	return collect(members, owner)
}

// rangeAssignor gives each member, per topic, a contiguous range of
// partitions: the members subscribing to the topic in member-id order, the
// first P mod N of them one partition more (Kafka's RangeAssignor; with
// the same subscription, partition i of co-partitioned topics lands on one
// member).
type rangeAssignor struct{}

func (rangeAssignor) name() string { return rangeAssignorName }

func (rangeAssignor) assign(members []assignorMember, partitions map[string]int32, _ map[string]Assignment) map[string]Assignment {
	members = sortedMembers(members)
	owner := map[topicPartition]int{}
	for _, t := range sortedKeys(partitions) {
		var subs []int
		for i, m := range members {
			if m.topics[t] {
				subs = append(subs, i)
			}
		}
		if len(subs) == 0 {
			continue
		}
		n := int(partitions[t])
		per, extra := n/len(subs), n%len(subs)
		p := 0
		for k, i := range subs {
			take := per
			if k < extra {
				take++
			}
			for j := 0; j < take; j++ {
				owner[topicPartition{t, int32(p)}] = i
				p++
			}
		}
	}
	return collect(members, owner)
}

func sortedMembers(members []assignorMember) []assignorMember {
	out := slices.Clone(members)
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// collect turns partition owners into one assignment per member (every
// member present, possibly empty).
func collect(members []assignorMember, owner map[topicPartition]int) map[string]Assignment {
	out := make(map[string]Assignment, len(members))
	for _, m := range members {
		out[m.id] = Assignment{}
	}
	for tp, i := range owner {
		a := out[members[i].id]
		a[tp.topic] = append(a[tp.topic], tp.partition)
	}
	for _, a := range out {
		for t := range a {
			slices.Sort(a[t])
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
