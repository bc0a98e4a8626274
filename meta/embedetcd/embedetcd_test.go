package embedetcd_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestRestart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dir := t.TempDir()

	e1, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eps := e1.Endpoints()
	c1, err := meta.Dial(ctx, eps, "r")
	if err != nil {
		e1.Close()
		t.Fatal(err)
	}
	id, err := c1.ClusterID(ctx)
	if err == nil {
		err = c1.CreateTopic(ctx, meta.Topic{Name: "kept", Partitions: 1, ReplicationFactor: 1},
			[]meta.PartitionState{{Topic: "kept", Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}})
	}
	c1.Close()
	e1.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ports.json")); err != nil {
		t.Fatalf("ports not persisted: %v", err)
	}

	// Another data directory, started meanwhile, gets ports of its own.
	other, err := embedetcd.Start(ctx, embedetcd.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	e2, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer e2.Close()
	if !slices.Equal(e2.Endpoints(), eps) {
		t.Fatalf("restart endpoints %v, want %v", e2.Endpoints(), eps)
	}
	if slices.Equal(eps, other.Endpoints()) {
		t.Fatal("two data dirs share ports")
	}
	c2, err := meta.Dial(ctx, e2.Endpoints(), "r")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if id2, err := c2.ClusterID(ctx); err != nil || id2 != id {
		t.Fatalf("cluster id after restart %q (%v), want %q", id2, err, id)
	}
	if _, err := c2.Topic(ctx, "kept"); err != nil {
		t.Fatalf("topic after restart: %v", err)
	}
}

func TestStartNoDir(t *testing.T) {
	if _, err := embedetcd.Start(testCtx(t), embedetcd.Config{}, nil); err == nil {
		t.Fatal("no error without Dir")
	}
}
