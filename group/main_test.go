package group

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
)

// One embedded etcd per test binary; each test gets its own cluster name.
var (
	testCli     *clientv3.Client
	testCounter atomic.Int64
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "group-test-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	testCli, err = clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testCli.Close()
	return m.Run()
}

func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newStore returns a meta client on a cluster name no other test uses.
func newStore(t *testing.T) *meta.Client {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return meta.New(testCli, fmt.Sprintf("%s-%d", name, testCounter.Add(1)))
}

// testConfig has short timeouts and a short initial rebalance delay.
func testConfig() Config {
	return Config{
		BrokerID:              1,
		InitialRebalanceDelay: 200 * time.Millisecond,
		MinSessionTimeout:     10 * time.Millisecond,
		StoreTimeout:          5 * time.Second,
		Logger:                testLogger(),
	}
}

func newCoordinator(t *testing.T, store Store, mutate ...func(*Config)) *Coordinator {
	t.Helper()
	cfg := testConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	c := New(cfg, store)
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumerMeta is consumer-protocol metadata subscribing to topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

// joinReq is a consumer JoinGroup for group g.
func joinReq(g, memberID string, session time.Duration, topics ...string) JoinRequest {
	return JoinRequest{
		Group: g, MemberID: memberID, ClientID: "client", ClientHost: "/127.0.0.1",
		SessionTimeout: session, RebalanceTimeout: session,
		ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: consumerMeta(topics...)}},
		RequireKnownMemberID: true,
	}
}

// joinAsync runs Join in a goroutine.
func joinAsync(ctx context.Context, c *Coordinator, req JoinRequest) <-chan JoinResult {
	ch := make(chan JoinResult, 1)
	go func() { ch <- c.Join(ctx, req) }()
	return ch
}

// joinNew goes through the KIP-394 flow: MEMBER_ID_REQUIRED, then the real
// join, whose result arrives on the channel.
func joinNew(t *testing.T, ctx context.Context, c *Coordinator, req JoinRequest) <-chan JoinResult {
	t.Helper()
	res := c.Join(ctx, req)
	if !errors.Is(res.Err, kerr.MemberIDRequired) || res.MemberID == "" {
		t.Fatalf("first join: %+v, want MEMBER_ID_REQUIRED with an id", res)
	}
	req.MemberID = res.MemberID
	return joinAsync(ctx, c, req)
}

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

func wantErr(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: %v, want success", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %s", what, err, want.Message)
	}
}

// eventually retries cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
