package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testBroker is one in-process broker with its own data dir and embedded
// etcd, on free loopback ports.
type testBroker struct {
	t   testing.TB
	cfg Config
	srv *Server
	// icebergProps are the IO properties iceberg-go readers of the
	// broker's tables need (s3 endpoint and keys).
	icebergProps map[string]string
}

func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startBroker(t testing.TB, mutate ...func(*Config)) *testBroker {
	t.Helper()
	cfg := Config{
		DataDir:                t.TempDir(),
		Listen:                 "127.0.0.1:0",
		MetricsListen:          "127.0.0.1:0",
		BrokerID:               1,
		AutoCreateTopics:       true,
		DefaultPartitions:      1,
		RetentionCheckInterval: 100 * time.Millisecond,
		Logger:                 testLogger(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	tb := &testBroker{t: t, cfg: cfg}
	tb.start()
	t.Cleanup(func() { tb.stop() })
	return tb
}

func (tb *testBroker) start() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, tb.cfg)
	if err != nil {
		tb.t.Fatalf("start broker: %v", err)
	}
	tb.srv = srv
	// Serve every partition before the test goes on, as a client that
	// waits for /readyz would (the listener answers NOT_LEADER_OR_FOLLOWER
	// for partitions still being opened before that).
	select {
	case <-srv.Broker().Loaded():
	case <-ctx.Done():
		tb.t.Fatalf("partitions not opened: %v", ctx.Err())
	}
	// Keep the port across restarts so clients reconnect to the same place.
	tb.cfg.Listen = srv.KafkaAddr()
}

func (tb *testBroker) stop() {
	if tb.srv != nil {
		if err := tb.srv.Close(); err != nil {
			tb.t.Errorf("close broker: %v", err)
		}
		tb.srv = nil
	}
}

func (tb *testBroker) restart() {
	tb.t.Helper()
	tb.stop()
	tb.start()
}

func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.srv.KafkaAddr()), kgo.RetryTimeout(20 * time.Second), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

func (tb *testBroker) admin() *kadm.Client {
	return kadm.NewClient(tb.client())
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumeAll reads n records from the start of topic.
func consumeAll(t *testing.T, tb *testBroker, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := tb.client(append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}
