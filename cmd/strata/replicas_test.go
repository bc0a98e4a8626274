package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/recordbatch"
)

// stopAndCompareReplicas reads the high watermarks of topic, stops every
// broker and compares their local logs below them.
func stopAndCompareReplicas(ctx context.Context, t *testing.T, adm *kadm.Client, procs []*brokerProc, topic string) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		p.kill(syscall.SIGTERM)
	}
	hws := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { hws[o.Partition] = o.Offset })
	var dirs []string
	for _, p := range procs {
		dirs = append(dirs, p.dataDir)
	}
	compareReplicaLogs(t, dirs, topic, hws)
}

// compareReplicaLogs checks, with the brokers stopped, that every broker's
// local log of each partition holds the same bytes from the newest local
// log start among the replicas (older data may be only in the cold tier)
// up to the high watermark.
func compareReplicaLogs(t *testing.T, dataDirs []string, topic string, hws map[int32]int64) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for part, hw := range hws {
		var logs []*hotlog.Log
		start := int64(0)
		for i, dir := range dataDirs {
			l, err := hotlog.Open(filepath.Join(dir, "logs", fmt.Sprintf("%s-%d", topic, part)), hotlog.DefaultConfig(), quiet)
			if err != nil {
				t.Fatalf("broker %d partition %d: %v", i+1, part, err)
			}
			defer l.Close()
			logs = append(logs, l)
			start = max(start, l.LogStartOffset())
		}
		var ref []byte
		for i, l := range logs {
			var all []byte
			for off := start; off < hw; {
				chunk, err := l.Read(off, hw, 1<<20, true)
				if err != nil || len(chunk) == 0 {
					t.Fatalf("broker %d partition %d: read at %d below hw %d: %v", i+1, part, off, hw, err)
				}
				hs, err := recordbatch.Validate(chunk, recordbatch.DefaultMaxDecompressed)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, chunk...)
				off = hs[len(hs)-1].LastOffset() + 1
			}
			if i == 0 {
				ref = all
			} else if !bytes.Equal(ref, all) {
				t.Errorf("partition %d: broker %d's log differs from broker 1's in [%d, %d)", part, i+1, start, hw)
			}
		}
	}
}
