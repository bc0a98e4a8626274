package group

import (
	"reflect"
	"testing"
)

func TestReconcile(t *testing.T) {
	nobody := func(string, int32) bool { return false }
	ownedBy := func(parts ...int32) func(string, int32) bool {
		return func(_ string, p int32) bool { return contains(parts, p) }
	}
	stable := func(epoch int32, ps ...int32) reconciliation {
		return reconciliation{State: stateStable, Epoch: epoch, PreviousEpoch: epoch - 1, Assigned: Assignment{"t": ps}.normalized(), PendingRevocation: Assignment{}}
	}
	cases := []struct {
		name        string
		cur         reconciliation
		targetEpoch int32
		target      Assignment
		owned       Assignment
		others      func(string, int32) bool
		want        reconciliation
	}{
		{"at the target: nothing to do", stable(3, 0, 1), 3, Assignment{"t": {0, 1}}, nil, nobody, stable(3, 0, 1)},
		{"new epoch, only gains: straight to it", stable(3, 0), 4, Assignment{"t": {0, 1}}, nil, nobody,
			reconciliation{State: stateStable, Epoch: 4, PreviousEpoch: 3, Assigned: Assignment{"t": {0, 1}}, PendingRevocation: Assignment{}}},
		{"new epoch, a loss: revoke first at the old epoch", stable(3, 0, 1, 2), 4, Assignment{"t": {0, 3}}, nil, nobody,
			reconciliation{State: stateUnrevoked, Epoch: 3, PreviousEpoch: 2, Assigned: Assignment{"t": {0}}, PendingRevocation: Assignment{"t": {1, 2}}}},
		{"loss the member already reported gone: no wait", stable(3, 0, 1), 4, Assignment{"t": {0}}, Assignment{"t": {0}}, nobody,
			reconciliation{State: stateStable, Epoch: 4, PreviousEpoch: 3, Assigned: Assignment{"t": {0}}, PendingRevocation: Assignment{}}},
		{"still revoking (owned not reported)",
			reconciliation{State: stateUnrevoked, Epoch: 3, PreviousEpoch: 2, Assigned: Assignment{"t": {0}}, PendingRevocation: Assignment{"t": {1}}},
			4, Assignment{"t": {0, 3}}, nil, nobody,
			reconciliation{State: stateUnrevoked, Epoch: 3, PreviousEpoch: 2, Assigned: Assignment{"t": {0}}, PendingRevocation: Assignment{"t": {1}}}},
		{"still revoking (owned still holds it)",
			reconciliation{State: stateUnrevoked, Epoch: 3, PreviousEpoch: 2, Assigned: Assignment{"t": {0}}, PendingRevocation: Assignment{"t": {1}}},
			4, Assignment{"t": {0, 3}}, Assignment{"t": {0, 1}}, nobody,
			reconciliation{State: stateUnrevoked, Epoch: 3, PreviousEpoch: 2, Assigned: Assignment{"t": {0}}, PendingRevocation: Assignment{"t": {1}}}},
		{"revoked: advance and take the free partitions",
			reconciliation{State: stateUnrevoked, Epoch: 3, PreviousEpoch: 2, Assigned: Assignment{"t": {0}}, PendingRevocation: Assignment{"t": {1}}},
			4, Assignment{"t": {0, 3}}, Assignment{"t": {0}}, nobody,
			reconciliation{State: stateStable, Epoch: 4, PreviousEpoch: 3, Assigned: Assignment{"t": {0, 3}}, PendingRevocation: Assignment{}}},
		{"gain still owned by another member: unreleased", stable(3, 0), 4, Assignment{"t": {0, 1, 2}}, nil, ownedBy(2),
			reconciliation{State: stateUnreleased, Epoch: 4, PreviousEpoch: 3, Assigned: Assignment{"t": {0, 1}}, PendingRevocation: Assignment{}}},
		{"unreleased: the partition is free now",
			reconciliation{State: stateUnreleased, Epoch: 4, PreviousEpoch: 3, Assigned: Assignment{"t": {0, 1}}, PendingRevocation: Assignment{}},
			4, Assignment{"t": {0, 1, 2}}, Assignment{"t": {0, 1}}, nobody,
			reconciliation{State: stateStable, Epoch: 4, PreviousEpoch: 3, Assigned: Assignment{"t": {0, 1, 2}}, PendingRevocation: Assignment{}}},
		{"unreleased: still owned elsewhere",
			reconciliation{State: stateUnreleased, Epoch: 4, PreviousEpoch: 3, Assigned: Assignment{"t": {0, 1}}, PendingRevocation: Assignment{}},
			4, Assignment{"t": {0, 1, 2}}, nil, ownedBy(2),
			reconciliation{State: stateUnreleased, Epoch: 4, PreviousEpoch: 3, Assigned: Assignment{"t": {0, 1}}, PendingRevocation: Assignment{}}},
		{"new member: everything free", reconciliation{State: stateStable, Assigned: Assignment{}, PendingRevocation: Assignment{}}, 1, Assignment{"t": {2, 3}}, Assignment{}, nobody,
			reconciliation{State: stateStable, Epoch: 1, PreviousEpoch: 0, Assigned: Assignment{"t": {2, 3}}, PendingRevocation: Assignment{}}},
		{"topic dropped from the subscription", reconciliation{State: stateStable, Epoch: 2, PreviousEpoch: 1, Assigned: Assignment{"t": {0}, "u": {1}}, PendingRevocation: Assignment{}},
			3, Assignment{"t": {0}}, nil, nobody,
			reconciliation{State: stateUnrevoked, Epoch: 2, PreviousEpoch: 1, Assigned: Assignment{"t": {0}}, PendingRevocation: Assignment{"u": {1}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := reconcile(c.cur, c.targetEpoch, c.target, c.owned, c.others)
			if !reflect.DeepEqual(normalize(got), normalize(c.want)) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// FuzzReconcile checks reconcile's invariants on arbitrary states: a
// member never gains a partition another member owns, revokes only what it
// had, advances its epoch only to the target's and only once nothing is
// left to revoke, and holds only target partitions after any change.
func FuzzReconcile(f *testing.F) {
	f.Add([]byte{0, 3, 4, 0x0f, 0x3c, 0x03, 0x30, 0x40})
	f.Add([]byte{1, 2, 3, 0x01, 0x02, 0x02, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		set := func(bits byte) Assignment {
			a := Assignment{}
			for p := int32(0); p < 8; p++ {
				if bits&(1<<p) != 0 {
					a["t"] = append(a["t"], p)
				}
			}
			return a.normalized()
		}
		states := []memberState{stateStable, stateUnrevoked, stateUnreleased}
		cur := reconciliation{
			State: states[int(b[0])%3], Epoch: int32(b[1] % 8), PreviousEpoch: int32(b[1]%8) - 1,
			Assigned: set(b[3]), PendingRevocation: set(b[4] &^ b[3]),
		}
		targetEpoch := int32(b[2] % 8)
		target := set(b[5])
		var owned Assignment
		if b[6]&0x80 == 0 {
			owned = set(b[6] & 0x7f)
		}
		othersBits := b[7] &^ (b[3] | b[4])
		others := func(_ string, p int32) bool { return othersBits&(1<<p) != 0 }

		next := reconcile(cur, targetEpoch, target, owned, others)
		for _, p := range next.Assigned["t"] {
			if others("t", p) && !contains(cur.Assigned["t"], p) {
				t.Fatalf("gained %d, owned by another member: %+v -> %+v", p, cur, next)
			}
		}
		for _, p := range next.PendingRevocation["t"] {
			if !contains(cur.Assigned["t"], p) && !contains(cur.PendingRevocation["t"], p) {
				t.Fatalf("revokes %d it did not have: %+v -> %+v", p, cur, next)
			}
		}
		if next.Epoch != cur.Epoch && (next.Epoch != targetEpoch || len(next.PendingRevocation) > 0) {
			t.Fatalf("epoch %d -> %d (target %d) with %v pending: %+v", cur.Epoch, next.Epoch, targetEpoch, next.PendingRevocation, next)
		}
		if !reflect.DeepEqual(normalize(next), normalize(cur)) && !next.Assigned.subsetOf(target) {
			t.Fatalf("holds %v outside the target %v after a change", next.Assigned, target)
		}
	})
}
