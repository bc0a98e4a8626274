package meta

import (
	"errors"
	"testing"
)

// TestIcebergTablePointer: the pointer is created once, swapped only from
// the revision read and only under the partition's current epoch, listed,
// and deleted with its topic.
func TestIcebergTablePointer(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "it", Partitions: 2}, states("it", 0, 2)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.IcebergTable(ctx, "it"); err != nil || ok {
		t.Fatalf("pointer before any commit: %v %v", ok, err)
	}
	v1 := IcebergTable{Topic: "it", Namespace: "ns", MetadataLocation: "file:///x/topic=it/metadata/00001-a.metadata.json", Version: 1}
	if _, err := c.CommitIcebergTable(ctx, 0, 1, 0, v1); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit under a wrong epoch: %v, want ErrFenced", err)
	}
	if _, err := c.CommitIcebergTable(ctx, 0, 0, 0, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitIcebergTable(ctx, 1, 0, 0, v1); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	got, ok, err := c.IcebergTable(ctx, "it")
	if err != nil || !ok || got.MetadataLocation != v1.MetadataLocation || got.Revision == 0 {
		t.Fatalf("pointer %+v %v %v", got, ok, err)
	}
	v2 := v1
	v2.Version, v2.MetadataLocation = 2, "file:///x/topic=it/metadata/00002-b.metadata.json"
	if _, err := c.CommitIcebergTable(ctx, 1, 0, got.Revision, v2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitIcebergTable(ctx, 0, 0, got.Revision, v2); !errors.Is(err, ErrConflict) {
		t.Fatalf("swap from a stale revision: %v, want ErrConflict", err)
	}
	if _, err := c.CommitIcebergTable(ctx, 0, 0, 0, IcebergTable{Topic: "it"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("pointer without a location: %v, want ErrInvalid", err)
	}
	all, err := c.IcebergTables(ctx)
	if err != nil || len(all) != 1 || all[0].Version != 2 {
		t.Fatalf("tables %+v %v", all, err)
	}
	if err := c.DeleteTopic(ctx, "it"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.IcebergTable(ctx, "it"); err != nil || ok {
		t.Fatalf("pointer after DeleteTopic: %v %v", ok, err)
	}
}
