package broker

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
)

// dirTestBroker is just enough of a Broker to open partition logs.
func dirTestBroker(t *testing.T) *Broker {
	t.Helper()
	root := t.TempDir()
	b := &Broker{cfg: Config{LogDir: filepath.Join(root, "logs"), Logger: slog.New(slog.DiscardHandler)}}
	b.cfg.setDefaults()
	b.log = b.cfg.Logger
	b.metrics = newMetrics(nil, b)
	if err := os.MkdirAll(b.cfg.LogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeRecords opens the partition's log for topic, appends n single-record
// batches with leader epoch epoch and closes it.
func writeRecords(t *testing.T, b *Broker, topic meta.Topic, epoch int32, n int) {
	t.Helper()
	l, err := b.openPartitionLog(topic, meta.PartitionState{Topic: topic.Name, LeaderEpoch: epoch}, hotlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := l.Append(BatchForTest(1, 10), nil, epoch, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenPartitionLogNeverDeletesRecords(t *testing.T) {
	topic := meta.Topic{Name: "t", ID: meta.NewTopicID(), Partitions: 1, ReplicationFactor: 1}
	older := meta.Topic{Name: "t", ID: meta.NewTopicID(), Partitions: 1, ReplicationFactor: 1}
	cases := []struct {
		name      string
		etcdEpoch int32
		damage    func(t *testing.T, dir string)
		wantLEO   int64 // log end offset after opening for topic
		wantQuar  bool  // the old directory is in the quarantine folder, intact
		wantErr   string
	}{
		{name: "intact", wantLEO: 4},
		{name: "partition.metadata truncated", damage: func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, partitionMetadataFile), 0); err != nil {
				t.Fatal(err)
			}
		}, wantLEO: 4},
		{name: "partition.metadata half written", damage: func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, partitionMetadataFile), 15); err != nil {
				t.Fatal(err)
			}
		}, wantLEO: 4},
		{name: "partition.metadata missing", damage: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, partitionMetadataFile)); err != nil {
				t.Fatal(err)
			}
		}, wantLEO: 4},
		{name: "torn and the log has a newer epoch than etcd", etcdEpoch: -1, damage: func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, partitionMetadataFile), 0); err != nil {
				t.Fatal(err)
			}
		}, wantLEO: 0, wantQuar: true},
		{name: "another topic id", damage: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, partitionMetadataFile), partitionMetadata(older.ID), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantLEO: 0, wantQuar: true},
		{name: "partition.metadata unreadable", damage: func(t *testing.T, dir string) {
			path := filepath.Join(dir, partitionMetadataFile)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "is a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := dirTestBroker(t)
			writeRecords(t, b, topic, 0, 4)
			dir := b.partitionDir(topic.Name, 0)
			if c.damage != nil {
				c.damage(t, dir)
			}
			l, err := b.openPartitionLog(topic, meta.PartitionState{Topic: topic.Name, LeaderEpoch: c.etcdEpoch}, hotlog.DefaultConfig())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("open: %v, want an error containing %q", err, c.wantErr)
				}
				if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.log")); err != nil {
					t.Fatalf("the log of an unreadable partition is gone: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if got := l.LogEndOffset(); got != c.wantLEO {
				t.Fatalf("log end offset %d, want %d", got, c.wantLEO)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, partitionMetadataFile)); string(got) != string(partitionMetadata(topic.ID)) {
				t.Fatalf("partition.metadata is %q, want the topic's", got)
			}
			entries, err := ListQuarantine(b.cfg.QuarantineDir)
			if err != nil {
				t.Fatal(err)
			}
			if !c.wantQuar {
				if len(entries) != 0 {
					t.Fatalf("quarantined %v, want nothing", entries)
				}
				return
			}
			if len(entries) != 1 || entries[0].From != dir || entries[0].Reason == "" {
				t.Fatalf("quarantine holds %+v, want one entry from %s with a reason", entries, dir)
			}
			old, err := hotlog.Open(filepath.Join(b.cfg.QuarantineDir, entries[0].Name), hotlog.DefaultConfig(), b.log)
			if err != nil {
				t.Fatal(err)
			}
			if got := old.LogEndOffset(); got != 4 {
				t.Fatalf("quarantined log ends at %d, want its 4 records", got)
			}
			old.Close()
		})
	}
}

// TestQuarantineRestoreAndDelete: restore refuses to overwrite a
// recreated partition and works once it is moved away; delete removes
// the entry.
func TestQuarantineRestoreAndDelete(t *testing.T) {
	b := dirTestBroker(t)
	older := meta.Topic{Name: "t", ID: meta.NewTopicID()}
	writeRecords(t, b, older, 0, 2)
	dir := b.partitionDir("t", 0)
	if _, err := b.quarantine(dir, "test"); err != nil {
		t.Fatal(err)
	}
	writeRecords(t, b, meta.Topic{Name: "t", ID: meta.NewTopicID()}, 0, 1) // the partition recreated
	entries, err := ListQuarantine(b.cfg.QuarantineDir)
	if err != nil || len(entries) != 1 || entries[0].Bytes == 0 {
		t.Fatalf("list: %+v, %v", entries, err)
	}
	name := entries[0].Name
	if _, err := RestoreQuarantined(b.cfg.QuarantineDir, b.cfg.LogDir, name); err == nil || !strings.Contains(err.Error(), "recreated") {
		t.Fatalf("restore over a recreated partition: %v, want a refusal", err)
	}
	if err := os.Rename(dir, dir+".new"); err != nil {
		t.Fatal(err)
	}
	got, err := RestoreQuarantined(b.cfg.QuarantineDir, b.cfg.LogDir, name)
	if err != nil || got != dir {
		t.Fatalf("restore: %q, %v", got, err)
	}
	if meta, _ := os.ReadFile(filepath.Join(dir, partitionMetadataFile)); string(meta) != string(partitionMetadata(older.ID)) {
		t.Fatalf("restored directory has partition.metadata %q", meta)
	}
	if _, err := b.quarantine(dir, "again"); err != nil {
		t.Fatal(err)
	}
	entries, _ = ListQuarantine(b.cfg.QuarantineDir)
	if err := DeleteQuarantined(b.cfg.QuarantineDir, entries[0].Name); err != nil {
		t.Fatal(err)
	}
	if err := DeleteQuarantined(b.cfg.QuarantineDir, "../logs"); !errors.Is(err, ErrNotQuarantined) {
		t.Fatalf("delete outside the quarantine: %v, want ErrNotQuarantined", err)
	}
	if entries, _ := ListQuarantine(b.cfg.QuarantineDir); len(entries) != 0 {
		t.Fatalf("after delete: %+v", entries)
	}
}
