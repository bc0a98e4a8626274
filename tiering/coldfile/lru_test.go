package coldfile

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestLRU: values go out least recently used first by weight, a value
// heavier than the whole LRU or a failed load is not kept, concurrent
// callers share one load, and DropIf removes what it matches.
func TestLRU(t *testing.T) {
	ctx := context.Background()
	c := NewLRU[string, int](10, func(v int) int64 { return int64(v) }, time.Minute)
	load := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return v, nil }
	}
	for _, k := range []struct {
		key string
		v   int
	}{{"a", 4}, {"b", 4}} {
		if _, hit, err := c.Load(ctx, k.key, load(k.v)); hit || err != nil {
			t.Fatalf("first load of %s: hit %v, %v", k.key, hit, err)
		}
	}
	c.Get("a")                   // a is now the most recent
	c.Load(ctx, "c", load(4))    // 12 > 10: b goes
	c.Load(ctx, "big", load(11)) // heavier than all: returned, not kept
	c.Load(ctx, "bad", func(context.Context) (int, error) { return 1, errors.New("store down") })
	for key, want := range map[string]bool{"a": true, "b": false, "c": true, "big": false, "bad": false} {
		if _, ok := c.Get(key); ok != want {
			t.Errorf("%s held: %v, want %v", key, ok, want)
		}
	}
	if c.Weight() != 8 {
		t.Errorf("weight %d, want 8", c.Weight())
	}

	// Concurrent callers of a missing key share the one load.
	release := make(chan struct{})
	started := make(chan struct{})
	loads := 0
	slow := func(context.Context) (int, error) {
		loads++
		close(started)
		<-release
		return 2, nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Load(ctx, "d", slow) }()
	<-started
	results := make(chan int, 3)
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); v, _, _ := c.Load(ctx, "d", slow); results <- v }()
	}
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 2 {
			t.Errorf("waiter got %d, want 2", v)
		}
	}
	if loads != 1 {
		t.Errorf("%d loads for concurrent callers, want 1", loads)
	}

	c.DropIf(func(k string) bool { return k == "a" || k == "d" })
	if _, ok := c.Get("a"); ok {
		t.Error("a still held after DropIf")
	}
	if c.Weight() != 4 {
		t.Errorf("weight %d after DropIf, want 4", c.Weight())
	}
}
