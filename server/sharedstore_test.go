package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalog/strata/meta/embedetcd"
)

// TestClusterRefusesPrivateObjectStores: the tier manifest in etcd is
// cluster-wide, so brokers that each tier into a store of their own (the
// default file://<data-dir>/objects) would delete local copies of data only
// the leader's disk holds. The second broker must refuse to start, with an
// error that says what to do; brokers sharing one store start.
func TestClusterRefusesPrivateObjectStores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	base := func(id int32) Config {
		return Config{
			DataDir: t.TempDir(), Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0",
			BrokerID: id, EtcdEndpoints: e.Endpoints(), BrokerTTL: 2 * time.Second,
			RetentionCheckInterval: 100 * time.Millisecond, Logger: testLogger(),
		}
	}
	first, err := Start(ctx, base(1)) // default store: file://<its data dir>/objects
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	second, err := Start(ctx, base(2))
	if err == nil {
		second.Close()
		t.Fatal("broker 2 started with an object store of its own beside broker 1's")
	}
	if !errors.Is(err, ErrStoreNotShared) {
		t.Fatalf("broker 2: want ErrStoreNotShared, got %v", err)
	}
	t.Logf("refused as expected: %v", err)

	// Brokers 3 and 4 share one directory, but broker 1 is not in it
	// either: refused. With broker 1 gone, 3 and 4 start together.
	shared := "file://" + filepath.Join(t.TempDir(), "objects")
	cfg3 := base(3)
	cfg3.ObjectStore = shared
	if s, err := Start(ctx, cfg3); !errors.Is(err, ErrStoreNotShared) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("broker 3 with a store broker 1 does not use: want ErrStoreNotShared, got %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := Start(ctx, cfg3)
	if err != nil {
		t.Fatalf("broker 3 alone: %v", err)
	}
	defer third.Close()
	cfg4 := base(4)
	cfg4.ObjectStore = shared
	fourth, err := Start(ctx, cfg4)
	if err != nil {
		t.Fatalf("broker 4 sharing broker 3's store: %v", err)
	}
	fourth.Close()
}
