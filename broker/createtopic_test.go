package broker

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
)

// etcdBroker is a Broker on a real embedded etcd, registered as broker 1,
// with its log directory in root/logs, once its partitions were tried.
func etcdBroker(t *testing.T, root string, cfg Config) *Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg.LogDir = filepath.Join(root, "logs")
	b := openEtcdBroker(ctx, t, filepath.Join(root, "etcd"), cfg, 1)
	<-b.Loaded()
	return b
}

// openEtcdBroker opens broker 1 on a real embedded etcd in etcdDir where
// the brokers registered are registered (only broker 1 runs), with the
// cluster's secret; cfg.LogDir defaults to a temporary directory.
func openEtcdBroker(ctx context.Context, t *testing.T, etcdDir string, cfg Config, registered ...int32) *Broker {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: etcdDir}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	mc, err := meta.Dial(ctx, e.Endpoints(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	for _, id := range registered {
		reg, err := mc.RegisterBroker(ctx, meta.BrokerInfo{ID: id, Host: "127.0.0.1", Port: 1}, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close(context.Background()) })
	}
	if cfg.ClusterSecret, err = mc.ClusterSecret(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.BrokerID = 1
	if cfg.LogDir == "" {
		cfg.LogDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = logger
	}
	b, err := Open(ctx, cfg, mc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestCreateTopicFailsPartWay: CreateTopic where one partition cannot be
// made (something in the way of its directory) makes the others whole,
// leaves that one offline without touching what is in the way, and
// finishes it on a retry once the obstacle is gone: no partition
// directory is left half-made (without partition.metadata or segment).
func TestCreateTopicFailsPartWay(t *testing.T) {
	const topic = "made"
	cases := []struct {
		name     string
		obstacle func(t *testing.T, dir string) // put something in the way of dir
		wantErr  string
	}{
		{"file in place of the directory", func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, []byte("in the way"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a directory"},
		{"directory in place of the segment", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "00000000000000000000.log"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			logDir := filepath.Join(root, "logs")
			if err := os.MkdirAll(logDir, 0o755); err != nil {
				t.Fatal(err)
			}
			blocked := filepath.Join(logDir, topic+"-1")
			tc.obstacle(t, blocked)
			b := etcdBroker(t, root, Config{OfflineRetryInterval: 20 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			if _, err := b.CreateTopic(ctx, CreateTopicRequest{Name: topic, Partitions: 3, ReplicationFactor: 1}); err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			off := b.OfflinePartitions()
			if len(off) != 1 || off[0].Topic != topic || off[0].Partition != 1 || !strings.Contains(off[0].Error, tc.wantErr) {
				t.Fatalf("offline partitions %+v, want %s/1 with %q", off, topic, tc.wantErr)
			}
			for _, part := range []int32{0, 2} {
				if _, err := b.Partition(topic, part); err != nil {
					t.Fatalf("partition %d: %v", part, err)
				}
			}
			checkPartitionDirs(t, logDir, topic, []int32{0, 2}, blocked)
			if _, err := os.Lstat(blocked); err != nil {
				t.Fatalf("what was in the way of partition 1 is gone: %v", err)
			}

			// The obstacle removed, the retry makes partition 1 whole.
			if err := os.RemoveAll(blocked); err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := b.Partition(topic, 1); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("partition 1 not back after the obstacle was removed: %+v", b.OfflinePartitions())
				case <-time.After(10 * time.Millisecond):
				}
			}
			checkPartitionDirs(t, logDir, topic, []int32{0, 1, 2}, "")
			if off := b.OfflinePartitions(); len(off) != 0 {
				t.Fatalf("offline after the retry: %+v", off)
			}
		})
	}
}

// checkPartitionDirs fails unless each named partition directory holds
// partition.metadata and a first segment, and no other directory of the
// topic exists but skip (an obstacle the test placed).
func checkPartitionDirs(t *testing.T, logDir, topic string, parts []int32, skip string) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range parts {
		want[filepath.Join(logDir, topic+"-"+strconv.Itoa(int(p)))] = true
	}
	dirs, err := filepath.Glob(filepath.Join(logDir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if dir == skip {
			continue
		}
		if !want[dir] {
			t.Errorf("unexpected partition directory %s", dir)
			continue
		}
		delete(want, dir)
		for _, f := range []string{partitionMetadataFile, "00000000000000000000.log", "00000000000000000000.index"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
				t.Errorf("%s: half made, %s: %v", dir, f, err)
			}
		}
	}
	for dir := range want {
		t.Errorf("partition directory %s missing", dir)
	}
}
