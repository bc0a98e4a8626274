package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/server"
)

// TestTopicAndClusterCommands runs `strata topic ...` and `strata cluster
// status` against an in-process broker.
func TestTopicAndClusterCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		DataDir:  t.TempDir(),
		Listen:   "127.0.0.1:0",
		BrokerID: 1,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	brokers := "--brokers=" + srv.KafkaAddr()
	steps := []struct {
		args    []string
		wantErr string // substring of the error, "" for success
		wantOut []string
	}{
		{[]string{"topic", "create", "orders", "-p", "3", "-c", "retention.ms=3600000", brokers}, "", []string{"created topic orders (3 partitions)"}},
		{[]string{"topic", "create", "orders", brokers}, "TOPIC_ALREADY_EXISTS", nil},
		{[]string{"topic", "create", "orders", "--if-not-exists", brokers}, "", []string{"topic orders already exists"}},
		{[]string{"topic", "create", "bad", "-c", "retention.ms", brokers}, "want name=value", nil},
		{[]string{"topic", "create", "bad", "-c", "retention.ms=soon", brokers}, "INVALID_CONFIG", nil},
		{[]string{"topic", "list", brokers}, "", []string{"orders", "3"}},
		{[]string{"topic", "describe", "orders", brokers}, "", []string{"topic orders", "retention.ms=3600000 (topic)", "cleanup.policy=delete (default)"}},
		{[]string{"topic", "create", "changelog", "-c", "cleanup.policy=compact", "-c", "delete.retention.ms=60000", brokers}, "", []string{"created topic changelog"}},
		{[]string{"topic", "describe", "changelog", brokers}, "", []string{"cleanup.policy=compact (topic)", "delete.retention.ms=60000 (topic)", "min.cleanable.dirty.ratio=0.5 (default)"}},
		{[]string{"topic", "create", "bad", "-c", "cleanup.policy=compact", "-c", "min.compaction.lag.ms=10", "-c", "max.compaction.lag.ms=5", brokers}, "INVALID_CONFIG", nil},
		{[]string{"cluster", "status", brokers}, "", []string{"controller 1", "orders", "0 partitions under-replicated or offline"}},
		{[]string{"topic", "delete", "orders", brokers}, "", []string{"deleted orders"}},
		{[]string{"topic", "describe", "orders", brokers}, "UNKNOWN_TOPIC_OR_PARTITION", nil},
	}
	for _, st := range steps {
		out, err := runStrata(st.args...)
		switch {
		case st.wantErr == "" && err != nil:
			t.Fatalf("strata %s: %v\n%s", strings.Join(st.args, " "), err, out)
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Fatalf("strata %s: error %v, want one containing %q", strings.Join(st.args, " "), err, st.wantErr)
		}
		for _, w := range st.wantOut {
			if !strings.Contains(out, w) {
				t.Fatalf("strata %s: output lacks %q:\n%s", strings.Join(st.args, " "), w, out)
			}
		}
	}
}
