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
