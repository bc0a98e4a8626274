package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/server"
)

func runCLI(args ...string) error {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	return root.Execute()
}

// TestExportCLIErrors: bad input and unreachable dependencies give one
// clear line (and so a non-zero exit from main).
func TestExportCLIErrors(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.Start(context.Background(), server.Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", BrokerID: 1, AutoCreateTopics: true, DefaultPartitions: 1,
		RetentionCheckInterval: time.Second, ObjectStore: "file://" + filepath.Join(dir, "objects"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.parquet")
	b := srv.KafkaAddr()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown topic", []string{"--topic", "nope"}, `unknown topic "nope"`},
		{"empty range", []string{"--topic", "t", "--from-offset", "5"}, "empty range"},
		{"bad time", []string{"--topic", "t", "--from-time", "yesterday"}, "--from-time \"yesterday\": want an RFC 3339 time"},
		{"bad format", []string{"--topic", "t", "--format", "xml"}, "unknown format \"xml\""},
		{"store missing", []string{"--topic", "t", "--object-store", "file:///definitely/not/here"}, "no such directory"},
		{"unreachable brokers", []string{"--topic", "t", "--brokers", "127.0.0.1:1", "--timeout", "2s"}, "127.0.0.1:1"},
		{"unknown partition", []string{"--topic", "t", "--partitions", "7"}, "no partition 7"},
		{"snapshot without store", []string{"--topic", "t", "--snapshot", "current"}, "--snapshot reads the table from the object store"},
		{"bad snapshot", []string{"--topic", "t", "--snapshot", "last tuesday", "--object-store", "file://" + filepath.Join(dir, "objects")}, "want a snapshot id, an RFC 3339 time or current"},
		{"snapshot and time", []string{"--topic", "t", "--snapshot", "1", "--from-time", "2024-01-01T00:00:00Z", "--object-store", "file://" + filepath.Join(dir, "objects")}, "--snapshot takes offsets, not times"},
		{"no table", []string{"--topic", "t", "--snapshot", "current", "--object-store", "file://" + filepath.Join(dir, "objects")}, "no such table"},
	} {
		args := append([]string{"export", "--out", out, "--progress", "none"}, tc.args...)
		if !strings.Contains(strings.Join(tc.args, " "), "--brokers") {
			args = append(args, "--brokers", b)
		}
		err := runCLI(args...)
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
			t.Fatalf("%s: error %q: want one line containing %q", tc.name, msg, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a failed export left %s behind", out)
	}
	// And the happy path writes the file.
	if err := runCLI("export", "--brokers", b, "--topic", "t", "--out", out, "--format", "jsonl", "--progress", "lines",
		"--object-store", "file://"+filepath.Join(dir, "objects")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(data), `"value":"v"`) {
		t.Fatalf("export wrote %q (%v)", data, err)
	}
}
