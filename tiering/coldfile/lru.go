package coldfile

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// LRU holds values by key up to a total weight, least recently used out
// first, and loads each missing one once however many callers want it at
// the same time. The lock is never held across a load. The cold reads keep
// two: row-group bytes by size (Cache) and opened Files by count (the
// tierer's).
type LRU[K comparable, V any] struct {
	mu       sync.Mutex
	max      int64
	used     int64
	weight   func(V) int64
	timeout  time.Duration
	ll       *list.List // front = most recent; values *lruEntry
	m        map[K]*list.Element
	inflight map[K]*lruLoad[V]
}

type lruEntry[K comparable, V any] struct {
	key K
	v   V
	w   int64
}

type lruLoad[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// NewLRU holds up to max of weight (weight nil: each value weighs 1); a
// load runs at most timeout, past the context of the caller that started
// it (others may wait on it).
func NewLRU[K comparable, V any](max int64, weight func(V) int64, timeout time.Duration) *LRU[K, V] {
	if weight == nil {
		weight = func(V) int64 { return 1 }
	}
	return &LRU[K, V]{max: max, weight: weight, timeout: timeout, ll: list.New(), m: map[K]*list.Element{}, inflight: map[K]*lruLoad[V]{}}
}

// Get returns the value held for k.
func (c *LRU[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).v, true
	}
	var zero V
	return zero, false
}

// Load returns the value for k, held or loaded by load (once for
// concurrent callers); hit says whether it was held. A value heavier than
// the whole LRU is returned but not kept; a failed load is not kept.
func (c *LRU[K, V]) Load(ctx context.Context, k K, load func(context.Context) (V, error)) (v V, hit bool, err error) {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*lruEntry[K, V]).v, true, nil
	}
	if l, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.v, false, l.err
		case <-ctx.Done():
			return v, false, ctx.Err()
		}
	}
	l := &lruLoad[V]{done: make(chan struct{})}
	c.inflight[k] = l
	c.mu.Unlock()

	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	l.v, l.err = load(lctx)
	cancel()

	c.mu.Lock()
	delete(c.inflight, k)
	if w := c.weight(l.v); l.err == nil && w <= c.max {
		c.m[k] = c.ll.PushFront(&lruEntry[K, V]{key: k, v: l.v, w: w})
		c.used += w
		for c.used > c.max && c.ll.Len() > 1 {
			c.remove(c.ll.Back())
		}
	}
	c.mu.Unlock()
	close(l.done)
	return l.v, false, l.err
}

// DropIf removes the values whose key drop accepts.
func (c *LRU[K, V]) DropIf(drop func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if drop(k) {
			c.remove(e)
		}
	}
}

func (c *LRU[K, V]) remove(e *list.Element) {
	en := e.Value.(*lruEntry[K, V])
	c.ll.Remove(e)
	delete(c.m, en.key)
	c.used -= en.w
}

// Weight is the total weight of the values held.
func (c *LRU[K, V]) Weight() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
