package meta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stratalog/strata/meta/embedetcd"
)

// startStockEtcd builds meta/internal/etcdmain (upstream etcd's main, at the
// version go.mod pins) and runs it as its own process with nothing but
// addresses and a data directory on the command line: every limit is etcd's
// default. It returns a client on it; the process is killed at cleanup.
func startStockEtcd(t *testing.T) *Client {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "etcd")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./internal/etcdmain")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build etcd: %v\n%s", err, out)
	}
	ports, err := embedetcd.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cmd := exec.Command(bin,
		"--name", "stock", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "stock="+peer, "--log-level", "error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		c, err := Dial(ctx, []string{client}, testCluster(t))
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		select {
		case err := <-exited:
			t.Fatalf("etcd exited while starting: %v", err)
		case <-ctx.Done():
			t.Fatalf("etcd not ready: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestStockEtcd runs the large writes against a separately started etcd with
// its stock limits.
func TestStockEtcd(t *testing.T) {
	c := startStockEtcd(t)
	ctx := testCtxFor(t, 3*time.Minute)
	st, err := c.cli.Status(ctx, c.cli.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd %s", st.Version)
	if st.Version != "3.7.3" {
		t.Fatalf("etcd version %s, want 3.7.3 (go.mod's)", st.Version)
	}

	const n = 10_000
	if err := c.CreateTopic(ctx, Topic{Name: "big", Partitions: n, ReplicationFactor: 3}, states("big", 0, n, 1, 2, 3)); err != nil {
		t.Fatalf("create %d partitions: %v", n, err)
	}
	checkTopic(t, c, "big", n)

	// A creation stopped after its plan is completed by the retry.
	crashAt(c, 0)
	if err := c.CreateTopic(ctx, Topic{Name: "cut", Partitions: n, ReplicationFactor: 1}, states("cut", 0, n)); !errors.Is(err, errCrash) {
		t.Fatalf("create: %v, want the simulated crash", err)
	}
	c.stepHook = nil
	if _, err := c.Topic(ctx, "cut"); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("topic cut short is visible: %v", err)
	}
	if err := retryCreate(ctx, c, "cut"); err != nil {
		t.Fatal(err)
	}
	checkTopic(t, c, "cut", n)

	const commits = 5_000
	offs := make([]GroupOffset, commits)
	for i := range offs {
		offs[i] = GroupOffset{Topic: "big", Partition: int32(i), Offset: int64(i), LeaderEpoch: -1, CommitTimeMs: 1}
	}
	if revs, err := c.CommitGroupOffsets(ctx, "g", 0, offs); err != nil || len(revs) != commits {
		t.Fatalf("commit %d offsets: %d written, %v", commits, len(revs), err)
	}
	if d, err := c.LoadGroup(ctx, "g"); err != nil || len(d.Offsets) != commits {
		t.Fatalf("%d offsets loaded (%v), want %d", len(d.Offsets), err, commits)
	}
}
