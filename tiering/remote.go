package tiering

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/objstore"
)

// tailBytes is how much of the end of an object is read to open it: the
// footer and, for small and medium files, the page index.
const tailBytes = 256 << 10

// pieceBytes is the size of the parallel ranged GETs that load one large
// row group.
const pieceBytes = 8 << 20

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

// rgCache keeps the raw (compressed) bytes of recently read row groups, LRU
// by bytes, and fetches each missing one once however many readers want it.
type rgCache struct {
	mu       sync.Mutex
	max      int64
	used     int64
	ll       *list.List // front = most recent; values *rgEntry
	m        map[rgKey]*list.Element
	inflight map[rgKey]*rgLoad
	m8       *metrics
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

func newRGCache(maxBytes int64, m *metrics) *rgCache {
	return &rgCache{max: maxBytes, ll: list.New(), m: map[rgKey]*list.Element{}, inflight: map[rgKey]*rgLoad{}, m8: m}
}

func (c *rgCache) get(k rgKey) (span, bool) {
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
func (c *rgCache) load(ctx context.Context, k rgKey, fetch func(context.Context) (span, error)) (span, error) {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		c.mu.Unlock()
		c.m8.cacheHits.Inc()
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
	c.m8.cacheMisses.Inc()

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

func (c *rgCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// rowGroupInfo is what a reader needs to find offsets in a row group.
type rowGroupInfo struct {
	first, last int64 // offsets, from the column statistics
	maxTs       int64 // largest timestamp, from the statistics; -1 if unknown
	rows        int64
	firstRow    int64 // index of its first row in the file
	start, end  int64 // byte range of its column chunks
}

// remoteFile is an opened Parquet object: its footer, page index and row
// group map, with reads served from the row-group cache or by ranged GETs.
// It implements io.ReaderAt for parquet-go.
type remoteFile struct {
	bucket objstore.Bucket
	key    string
	size   int64
	etag   string
	// version tells apart objects stored under one key at different
	// times (the manifest entry's upload time).
	version int64
	cache   *rgCache
	m8      *metrics

	tail  span   // the end of the object
	extra []span // other ranges read at open (page index)

	f    *parquet.File
	rgs  []rowGroupInfo
	info FileInfo
}

func (rf *remoteFile) rgKey(i int) rgKey {
	return rgKey{object: rf.key, size: rf.size, etag: rf.etag, version: rf.version, rg: i}
}

// ReadAt serves parquet-go's reads: from the tail or page-index spans read
// at open, from a cached row group, or else with a ranged GET.
func (rf *remoteFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= rf.size {
		return 0, io.EOF
	}
	want := p
	if off+int64(len(p)) > rf.size {
		want = p[:rf.size-off]
	}
	if rf.tail.covers(off, len(want)) {
		return rf.finish(p, copy(want, rf.tail.data[off-rf.tail.off:]))
	}
	for _, s := range rf.extra {
		if s.covers(off, len(want)) {
			return rf.finish(p, copy(want, s.data[off-s.off:]))
		}
	}
	for i, rg := range rf.rgs {
		if off >= rg.start && off+int64(len(want)) <= rg.end {
			if s, ok := rf.cache.get(rf.rgKey(i)); ok && s.covers(off, len(want)) {
				return rf.finish(p, copy(want, s.data[off-s.off:]))
			}
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rf.m8.coldGets.Inc()
	b, err := objstore.ReadRange(ctx, rf.bucket, rf.key, off, int64(len(want)))
	if err != nil {
		return 0, err
	}
	return rf.finish(p, copy(want, b))
}

func (rf *remoteFile) finish(p []byte, n int) (int, error) {
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// openRemote reads the tail of an object and opens it as Parquet. Damaged
// files give an error wrapping ErrCorrupt; parquet-go panics are recovered.
func openRemote(ctx context.Context, b objstore.Bucket, key string, size int64, etag string, cache *rgCache, m *metrics) (rf *remoteFile, err error) {
	if size < 12 {
		return nil, fmt.Errorf("%w: object %s: %d bytes is too small for Parquet", ErrCorrupt, key, size)
	}
	n := min(size, tailBytes)
	m.coldGets.Inc()
	tail, err := objstore.ReadRange(ctx, b, key, size-n, n)
	if err != nil {
		return nil, err
	}
	return openParquet(b, key, size, etag, span{off: size - n, data: tail}, cache, m, ctx)
}

func openParquet(b objstore.Bucket, key string, size int64, etag string, tail span, cache *rgCache, m *metrics, ctx context.Context) (rf *remoteFile, err error) {
	defer func() {
		if r := recover(); r != nil {
			rf, err = nil, fmt.Errorf("%w: object %s: parquet: %v", ErrCorrupt, key, r)
		}
	}()
	// The footer length comes first: parquet-go allocates what it says.
	if n := len(tail.data); n < 8 || tail.off+int64(n) != size || string(tail.data[n-4:]) != "PAR1" {
		return nil, fmt.Errorf("%w: object %s: no Parquet footer", ErrCorrupt, key)
	} else if fl := int64(binary.LittleEndian.Uint32(tail.data[n-8:])); fl > size-12 || fl > 64<<20 {
		return nil, fmt.Errorf("%w: object %s: footer of %d bytes in a %d-byte object", ErrCorrupt, key, fl, size)
	}
	rf = &remoteFile{bucket: b, key: key, size: size, etag: etag, cache: cache, m8: m, tail: tail}
	// First the footer alone, to find the page index, then (with the page
	// index in memory) the file for real.
	f0, err := parquet.OpenFile(rf, size, parquet.SkipMagicBytes(true), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("%w: object %s: %v", ErrCorrupt, key, err)
	}
	lo, hi := int64(-1), int64(-1)
	for _, rg := range f0.Metadata().RowGroups {
		for _, cc := range rg.Columns {
			for _, r := range [][2]int64{{cc.ColumnIndexOffset, int64(cc.ColumnIndexLength)}, {cc.OffsetIndexOffset, int64(cc.OffsetIndexLength)}} {
				if r[0] <= 0 || r[1] <= 0 {
					continue
				}
				if lo < 0 || r[0] < lo {
					lo = r[0]
				}
				hi = max(hi, r[0]+r[1])
			}
		}
	}
	if lo >= 0 && hi <= size && lo < tail.off {
		if hi-lo > 64<<20 {
			return nil, fmt.Errorf("%w: object %s: page index of %d bytes", ErrCorrupt, key, hi-lo)
		}
		m.coldGets.Inc()
		data, err := objstore.ReadRange(ctx, b, key, lo, hi-lo)
		if err != nil {
			return nil, err
		}
		rf.extra = append(rf.extra, span{off: lo, data: data})
	}
	f, err := parquet.OpenFile(rf, size, parquet.SkipMagicBytes(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("%w: object %s: %v", ErrCorrupt, key, err)
	}
	rf.f = f
	if err := rf.index(); err != nil {
		return nil, err
	}
	return rf, nil
}

// index reads the file's key-value metadata and maps its row groups.
func (rf *remoteFile) index() error {
	f := rf.f
	kv := func(k string) (int64, error) {
		v, ok := f.Lookup(k)
		if !ok {
			return 0, fmt.Errorf("%w: object %s: no %s in the metadata", ErrCorrupt, rf.key, k)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: object %s: %s=%q", ErrCorrupt, rf.key, k, v)
		}
		return n, nil
	}
	ver, err := kv(kvFormatVersion)
	if err != nil {
		return err
	}
	if ver < 1 || ver > FormatVersion {
		return fmt.Errorf("%w: object %s: format version %d, this broker reads up to %d", ErrCorrupt, rf.key, ver, FormatVersion)
	}
	rf.info.Topic, _ = f.Lookup(kvTopic)
	p, err := kv(kvPartition)
	if err != nil {
		return err
	}
	rf.info.Partition = int32(p)
	if rf.info.BaseOffset, err = kv(kvBaseOffset); err != nil {
		return err
	}
	if rf.info.LastOffset, err = kv(kvLastOffset); err != nil {
		return err
	}
	// The reader decodes into Row: the columns it needs must be there with
	// the types it expects.
	schema := parquet.SchemaOf(Row{})
	for _, path := range schema.Columns() {
		leaf, ok := f.Schema().Lookup(path...)
		want, _ := schema.Lookup(path...)
		if !ok || leaf.Node.Type().Kind() != want.Node.Type().Kind() || leaf.MaxRepetitionLevel != want.MaxRepetitionLevel || leaf.MaxDefinitionLevel != want.MaxDefinitionLevel {
			return fmt.Errorf("%w: object %s: column %v missing or of another type", ErrCorrupt, rf.key, path)
		}
	}
	offLeaf, _ := f.Schema().Lookup("offset")
	tsLeaf, _ := f.Schema().Lookup("timestamp")
	md := f.Metadata()
	var firstRow int64
	next := rf.info.BaseOffset
	for i, rg := range md.RowGroups {
		info := rowGroupInfo{rows: rg.NumRows, firstRow: firstRow, start: -1, maxTs: -1}
		if rg.NumRows <= 0 || len(rg.Columns) <= offLeaf.ColumnIndex {
			return fmt.Errorf("%w: object %s: row group %d is empty or has too few columns", ErrCorrupt, rf.key, i)
		}
		for _, cc := range rg.Columns {
			s := cc.MetaData.DataPageOffset
			if d := cc.MetaData.DictionaryPageOffset; d > 0 && d < s {
				s = d
			}
			e := s + cc.MetaData.TotalCompressedSize
			if s < 0 || e > rf.size || e < s {
				return fmt.Errorf("%w: object %s: row group %d column chunk [%d, %d) outside the file", ErrCorrupt, rf.key, i, s, e)
			}
			if info.start < 0 || s < info.start {
				info.start = s
			}
			info.end = max(info.end, e)
		}
		st := rg.Columns[offLeaf.ColumnIndex].MetaData.Statistics
		mn, mx := st.MinValue, st.MaxValue
		if len(mn) != 8 || len(mx) != 8 {
			mn, mx = st.Min, st.Max
		}
		if len(mn) == 8 && len(mx) == 8 {
			info.first = int64(binary.LittleEndian.Uint64(mn))
			info.last = int64(binary.LittleEndian.Uint64(mx))
		} else {
			// No statistics: assume dense offsets (how Strata writes).
			info.first, info.last = next, next+rg.NumRows-1
		}
		if info.first < next || info.last < info.first || info.last-info.first+1 < rg.NumRows {
			return fmt.Errorf("%w: object %s: row group %d holds offsets [%d, %d] in %d rows after offset %d", ErrCorrupt, rf.key, i, info.first, info.last, rg.NumRows, next-1)
		}
		if tsLeaf.ColumnIndex < len(rg.Columns) {
			if mx := rg.Columns[tsLeaf.ColumnIndex].MetaData.Statistics.MaxValue; len(mx) == 8 {
				info.maxTs = int64(binary.LittleEndian.Uint64(mx))
			}
		}
		next = info.last + 1
		firstRow += rg.NumRows
		rf.rgs = append(rf.rgs, info)
	}
	if len(rf.rgs) == 0 || rf.rgs[0].first != rf.info.BaseOffset || rf.rgs[len(rf.rgs)-1].last != rf.info.LastOffset {
		return fmt.Errorf("%w: object %s: row groups do not cover [%d, %d]", ErrCorrupt, rf.key, rf.info.BaseOffset, rf.info.LastOffset)
	}
	return nil
}

// rowGroupFor returns the index of the first row group holding an offset
// >= offset, or len(rgs).
func (rf *remoteFile) rowGroupFor(offset int64) int {
	for i, rg := range rf.rgs {
		if rg.last >= offset {
			return i
		}
	}
	return len(rf.rgs)
}

// loadRowGroup makes sure row group i is in the cache (parallel ranged
// GETs of pieceBytes for large ones).
func (rf *remoteFile) loadRowGroup(ctx context.Context, i int) error {
	rg := rf.rgs[i]
	_, err := rf.cache.load(ctx, rf.rgKey(i), func(ctx context.Context) (span, error) {
		start := time.Now()
		n := rg.end - rg.start
		data := make([]byte, n)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for off := int64(0); off < n; off += pieceBytes {
			l := min(pieceBytes, n-off)
			wg.Add(1)
			go func(off, l int64) {
				defer wg.Done()
				rf.m8.coldGets.Inc()
				b, err := objstore.ReadRange(ctx, rf.bucket, rf.key, rg.start+off, l)
				if err == nil {
					copy(data[off:], b)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}(off, l)
		}
		wg.Wait()
		if firstErr != nil {
			return span{}, firstErr
		}
		rf.m8.coldLoadSeconds.Observe(time.Since(start).Seconds())
		rf.m8.coldReadBytes.Add(float64(n))
		return span{off: rg.start, data: data}, nil
	})
	return err
}

// errStop ends a row scan early.
var errStop = errors.New("stop")

// scan calls fn for the rows of row group i from the first one with an
// offset >= from, until fn returns errStop (or another error). The row
// group must be loaded (else it is read with ranged GETs). parquet-go
// panics on damaged pages are returned as ErrCorrupt.
func (rf *remoteFile) scan(i int, from int64, fn func(*Row) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: object %s row group %d: parquet: %v", ErrCorrupt, rf.key, i, r)
		}
	}()
	rg := rf.rgs[i]
	r := parquet.NewGenericRowGroupReader[Row](rf.f.RowGroups()[i])
	defer r.Close()
	skip := int64(0)
	if from > rg.first && rg.last-rg.first+1 == rg.rows {
		// Dense offsets: the row index is the offset's distance.
		skip = min(from-rg.first, rg.rows)
		if err := r.SeekToRow(skip); err != nil {
			return fmt.Errorf("%w: object %s row group %d: seek to row %d: %v", ErrCorrupt, rf.key, i, skip, err)
		}
	}
	buf := make([]Row, 64)
	prev := int64(-1)
	for read := skip; read < rg.rows; {
		// parquet-go decodes into the existing values: start from zero
		// rows, or a null key could come back as the previous row's
		// empty one.
		clear(buf)
		n, rerr := r.Read(buf[:min(int64(len(buf)), rg.rows-read)])
		for k := 0; k < n; k++ {
			row := &buf[k]
			if row.Offset <= prev || row.Offset < rg.first || row.Offset > rg.last {
				return fmt.Errorf("%w: object %s row group %d: offset %d out of order", ErrCorrupt, rf.key, i, row.Offset)
			}
			prev = row.Offset
			if row.Offset < from {
				continue
			}
			if err := fn(row); err != nil {
				return err
			}
		}
		read += int64(n)
		if rerr != nil {
			if errors.Is(rerr, io.EOF) && read >= rg.rows {
				break
			}
			if errors.Is(rerr, io.EOF) {
				return fmt.Errorf("%w: object %s row group %d: %d rows, header says %d", ErrCorrupt, rf.key, i, read, rg.rows)
			}
			return fmt.Errorf("%w: object %s row group %d: %v", ErrCorrupt, rf.key, i, rerr)
		}
		if n == 0 {
			return fmt.Errorf("%w: object %s row group %d: no progress reading rows", ErrCorrupt, rf.key, i)
		}
	}
	return nil
}
