package meta

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// Ids are global: the same fingerprint gets one id whichever client asks,
// concurrently too, and distinct fingerprints get distinct ids.
func TestSchemaIDsUniqueAndStable(t *testing.T) {
	ctx := testCtx(t)
	a := newTestClient(t)
	b := New(testCli, a.keys.root[len(keyRoot):len(a.keys.root)-1])
	var wg sync.WaitGroup
	ids := make([][]int32, 2)
	for i, c := range []*Client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 10 {
				id, err := c.SchemaIDFor(ctx, fmt.Sprintf("fp%d", n), Schema{Type: "AVRO", Schema: fmt.Sprint(n)})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = append(ids[i], id)
			}
		}()
	}
	wg.Wait()
	seen := map[int32]bool{}
	for n := range 10 {
		if ids[0][n] != ids[1][n] {
			t.Fatalf("fingerprint %d: ids %d and %d", n, ids[0][n], ids[1][n])
		}
		if seen[ids[0][n]] {
			t.Fatalf("id %d given twice", ids[0][n])
		}
		seen[ids[0][n]] = true
		s, err := b.SchemaByID(ctx, ids[0][n])
		if err != nil || s.Schema != fmt.Sprint(n) {
			t.Fatalf("SchemaByID(%d) = %+v, %v", ids[0][n], s, err)
		}
	}
	if _, err := a.SchemaByID(ctx, 999); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("missing id: %v", err)
	}
}

func TestSchemaVersionsAndSettings(t *testing.T) {
	ctx := testCtx(t)
	c := newTestClient(t)
	for _, sv := range []SchemaVersion{{Subject: "a/b c", Version: 1, ID: 1}, {Subject: "a/b c", Version: 2, ID: 2}, {Subject: "z", Version: 1, ID: 1}} {
		if err := c.CreateSchemaVersion(ctx, sv); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CreateSchemaVersion(ctx, SchemaVersion{Subject: "z", Version: 1, ID: 3}); !errors.Is(err, ErrSchemaVersionExists) {
		t.Fatalf("second create of z/1: %v", err)
	}
	if err := c.SoftDeleteSchemaVersions(ctx, []SchemaVersion{{Subject: "a/b c", Version: 1, ID: 1}}); err != nil {
		t.Fatal(err)
	}
	all, err := c.SchemaVersions(ctx, "")
	if err != nil || len(all) != 3 || all[0].Subject != "a/b c" || !all[0].Deleted || all[1].Deleted || all[2].Subject != "z" {
		t.Fatalf("versions = %+v, %v", all, err)
	}
	if err := c.DeleteSchemaVersions(ctx, all[:1]); err != nil {
		t.Fatal(err)
	}
	if vs, _ := c.SchemaVersions(ctx, "a/b c"); len(vs) != 1 || vs[0].Version != 2 {
		t.Fatalf("after hard delete: %+v", vs)
	}
	if _, err := c.SchemaSetting(ctx, "config", "z"); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("unset config: %v", err)
	}
	if err := c.SetSchemaSetting(ctx, "config", "z", "FULL"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.SchemaSetting(ctx, "config", "z"); err != nil || v != "FULL" {
		t.Fatalf("config = %q, %v", v, err)
	}
	if err := c.SetSchemaSetting(ctx, "config", "z", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SchemaSetting(ctx, "config", "z"); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("deleted config: %v", err)
	}
}
