package coldfile

import (
	"context"
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
	max     int64
	lru     *LRU[rgKey, span]
	obs     Observer
}

// NewCache holds up to maxBytes of row groups; obs (may be nil) is told of
// hits and misses.
func NewCache(maxBytes int64, obs Observer) *Cache {
	if obs == nil {
		obs = nopObserver{}
	}
	return &Cache{
		reading: semaphore.NewWeighted(max(maxBytes, 1)), max: maxBytes, obs: obs,
		lru: NewLRU[rgKey, span](maxBytes, func(s span) int64 { return int64(len(s.data)) }, 2*time.Minute),
	}
}

func (c *Cache) get(k rgKey) (span, bool) { return c.lru.Get(k) }

// load returns the row group's bytes, from the cache or by calling fetch
// (once for concurrent callers).
func (c *Cache) load(ctx context.Context, k rgKey, fetch func(context.Context) (span, error)) (span, error) {
	sp, hit, err := c.lru.Load(ctx, k, func(ctx context.Context) (span, error) {
		c.obs.CacheMiss()
		return fetch(ctx)
	})
	if hit {
		c.obs.CacheHit()
	}
	return sp, err
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
func (c *Cache) Size() int64 { return c.lru.Weight() }

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
