package meta

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/stratalog/strata/meta/embedetcd"
)

// One embedded etcd per test binary; every test gets its own cluster name, so
// tests are isolated and may run in parallel.
var (
	testEtcd    *embedetcd.Server
	testCli     *clientv3.Client
	testCounter atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "meta-test-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testEtcd, err = embedetcd.Start(ctx, embedetcd.Config{Dir: dir}, slog.Default())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testEtcd.Close()
	testCli, err = clientv3.New(clientv3.Config{Endpoints: testEtcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testCli.Close()
	return m.Run()
}

// newTestClient returns a Client on the shared etcd with a cluster name no
// other test uses.
func newTestClient(t *testing.T) *Client {
	t.Helper()
	return New(testCli, testCluster(t))
}

// testCluster returns a cluster name no other test (or -count run) uses.
func testCluster(t *testing.T) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf("%s-%d", name, testCounter.Add(1))
}

func testCtx(t *testing.T) context.Context { return testCtxFor(t, 30*time.Second) }

// testCtxFor is testCtx for the tests that write tens of thousands of keys
// (slow under -race on a busy machine).
func testCtxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// states builds partition states from..to-1 of topic, leader = replica[0], epoch 0.
func states(topic string, from, to int32, replicas ...int32) []PartitionState {
	if len(replicas) == 0 {
		replicas = []int32{1}
	}
	var out []PartitionState
	for p := from; p < to; p++ {
		out = append(out, PartitionState{Topic: topic, Partition: p, Leader: replicas[0], Replicas: replicas, ISR: replicas})
	}
	return out
}
