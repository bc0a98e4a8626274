package coldfile

import (
	"container/list"
	"context"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// rgKey names one row group of one object version.
type rgKey struct {
	object  string
	size    int64
	etag    string
	version int64
	rg      int
}

// span is a byte range of an object held in memory.
type span struct {
	off  int64
	data []byte
}

func (s span) covers(off int64, n int) bool {
	return off >= s.off && off+int64(n) <= s.off+int64(len(s.data))
}

// Cache keeps the raw (compressed) bytes of recently read row groups, LRU
// by bytes, and fetches each missing one once however many readers want it.
// One Cache serves many Files (a broker's cold reads). It also bounds the
// bytes those Files read at once (row groups being loaded, pages held by a
// scan) to its size: however many cold reads run, their buffers stay
// within twice the cache size.
type Cache struct {
	reading *semaphore.Weighted

	mu       sync.Mutex
	max      int64
	used     int64
	ll       *list.List // front = most recent; values *rgEntry
	m        map[rgKey]*list.Element
	inflight map[rgKey]*rgLoad
	obs      Observer
}

type rgEntry struct {
	key rgKey
	sp  span
}

type rgLoad struct {
	done chan struct{}
	sp   span
	err  error
}

// NewCache holds up to maxBytes of row groups; obs (may be nil) is told of
// hits and misses.
func NewCache(maxBytes int64, obs Observer) *Cache {
	if obs == nil {
		obs = nopObserver{}
	}
	return &Cache{reading: semaphore.NewWeighted(max(maxBytes, 1)), max: maxBytes, ll: list.New(), m: map[rgKey]*list.Element{}, inflight: map[rgKey]*rgLoad{}, obs: obs}
}

func (c *Cache) get(k rgKey) (span, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*rgEntry).sp, true
	}
	return span{}, false
}

// load returns the row group's bytes, from the cache or by calling fetch
// (once for concurrent callers). The lock is never held across fetch.
func (c *Cache) load(ctx context.Context, k rgKey, fetch func(context.Context) (span, error)) (span, error) {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		c.mu.Unlock()
		c.obs.CacheHit()
		return e.Value.(*rgEntry).sp, nil
	}
	if l, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.sp, l.err
		case <-ctx.Done():
			return span{}, ctx.Err()
		}
	}
	l := &rgLoad{done: make(chan struct{})}
	c.inflight[k] = l
	c.mu.Unlock()
	c.obs.CacheMiss()

	// The fetch outlives the first caller's context: others may wait on it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	l.sp, l.err = fetch(fctx)
	cancel()

	c.mu.Lock()
	delete(c.inflight, k)
	if l.err == nil && int64(len(l.sp.data)) <= c.max {
		c.m[k] = c.ll.PushFront(&rgEntry{key: k, sp: l.sp})
		c.used += int64(len(l.sp.data))
		for c.used > c.max && c.ll.Len() > 1 {
			old := c.ll.Back()
			e := old.Value.(*rgEntry)
			c.ll.Remove(old)
			delete(c.m, e.key)
			c.used -= int64(len(e.sp.data))
		}
	}
	c.mu.Unlock()
	close(l.done)
	return l.sp, l.err
}

// reserve waits until n more bytes may be read at once (a read larger than
// the whole budget waits for all of it) and returns the release.
func (c *Cache) reserve(ctx context.Context, n int64) (func(), error) {
	if c == nil {
		return func() {}, nil
	}
	n = min(max(n, 1), max(c.max, 1))
	if err := c.reading.Acquire(ctx, n); err != nil {
		return nil, err
	}
	return func() { c.reading.Release(n) }, nil
}

// Size is the bytes of row groups held.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Observer is told of a reader's work, for metrics. Its methods must be
// cheap and safe for concurrent use.
type Observer interface {
	// ObjectGet: one ranged GET was sent to the object store.
	ObjectGet()
	CacheHit()
	CacheMiss()
	// RowGroupLoaded: a row group of n bytes was read from the store.
	RowGroupLoaded(n int64, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ObjectGet()                          {}
func (nopObserver) CacheHit()                           {}
func (nopObserver) CacheMiss()                          {}
func (nopObserver) RowGroupLoaded(int64, time.Duration) {}
