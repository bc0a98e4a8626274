package meta

import (
	"errors"
	"reflect"
	"testing"
)

func TestTxnSaveLoadGuardDelete(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	if _, ok, err := c.LoadTxn(ctx, "app/1 x"); ok || err != nil {
		t.Fatalf("LoadTxn of unknown id: ok %v, %v", ok, err)
	}
	st := TxnState{
		TransactionalID: "app/1 x", ProducerID: 7, ProducerEpoch: 3, LastProducerID: -1, LastProducerEpoch: -1,
		TimeoutMs: 60000, State: "Ongoing", TxnStartMs: 1700000000000, UpdateMs: 1700000000001, CoordinatorEpoch: 2,
		Partitions: []TopicPartition{{"a", 0}, {"b", 3}, {"__consumer_offsets", 12}}, Groups: []string{"g"},
	}
	if _, err := c.SaveTxn(ctx, st, 9); !errors.Is(err, ErrConflict) {
		t.Fatalf("create with a revision: %v, want ErrConflict", err)
	}
	rev, err := c.SaveTxn(ctx, st, 0)
	if err != nil || rev == 0 {
		t.Fatalf("create: %d, %v", rev, err)
	}
	got, ok, err := c.LoadTxn(ctx, st.TransactionalID)
	if err != nil || !ok || got.Revision != rev {
		t.Fatalf("load: %+v, %v, %v; want revision %d", got, ok, err, rev)
	}
	got.Revision = 0
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("loaded %+v, want %+v", got, st)
	}
	if _, err := c.SaveTxn(ctx, st, 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	st.State = "PrepareCommit"
	rev2, err := c.SaveTxn(ctx, st, rev)
	if err != nil || rev2 <= rev {
		t.Fatalf("update: %d, %v", rev2, err)
	}
	// A coordinator that still believes in rev is fenced.
	if _, err := c.SaveTxn(ctx, st, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	other := TxnState{TransactionalID: "b", ProducerID: 8, State: "Empty"}
	if _, err := c.SaveTxn(ctx, other, 0); err != nil {
		t.Fatal(err)
	}
	all, err := c.AllTxns(ctx)
	if err != nil || len(all) != 2 || all[0].TransactionalID != "app/1 x" || all[0].State != "PrepareCommit" || all[1].TransactionalID != "b" {
		t.Fatalf("AllTxns = %+v, %v", all, err)
	}
	if err := c.DeleteTxn(ctx, st.TransactionalID, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := c.DeleteTxn(ctx, st.TransactionalID, rev2); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.LoadTxn(ctx, st.TransactionalID); ok {
		t.Fatal("deleted id still there")
	}
	if _, err := c.SaveTxn(ctx, TxnState{State: "Empty"}, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty id: %v", err)
	}
}
