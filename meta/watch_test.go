package meta

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestWatchTopics(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	for _, name := range []string{"a", "b"} {
		if err := c.CreateTopic(ctx, Topic{Name: name, Partitions: 1, ReplicationFactor: 1}, states(name, 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	events := c.WatchTopics(wctx)
	next := func() TopicEvent {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("watch channel closed early")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		return TopicEvent{}
	}

	type want struct {
		name    string
		deleted bool
		config  string
	}
	expect := func(w want) {
		t.Helper()
		ev := next()
		if ev.Topic.Name != w.name || ev.Deleted != w.deleted || ev.Topic.Configs["k"] != w.config {
			t.Fatalf("event %+v, want %+v", ev, w)
		}
		if !ev.Deleted && (ev.Topic.Revision == 0 || ev.Topic.ID == ([16]byte{})) {
			t.Fatalf("event topic not filled in: %+v", ev.Topic)
		}
	}
	// Existing topics first.
	expect(want{name: "a"})
	expect(want{name: "b"})

	steps := []struct {
		do   func() error
		want want
	}{
		{func() error {
			return c.CreateTopic(ctx, Topic{Name: "c", Partitions: 1, ReplicationFactor: 1}, states("c", 0, 1))
		}, want{name: "c"}},
		{func() error {
			_, err := c.UpdateTopic(ctx, "c", func(tp *Topic) error { tp.Configs = map[string]string{"k": "v"}; return nil })
			return err
		}, want{name: "c", config: "v"}},
		{func() error { return c.DeleteTopic(ctx, "a") }, want{name: "a", deleted: true}},
		{func() error { return c.DeleteTopic(ctx, "c") }, want{name: "c", deleted: true, config: "v"}}, // last known value
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		expect(s.want)
	}
	// Partition writes are not topic events.
	if err := c.FencedTxn(ctx, "b", 0, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(300 * time.Millisecond):
	}

	cancel()
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}

// gapWatcher wraps a Watcher so a test can open a gap: while stalled, events
// are dropped; breakAll then ends every watch with a compaction error, as
// etcd does for a watcher that fell behind a compaction.
type gapWatcher struct {
	clientv3.Watcher
	stalled atomic.Bool
	mu      sync.Mutex
	brk     []chan struct{}
}

func (w *gapWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	in := w.Watcher.Watch(ctx, key, opts...)
	out := make(chan clientv3.WatchResponse)
	brk := make(chan struct{})
	w.mu.Lock()
	w.brk = append(w.brk, brk)
	w.mu.Unlock()
	go func() {
		defer close(out)
		for {
			select {
			case wr, ok := <-in:
				if !ok {
					return
				}
				if w.stalled.Load() {
					continue
				}
				select {
				case out <- wr:
				case <-ctx.Done():
					return
				}
			case <-brk:
				select {
				case out <- clientv3.WatchResponse{Canceled: true, CompactRevision: 1}:
				case <-ctx.Done():
				}
				return
			}
		}
	}()
	return out
}

func (w *gapWatcher) breakAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stalled.Store(false)
	for _, b := range w.brk {
		close(b)
	}
	w.brk = nil
}

func TestWatchTopicsResync(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cli := newEtcdClient(t)
	defer cli.Close()
	gw := &gapWatcher{Watcher: cli.Watcher}
	cli.Watcher = gw
	c := New(cli, testCluster(t))

	create := func(name string) {
		t.Helper()
		if err := c.CreateTopic(ctx, Topic{Name: name, Partitions: 1, ReplicationFactor: 1}, states(name, 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		create(name)
	}
	events := c.WatchTopics(ctx)
	got := func(n int) []string {
		t.Helper()
		var out []string
		for range n {
			select {
			case ev := <-events:
				s := ev.Topic.Name
				if ev.Deleted {
					s = "-" + s
				} else if v := ev.Topic.Configs["k"]; v != "" {
					s += "=" + v
				}
				out = append(out, s)
			case <-time.After(10 * time.Second):
				t.Fatalf("after %v: no more events", out)
			}
		}
		return out
	}
	if e := got(3); fmt.Sprint(e) != "[a b c]" {
		t.Fatalf("initial events %v", e)
	}

	// Changes the watch never sees.
	gw.stalled.Store(true)
	if err := c.DeleteTopic(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	create("d")
	if _, err := c.UpdateTopic(ctx, "b", func(tp *Topic) error { tp.Configs = map[string]string{"k": "v"}; return nil }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the dropped events pass
	gw.breakAll()

	// The re-list delivers exactly the difference: changed and new topics in
	// name order, then deletions; c is unchanged and not repeated.
	if e := got(3); fmt.Sprint(e) != "[b=v d -a]" {
		t.Fatalf("events after re-list %v, want [b=v d -a]", e)
	}
	// And the new watch works.
	create("e")
	if e := got(1); fmt.Sprint(e) != "[e]" {
		t.Fatalf("event after resync %v", e)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}
