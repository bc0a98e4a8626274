package meta

import (
	"errors"
	"reflect"
	"testing"
)

func TestGroupStateSaveLoadAndGuard(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)

	d, err := c.LoadGroup(ctx, "g/1 x")
	if err != nil || !d.Empty() || d.StateRevision != 0 || d.Group != "g/1 x" {
		t.Fatalf("LoadGroup of unknown group = %+v, %v; want empty", d, err)
	}
	st := GroupState{
		Group: "g/1 x", State: "Stable", ProtocolType: "consumer", Protocol: "range", Generation: 3,
		Leader: "m1", StateTimeMs: 1700000000000,
		Members: []GroupMember{
			{MemberID: "m1", ClientID: "c1", ClientHost: "/127.0.0.1", SessionTimeoutMs: 10000, RebalanceTimeoutMs: 60000, Metadata: []byte{0, 1}, Assignment: []byte{2}},
			{MemberID: "m2", InstanceID: "i2", ClientID: "c2", ClientHost: "/127.0.0.2", SessionTimeoutMs: 10000, RebalanceTimeoutMs: 60000, Metadata: []byte{3}},
		},
	}
	// Creating needs revision 0; anything else is a conflict.
	if _, err := c.SaveGroupState(ctx, st, 5); !errors.Is(err, ErrConflict) {
		t.Fatalf("save with wrong revision on absent key: %v, want ErrConflict", err)
	}
	rev, err := c.SaveGroupState(ctx, st, 0)
	if err != nil || rev == 0 {
		t.Fatalf("save: rev %d, %v", rev, err)
	}
	d, err = c.LoadGroup(ctx, "g/1 x")
	if err != nil {
		t.Fatal(err)
	}
	if d.StateRevision != rev || d.State == nil || d.State.Revision != rev {
		t.Fatalf("loaded revision %d (state %+v), want %d", d.StateRevision, d.State, rev)
	}
	got := *d.State
	got.Revision = 0
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("loaded state\n%+v\nwant\n%+v", got, st)
	}
	// A second save with the old revision 0 (a coordinator that never saw
	// this write) is refused and changes nothing.
	st2 := st
	st2.Generation = 4
	if _, err := c.SaveGroupState(ctx, st2, 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale save: %v, want ErrConflict", err)
	}
	rev2, err := c.SaveGroupState(ctx, st2, rev)
	if err != nil || rev2 <= rev {
		t.Fatalf("save at current revision: %d, %v", rev2, err)
	}
	if _, err := c.SaveGroupState(ctx, st2, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("save at superseded revision: %v, want ErrConflict", err)
	}
}

