// Package metatest gives the tests of packages above meta (group, txn,
// schemareg) a real etcd: one embedded member per test binary, started by
// Main, and a meta.Client per test on a cluster name no other test uses,
// so tests share the member without seeing each other's keys.
package metatest

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

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
)

var (
	cli     *clientv3.Client
	counter atomic.Int64
)

// Main starts the embedded etcd, runs the tests and returns their exit
// code: func TestMain(m *testing.M) { os.Exit(metatest.Main(m)) }.
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "strata-test-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(os.Stderr, "start etcd:", err)
		return 1
	}
	defer e.Close()
	cli, err = clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd client:", err)
		return 1
	}
	defer cli.Close()
	return m.Run()
}

// NewStore returns a meta client on a cluster name of its own, derived
// from the test's name.
func NewStore(t testing.TB) *meta.Client {
	t.Helper()
	if cli == nil {
		t.Fatal("metatest.NewStore without metatest.Main in TestMain")
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return meta.New(cli, fmt.Sprintf("%s-%d", name, counter.Add(1)))
}
