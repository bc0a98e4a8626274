package meta

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBrokerConfigs: per-broker and cluster-wide dynamic configs are
// written by compare-and-swap, an empty set deletes the key, fn's error
// writes nothing, and the watch delivers every change.
func TestBrokerConfigs(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	got := make(chan DynamicBrokerConfigs, 16)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.WatchBrokerConfigs(wctx, func(d DynamicBrokerConfigs) { got <- d })
	next := func(want func(DynamicBrokerConfigs) bool) {
		t.Helper()
		for {
			select {
			case d := <-got:
				if want(d) {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the watch did not deliver the change")
			}
		}
	}
	next(func(d DynamicBrokerConfigs) bool { return len(d) == 0 })
	set := func(name, value string) func(map[string]string) error {
		return func(m map[string]string) error { m[name] = value; return nil }
	}
	if _, err := c.UpdateBrokerConfigs(ctx, BrokerConfigsDefault, set("log.retention.ms", "1000")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateBrokerConfigs(ctx, 2, set("log.level", "debug")); err != nil {
		t.Fatal(err)
	}
	next(func(d DynamicBrokerConfigs) bool {
		return d[BrokerConfigsDefault]["log.retention.ms"] == "1000" && d[2]["log.level"] == "debug"
	})
	boom := errors.New("refused")
	if _, err := c.UpdateBrokerConfigs(ctx, 2, func(map[string]string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error: %v", err)
	}
	if _, err := c.UpdateBrokerConfigs(ctx, 2, func(m map[string]string) error { delete(m, "log.level"); return nil }); err != nil {
		t.Fatal(err)
	}
	next(func(d DynamicBrokerConfigs) bool { _, ok := d[2]; return !ok && len(d) == 1 })
	if _, err := c.UpdateBrokerConfigs(ctx, -2, set("x", "y")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad scope: %v", err)
	}
}
