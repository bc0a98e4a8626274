package meta

import (
	"context"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TopicEvent is one change seen by WatchTopics. For a deletion, Topic is the
// last known value (at least its Name).
type TopicEvent struct {
	Topic   Topic
	Deleted bool
}

// WatchTopics delivers every existing topic as an event, then every change,
// in etcd order; a topic being created appears once it is live. It lists at
// a revision R and watches from R+1, so nothing is missed or seen twice. When the watch breaks (compaction, lost leader, ...)
// it re-lists and re-watches, delivering only what differs from what it
// already delivered (including deletions that happened in the gap). The
// channel is closed when ctx ends or the etcd client is closed.
func (c *Client) WatchTopics(ctx context.Context) <-chan TopicEvent {
	prefix := c.keys.Topics()
	return watchEvents(ctx, c, prefix, 16, func(key string, kv *mvccpb.KeyValue, deleted bool) (TopicEvent, bool) {
		ev := TopicEvent{Deleted: deleted}
		if kv != nil {
			t, err := decodeTopic(kv.Key, kv.Value, kv.ModRevision)
			if err != nil {
				c.log.Error("meta: skipping undecodable topic", "key", key, "err", err)
				if !deleted {
					return ev, false
				}
			}
			if t.creating() && !deleted {
				return ev, false // not a topic until it is live
			}
			ev.Topic = t
		}
		ev.Topic.Name = strings.TrimPrefix(key, prefix)
		return ev, true
	})
}

// watchEvents runs listWatch on prefix in the background and delivers
// what event makes of each change (ok false: nothing to deliver) on a
// channel of capacity buf, closed when the watch ends.
func watchEvents[E any](ctx context.Context, c *Client, prefix string, buf int, event func(key string, kv *mvccpb.KeyValue, deleted bool) (E, bool)) <-chan E {
	ch := make(chan E, buf)
	go func() {
		defer close(ch)
		c.listWatch(ctx, prefix, func(key string, kv *mvccpb.KeyValue, deleted bool) bool {
			ev, ok := event(key, kv, deleted)
			if !ok {
				return true
			}
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return ch
}

// watchLoop is the one list-then-watch loop of the package: it lists prefix
// (keys and values, or only the count when countOnly) at some revision R,
// hands the listing to listed, then watches from R+1 and hands each event to
// changed, so nothing is missed or seen twice. When the watch breaks
// (compaction, no etcd leader, ...) it pauses (growing from 200ms to 2s) and
// lists again. It returns when ctx ends, the client is closed, or a callback
// returns false.
func (c *Client) watchLoop(ctx context.Context, prefix string, countOnly bool, listed func(*clientv3.GetResponse) bool, changed func(*clientv3.Event) bool) {
	failures := 0
	pause := func() bool {
		failures++
		d := min(100*time.Millisecond<<min(failures, 5), 2*time.Second)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-c.cli.Ctx().Done():
			return false
		case <-t.C:
			return true
		}
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if countOnly {
		opts = append(opts, clientv3.WithCountOnly())
	}
	for ctx.Err() == nil && c.cli.Ctx().Err() == nil {
		resp, err := c.cli.Get(ctx, prefix, opts...)
		if err != nil {
			c.log.Warn("meta: list failed, retrying", "prefix", prefix, "err", err)
			if !pause() {
				return
			}
			continue
		}
		if !listed(resp) {
			return
		}
		if !c.watchFrom(ctx, prefix, resp.Header.Revision+1, func(ev *clientv3.Event) bool {
			failures = 0
			return changed(ev)
		}) {
			return
		}
		if !pause() {
			return
		}
	}
}

// watchFrom watches prefix from revision rev and hands every event to
// changed. It returns false when changed did, true when the watch ended
// (broken, or ctx done).
func (c *Client) watchFrom(ctx context.Context, prefix string, rev int64, changed func(*clientv3.Event) bool) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range c.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithPrevKV()) {
		if err := wr.Err(); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("meta: watch broken, re-listing", "prefix", prefix, "err", err)
			}
			return true
		}
		for _, ev := range wr.Events {
			if !changed(ev) {
				return false
			}
		}
	}
	return true
}

// listWatch runs watchLoop on prefix and calls emit for each key that
// appears or changes (kv = its new value) and for each key deleted (kv = its
// last known value, possibly nil). After a broken watch it emits only the
// differences between the new listing and what it emitted before
// (deletions in the gap included). It returns when watchLoop does.
func (c *Client) listWatch(ctx context.Context, prefix string, emit func(key string, kv *mvccpb.KeyValue, deleted bool) bool) {
	known := map[string]*mvccpb.KeyValue{}
	listed := func(resp *clientv3.GetResponse) bool {
		seen := make(map[string]bool, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			k := string(kv.Key)
			seen[k] = true
			if old, ok := known[k]; ok && old.ModRevision == kv.ModRevision {
				continue
			}
			known[k] = kv
			if !emit(k, kv, false) {
				return false
			}
		}
		var gone []string
		for k := range known {
			if !seen[k] {
				gone = append(gone, k)
			}
		}
		sort.Strings(gone)
		for _, k := range gone {
			prev := known[k]
			delete(known, k)
			if !emit(k, prev, true) {
				return false
			}
		}
		return true
	}
	changed := func(ev *clientv3.Event) bool {
		k := string(ev.Kv.Key)
		if ev.Type == mvccpb.DELETE {
			prev := known[k]
			if prev == nil {
				prev = ev.PrevKv
			}
			delete(known, k)
			return emit(k, prev, true)
		}
		known[k] = ev.Kv
		return emit(k, ev.Kv, false)
	}
	c.watchLoop(ctx, prefix, false, listed, changed)
}