func TestGroupOffsetsCommitDeleteAndList(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)

	offs := []GroupOffset{
		{Topic: "orders", Partition: 10, Offset: 100, LeaderEpoch: 2, Metadata: "m", CommitTimeMs: 1},
		{Topic: "orders", Partition: 2, Offset: 20, LeaderEpoch: -1, CommitTimeMs: 1},
		{Topic: "audit", Partition: 0, Offset: 5, LeaderEpoch: -1, CommitTimeMs: 1, ExpireTimeMs: 99},
	}
	// A group with no state key: commits are guarded by "state absent".
	revs, err := c.CommitGroupOffsets(ctx, "simple", 0, offs)
	if err != nil || len(revs) != 3 || revs[0] == 0 || revs[1] != revs[0] || revs[2] != revs[0] {
		t.Fatalf("commit: %v, %v; want one revision for all three (one transaction)", revs, err)
	}
	rev := revs[0]
	d, err := c.LoadGroup(ctx, "simple")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != nil || len(d.Offsets) != 3 {
		t.Fatalf("loaded %+v", d)
	}
	want := []GroupOffset{offs[2], offs[1], offs[0]} // sorted by topic, then partition number
	for i := range want {
		want[i].Revision = rev
	}
	if !reflect.DeepEqual(d.Offsets, want) {
		t.Fatalf("offsets\n%+v\nwant\n%+v", d.Offsets, want)
	}

	// Once somebody writes the state, a commit guarded by the old revision
	// (0) is refused as a whole.
	srev, err := c.SaveGroupState(ctx, GroupState{Group: "simple", State: "Empty", Generation: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitGroupOffsets(ctx, "simple", 0, []GroupOffset{{Topic: "orders", Partition: 2, Offset: 999}, {Topic: "new", Partition: 0, Offset: 1}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale commit: %v, want ErrConflict", err)
	}
	d, _ = c.LoadGroup(ctx, "simple")
	if len(d.Offsets) != 3 || d.Offsets[1].Offset != 20 {
		t.Fatalf("a refused commit changed offsets: %+v", d.Offsets)
	}
	if _, err := c.CommitGroupOffsets(ctx, "simple", srev, []GroupOffset{{Topic: "bad/topic", Partition: 0}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("commit with bad topic name: %v, want ErrInvalid", err)
	}

	// Another group, whose escaped name shares a prefix, stays separate.
	if _, err := c.CommitGroupOffsets(ctx, "simple/2", 0, []GroupOffset{{Topic: "orders", Partition: 0, Offset: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitGroupOffsets(ctx, "", 0, []GroupOffset{{Topic: "orders", Partition: 0, Offset: 8}}); err != nil {
		t.Fatal(err)
	}
	all, err := c.AllGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range all {
		names = append(names, g.Group)
	}
	if !reflect.DeepEqual(names, []string{"", "simple", "simple/2"}) {
		t.Fatalf("AllGroups names %q", names)
	}
	if all[1].StateRevision != srev || len(all[1].Offsets) != 3 || len(all[2].Offsets) != 1 || all[0].Offsets[0].Offset != 8 {
		t.Fatalf("AllGroups %+v", all)
	}

	// Deleting offsets: guarded, missing ones ignored.
	del := []TopicPartition{{"orders", 10}, {"orders", 77}}
	if _, err := c.DeleteGroupOffsets(ctx, "simple", 0, del); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: %v, want ErrConflict", err)
	}
	if _, err := c.DeleteGroupOffsets(ctx, "simple", srev, del); err != nil {
		t.Fatal(err)
	}
	d, _ = c.LoadGroup(ctx, "simple")
	if len(d.Offsets) != 2 {
		t.Fatalf("after delete: %+v", d.Offsets)
	}

	// Deleting the group removes state and offsets, and nothing of the
	// other group.
	if err := c.DeleteGroup(ctx, "simple", srev+1000); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale group delete: %v, want ErrConflict", err)
	}
	if err := c.DeleteGroup(ctx, "simple", srev); err != nil {
		t.Fatal(err)
	}
	d, _ = c.LoadGroup(ctx, "simple")
	if !d.Empty() {
		t.Fatalf("deleted group still has %+v", d)
	}
	d, _ = c.LoadGroup(ctx, "simple/2")
	if len(d.Offsets) != 1 {
		t.Fatalf("other group lost its offsets: %+v", d)
	}
}

func TestGroupOffsetsExpireGuardsEachOffset(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	if _, err := c.CommitGroupOffsets(ctx, "g", 0, []GroupOffset{{Topic: "t", Partition: 0, Offset: 1}, {Topic: "t", Partition: 1, Offset: 1}}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.LoadGroup(ctx, "g")
	seen := d.Offsets
	// Partition 1 is committed again after it was read: expiring what was
	// read must not delete the new commit.
	if _, err := c.CommitGroupOffsets(ctx, "g", 0, []GroupOffset{{Topic: "t", Partition: 1, Offset: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExpireGroupOffsets(ctx, "g", 0, seen); !errors.Is(err, ErrConflict) {
		t.Fatalf("expire of a re-committed offset: %v, want ErrConflict", err)
	}
	if _, err := c.ExpireGroupOffsets(ctx, "g", 0, seen[:1]); err != nil {
		t.Fatal(err)
	}
	d, _ = c.LoadGroup(ctx, "g")
	if len(d.Offsets) != 1 || d.Offsets[0].Partition != 1 || d.Offsets[0].Offset != 2 {
		t.Fatalf("after expiry: %+v", d.Offsets)
	}
}

func TestGroupTxnOffsets(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	rev, err := c.SaveGroupState(ctx, GroupState{Group: "g", State: "Empty"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var many []GroupOffset
	for p := range int32(300) {
		many = append(many, GroupOffset{Topic: "t", Partition: p, Offset: int64(p) + 10, LeaderEpoch: -1})
	}
	pend := GroupTxnOffsets{ProducerID: 7, ProducerEpoch: 2, TransactionalID: "tx", Offsets: many}
	if _, err := c.SaveGroupTxnOffsets(ctx, "g", rev+1, pend); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale save: %v", err)
	}
	if _, err := c.SaveGroupTxnOffsets(ctx, "g", rev, pend); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SaveGroupTxnOffsets(ctx, "g", rev, GroupTxnOffsets{ProducerID: 8, Offsets: many[:1]}); err != nil {
		t.Fatal(err)
	}
	d, err := c.LoadGroup(ctx, "g")
	if err != nil || len(d.TxnOffsets) != 2 || d.TxnOffsets[0].ProducerID != 7 || len(d.TxnOffsets[0].Offsets) != 300 || len(d.Offsets) != 0 {
		t.Fatalf("load: %+v, %v", d.TxnOffsets, err)
	}
	// Commit 7 (three transactions), abort 8.
	if _, err := c.CompleteGroupTxnOffsets(ctx, "g", rev, 7, true, many); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteGroupTxnOffsets(ctx, "g", rev, 8, false, nil); err != nil {
		t.Fatal(err)
	}
	d, err = c.LoadGroup(ctx, "g")
	if err != nil || len(d.TxnOffsets) != 0 || len(d.Offsets) != 300 || d.Offsets[299].Offset != 309 {
		t.Fatalf("after completion: %d pending, %d offsets, %v", len(d.TxnOffsets), len(d.Offsets), err)
	}
}
