package group

import (
	"maps"
	"slices"
)

// Incremental reconciliation of the KIP-848 consumer protocol: how a
// member moves from the partitions it owns to its target assignment
// without any partition being owned by two members at once. A member
// first gives up (revokes) what its target no longer holds, staying at its
// epoch; once its heartbeat reports them gone it advances to the target's
// epoch and gets the target's partitions that nobody else owns; those
// still owned by another member (not yet revoked there) follow on a later
// heartbeat, once released (Kafka's CurrentAssignmentBuilder).

// memberState is a member's reconciliation state.
type memberState string

const (
	// stateStable: the member has its whole target (at the target epoch).
	stateStable memberState = "stable"
	// stateUnrevoked: the member must revoke PendingRevocation before it
	// advances.
	stateUnrevoked memberState = "unrevoked_partitions"
	// stateUnreleased: the member is at the target epoch but part of its
	// target is still owned by other members.
	stateUnreleased memberState = "unreleased_partitions"
)

// reconciliation is the part of a member that reconciliation changes.
type reconciliation struct {
	State             memberState
	Epoch             int32
	PreviousEpoch     int32
	Assigned          Assignment
	PendingRevocation Assignment
}

// reconcile returns the member's next reconciliation state towards target
// (the target assignment at targetEpoch). owned is what the member's
// heartbeat reports it owns, nil when not reported. ownedByOther reports
// whether another member owns (or still revokes) a partition.
func reconcile(cur reconciliation, targetEpoch int32, target Assignment, owned Assignment, ownedByOther func(topic string, p int32) bool) reconciliation {
	switch cur.State {
	case stateUnrevoked:
		if ownsAny(owned, cur.PendingRevocation) {
			return cur // still revoking
		}
		return nextAssignment(cur, targetEpoch, target, owned, ownedByOther)
	case stateUnreleased:
		return nextAssignment(cur, targetEpoch, target, owned, ownedByOther)
	default:
		if cur.Epoch != targetEpoch {
			return nextAssignment(cur, targetEpoch, target, owned, ownedByOther)
		}
		return cur
	}
}

// nextAssignment is one step from the member's assigned partitions to
// target.
func nextAssignment(cur reconciliation, targetEpoch int32, target Assignment, owned Assignment, ownedByOther func(string, int32) bool) reconciliation {
	kept, revoke, add := Assignment{}, Assignment{}, Assignment{}
	unreleased := false
	topics := map[string]bool{}
	for t := range cur.Assigned {
		topics[t] = true
	}
	for t := range target {
		topics[t] = true
	}
	for t := range topics {
		want := target[t]
		for _, p := range cur.Assigned[t] {
			if slices.Contains(want, p) {
				kept[t] = append(kept[t], p)
			} else {
				revoke[t] = append(revoke[t], p)
			}
		}
		for _, p := range want {
			if slices.Contains(cur.Assigned[t], p) {
				continue
			}
			if ownedByOther(t, p) {
				unreleased = true
				continue
			}
			add[t] = append(add[t], p)
		}
	}
	next := reconciliation{PreviousEpoch: cur.Epoch, PendingRevocation: Assignment{}}
	if len(revoke) > 0 && ownsAny(owned, revoke) {
		// Revoke first, at the current epoch; nothing new until then.
		next.State, next.Epoch = stateUnrevoked, cur.Epoch
		next.PreviousEpoch = cur.PreviousEpoch
		next.Assigned, next.PendingRevocation = kept, revoke
		return normalize(next)
	}
	for t, ps := range add {
		kept[t] = append(kept[t], ps...)
	}
	next.Epoch, next.Assigned = targetEpoch, kept
	next.State = stateStable
	if unreleased {
		next.State = stateUnreleased
	}
	if next.Epoch == cur.Epoch {
		next.PreviousEpoch = cur.PreviousEpoch
	}
	return normalize(next)
}

// ownsAny reports whether owned (nil: not reported, so assumed to still
// hold everything) holds any partition of parts.
func ownsAny(owned, parts Assignment) bool {
	if len(parts) == 0 {
		return false
	}
	if owned == nil {
		return true
	}
	for t, ps := range parts {
		for _, p := range ps {
			if slices.Contains(owned[t], p) {
				return true
			}
		}
	}
	return false
}

// normalize sorts every list and drops empty topics.
func normalize(r reconciliation) reconciliation {
	r.Assigned = r.Assigned.normalized()
	r.PendingRevocation = r.PendingRevocation.normalized()
	return r
}

func (a Assignment) normalized() Assignment {
	out := Assignment{}
	for t, ps := range a {
		if len(ps) == 0 {
			continue
		}
		c := slices.Clone(ps)
		slices.Sort(c)
		out[t] = slices.Compact(c)
	}
	return out
}

// equal reports whether a and b hold the same partitions.
func (a Assignment) equal(b Assignment) bool {
	return maps.EqualFunc(a.normalized(), b.normalized(), slices.Equal[[]int32])
}

// subsetOf reports whether every partition of a is in b.
func (a Assignment) subsetOf(b Assignment) bool {
	for t, ps := range a {
		for _, p := range ps {
			if !slices.Contains(b[t], p) {
				return false
			}
		}
	}
	return true
}

func (a Assignment) clone() Assignment {
	out := make(Assignment, len(a))
	for t, ps := range a {
		out[t] = slices.Clone(ps)
	}
	return out
}

func (a Assignment) count() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}
