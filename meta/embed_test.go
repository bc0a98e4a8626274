package meta

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestEmbeddedRestart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dir := t.TempDir()

	e1, err := StartEmbedded(ctx, EmbeddedConfig{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eps := e1.Endpoints()
	c1, err := Dial(ctx, eps, "r")
	if err != nil {
		e1.Close()
		t.Fatal(err)
	}
	id, err := c1.ClusterID(ctx)
	if err == nil {
		err = c1.CreateTopic(ctx, Topic{Name: "kept", Partitions: 1, ReplicationFactor: 1}, states("kept", 0, 1))
	}
	c1.Close()
	e1.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, portsFile)); err != nil {
		t.Fatalf("ports not persisted: %v", err)
	}

	e2, err := StartEmbedded(ctx, EmbeddedConfig{Dir: dir}, nil)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer e2.Close()
	if !slices.Equal(e2.Endpoints(), eps) {
		t.Fatalf("restart endpoints %v, want %v", e2.Endpoints(), eps)
	}
	if slices.Equal(eps, testEtcd.Endpoints()) {
		t.Fatal("two data dirs share ports")
	}
	c2, err := Dial(ctx, e2.Endpoints(), "r")
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

func TestStartEmbeddedNoDir(t *testing.T) {
	if _, err := StartEmbedded(testCtx(t), EmbeddedConfig{}, nil); err == nil {
		t.Fatal("no error without Dir")
	}
}
