package txn

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/meta/metatest"

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

// counterPIDs hands out 1000, 1001, ...
type counterPIDs struct{ next atomic.Int64 }

func (p *counterPIDs) NewProducerID(context.Context) (int64, error) {
	return 1000 + p.next.Add(1) - 1, nil
}

// fakeMarkers records every marker written; fail, when set, decides the
// error of each target.
type fakeMarkers struct {
	mu      sync.Mutex
	written []Marker // one per target written, with Targets of one
	fail    func(Target) error
}

func (f *fakeMarkers) WriteMarkers(_ context.Context, m Marker) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(m.Targets))
	for i, t := range m.Targets {
		if f.fail != nil {
			if errs[i] = f.fail(t); errs[i] != nil {
				continue
			}
		}
		one := m
		one.Targets = []Target{t}
		f.written = append(f.written, one)
	}
	return errs
}

func (f *fakeMarkers) setFail(fn func(Target) error) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

func (f *fakeMarkers) all() []Marker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Marker(nil), f.written...)
}

func testConfig(id int32) Config {
	return Config{
		BrokerID:               id,
		StoreTimeout:           5 * time.Second,
		AbortCheckInterval:     50 * time.Millisecond,
		OwnershipCheckInterval: 20 * time.Millisecond,
		MarkerRetryBackoff:     5 * time.Millisecond,
		Logger:                 testLogger(),
	}
}

type harness struct {
	c       *Coordinator
	store   *meta.Client
	markers *fakeMarkers
	pids    *counterPIDs
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{store: newStore(t), markers: &fakeMarkers{}, pids: &counterPIDs{}}
	h.c = New(cfg, h.store, h.pids, h.markers)
	t.Cleanup(func() { h.c.Close() })
	return h
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitState polls Describe until id is in state want.
func waitState(t *testing.T, c *Coordinator, id string, want State) Description {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := c.Describe(context.Background(), []string{id})[0]
		if d.Err == nil && d.State == want {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("transactional id %q: %+v, want state %s", id, d, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
