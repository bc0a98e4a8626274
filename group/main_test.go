package group

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stratalog/strata/meta/metatest"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

func TestMain(m *testing.M) { os.Exit(metatest.Main(m)) }

func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newStore returns a meta client on a cluster of its own.
func newStore(t *testing.T) *meta.Client { return metatest.NewStore(t) }

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
