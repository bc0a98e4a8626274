package coldfile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/stratalog/strata/objstore"
)

// tailBytes is how much of the end of an object is read to open it: the
// footer and, for small and medium files, the page index.
const tailBytes = 256 << 10

// pieceBytes is the size of the parallel ranged GETs that load one large
// row group.
const pieceBytes = 8 << 20

// RowGroup is what a reader needs to find offsets in a row group.
type RowGroup struct {
	First, Last  int64 // offsets, from the column statistics
	MinTs, MaxTs int64 // timestamps, from the statistics; -1 if unknown
	Rows         int64
	FirstRow     int64 // index of its first row in the file
	Start, End   int64 // byte range of its column chunks
}

// Options are the optional parts of Open.
type Options struct {
	// ETag and Version tell apart objects stored under one key at
	// different times (Version: the manifest entry's upload time); they
	// name the file's row groups in the Cache.
	ETag    string
	Version int64
	// Cache holds loaded row groups across Files; without one, a File
	// holds only the row group last loaded.
	Cache *Cache
	// Observer is told of GETs, cache hits and loads (may be nil).
	Observer Observer
}

// File is an opened Parquet object: its footer, page index and row group
// map, with reads served from memory (the tail, the page index, loaded row
// groups) or by ranged GETs. Safe for concurrent use when it has a Cache.
type File struct {
	bucket objstore.Bucket
	key    string
	size   int64
	opts   Options
	obs    Observer
	gets   atomic.Int64
	// strayReads counts reads of a paged scan outside the pages it loaded
	// (each a GET of its own; tests want none).
	strayReads atomic.Int64

	tail  span   // the end of the object
	extra []span // other ranges read at open (page index)

	mu  sync.Mutex
	cur span // the row group last loaded, without a Cache

	f     *parquet.File
	rgs   []RowGroup
	pages [][]chunkPages // per row group, nil without an offset index
	info  FileInfo
}

// Key is the object's key.
func (rf *File) Key() string { return rf.key }

// Info is the file's key-value metadata (LogBytes, Records, timestamps and
// epochs are not read back: the manifest has them).
func (rf *File) Info() FileInfo { return rf.info }

// RowGroups are the file's row groups in offset order.
func (rf *File) RowGroups() []RowGroup { return rf.rgs }

// Gets is how many ranged GETs this File has sent.
func (rf *File) Gets() int64 { return rf.gets.Load() }

func (rf *File) rgKey(i int) rgKey {
	return rgKey{object: rf.key, size: rf.size, etag: rf.opts.ETag, version: rf.opts.Version, rg: i}
}

func (rf *File) readRange(ctx context.Context, off, n int64) ([]byte, error) {
	rf.gets.Add(1)
	rf.obs.ObjectGet()
	return objstore.ReadRange(ctx, rf.bucket, rf.key, off, n)
}

// ReadAt serves parquet-go's reads: from the tail or page-index spans read
// at open, from a loaded row group, or else with a ranged GET.
func (rf *File) ReadAt(p []byte, off int64) (int, error) {
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
	if rf.opts.Cache == nil {
		rf.mu.Lock()
		s := rf.cur
		rf.mu.Unlock()
		if s.covers(off, len(want)) {
			return rf.finish(p, copy(want, s.data[off-s.off:]))
		}
	} else {
		for i, rg := range rf.rgs {
			if off >= rg.Start && off+int64(len(want)) <= rg.End {
				if s, ok := rf.opts.Cache.get(rf.rgKey(i)); ok && s.covers(off, len(want)) {
					return rf.finish(p, copy(want, s.data[off-s.off:]))
				}
				break
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := rf.readRange(ctx, off, int64(len(want)))
	if err != nil {
		return 0, err
	}
	return rf.finish(p, copy(want, b))
}

func (rf *File) finish(p []byte, n int) (int, error) {
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Open reads the tail of an object of size bytes (size <= 0: asked of the
// store) and opens it as a cold-tier Parquet file: the format version, the
// strata.* metadata and the columns Row needs are checked, and the row
// groups mapped. Damaged files give an error wrapping ErrCorrupt;
// parquet-go panics are recovered.
func Open(ctx context.Context, b objstore.Bucket, key string, size int64, opts Options) (*File, error) {
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if size <= 0 {
		oi, err := b.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		size = oi.Size
	}
	if size < 12 {
		return nil, fmt.Errorf("%w: object %s: %d bytes is too small for Parquet", ErrCorrupt, key, size)
	}
	rf := &File{bucket: b, key: key, size: size, opts: opts, obs: opts.Observer}
	n := min(size, tailBytes)
	tail, err := rf.readRange(ctx, size-n, n)
	if err != nil {
		return nil, err
	}
	rf.tail = span{off: size - n, data: tail}
	if err := rf.open(ctx); err != nil {
		return nil, err
	}
	return rf, nil
}

func (rf *File) open(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: object %s: parquet: %v", ErrCorrupt, rf.key, r)
		}
	}()
	key, size, tail := rf.key, rf.size, rf.tail
	// The footer length comes first: parquet-go allocates what it says.
	if n := len(tail.data); n < 8 || tail.off+int64(n) != size || string(tail.data[n-4:]) != "PAR1" {
		return fmt.Errorf("%w: object %s: no Parquet footer", ErrCorrupt, key)
	} else if fl := int64(binary.LittleEndian.Uint32(tail.data[n-8:])); fl > size-12 || fl > 64<<20 {
		return fmt.Errorf("%w: object %s: footer of %d bytes in a %d-byte object", ErrCorrupt, key, fl, size)
	}
	// First the footer alone, to find the page index, then (with the page
	// index in memory) the file for real.
	f0, err := parquet.OpenFile(rf, size, parquet.SkipMagicBytes(true), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("%w: object %s: %v", ErrCorrupt, key, err)
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
			return fmt.Errorf("%w: object %s: page index of %d bytes", ErrCorrupt, key, hi-lo)
		}
		data, err := rf.readRange(ctx, lo, hi-lo)
		if err != nil {
			return err
		}
		rf.extra = append(rf.extra, span{off: lo, data: data})
	}
	f, err := parquet.OpenFile(rf, size, parquet.SkipMagicBytes(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("%w: object %s: %v", ErrCorrupt, key, err)
	}
	rf.f = f
	return rf.index()
}

// index reads the file's key-value metadata and maps its row groups.
func (rf *File) index() error {
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
	for _, path := range Schema.Columns() {
		leaf, ok := f.Schema().Lookup(path...)
		want, _ := Schema.Lookup(path...)
		if !ok || leaf.Node.Type().Kind() != want.Node.Type().Kind() || leaf.MaxRepetitionLevel != want.MaxRepetitionLevel || leaf.MaxDefinitionLevel != want.MaxDefinitionLevel {
			return fmt.Errorf("%w: object %s: column %v missing or of another type", ErrCorrupt, rf.key, path)
		}
	}
	offLeaf, _ := f.Schema().Lookup(ColOffset)
	tsLeaf, _ := f.Schema().Lookup(ColTimestamp)
	md := f.Metadata()
	var firstRow int64
	next := rf.info.BaseOffset
	for i, rg := range md.RowGroups {
		info := RowGroup{Rows: rg.NumRows, FirstRow: firstRow, Start: -1, MinTs: -1, MaxTs: -1}
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
			if info.Start < 0 || s < info.Start {
				info.Start = s
			}
			info.End = max(info.End, e)
		}
		if mn, mx, ok := stats64(rg.Columns[offLeaf.ColumnIndex].MetaData.Statistics); ok {
			info.First, info.Last = mn, mx
		} else {
			// No statistics: assume dense offsets (how Strata writes).
			info.First, info.Last = next, next+rg.NumRows-1
		}
		if info.First < next || info.Last < info.First || info.Last-info.First+1 < rg.NumRows {
			return fmt.Errorf("%w: object %s: row group %d holds offsets [%d, %d] in %d rows after offset %d", ErrCorrupt, rf.key, i, info.First, info.Last, rg.NumRows, next-1)
		}
		if tsLeaf.ColumnIndex < len(rg.Columns) {
			if mn, mx, ok := stats64(rg.Columns[tsLeaf.ColumnIndex].MetaData.Statistics); ok {
				info.MinTs, info.MaxTs = mn, mx
			}
		}
		next = info.Last + 1
		firstRow += rg.NumRows
		rf.rgs = append(rf.rgs, info)
		rf.pages = append(rf.pages, rf.pagesOf(i))
	}
	if len(rf.rgs) == 0 || rf.rgs[0].First != rf.info.BaseOffset || rf.rgs[len(rf.rgs)-1].Last != rf.info.LastOffset {
		return fmt.Errorf("%w: object %s: row groups do not cover [%d, %d]", ErrCorrupt, rf.key, rf.info.BaseOffset, rf.info.LastOffset)
	}
	return nil
}

// stats64 reads the min and max of an INT64 column chunk's statistics.
func stats64(st format.Statistics) (int64, int64, bool) {
	mn, mx := st.MinValue, st.MaxValue
	if len(mn) != 8 || len(mx) != 8 {
		mn, mx = st.Min, st.Max
	}
	if len(mn) != 8 || len(mx) != 8 {
		return 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(mn)), int64(binary.LittleEndian.Uint64(mx)), true
}

// RowGroupFor returns the index of the first row group holding an offset
// >= offset, or len(RowGroups()).
func (rf *File) RowGroupFor(offset int64) int {
	for i, rg := range rf.rgs {
		if rg.Last >= offset {
			return i
		}
	}
	return len(rf.rgs)
}

// LoadRowGroup reads row group i into memory: into the Cache (parallel
// ranged GETs of pieceBytes for large ones), or without one as the File's
// current row group.
func (rf *File) LoadRowGroup(ctx context.Context, i int) error {
	if rf.opts.Cache != nil {
		_, err := rf.opts.Cache.load(ctx, rf.rgKey(i), func(ctx context.Context) (span, error) { return rf.fetchRowGroup(ctx, i) })
		return err
	}
	rf.mu.Lock()
	rf.cur = span{} // dropped before the next one is read
	rf.mu.Unlock()
	sp, err := rf.fetchRowGroup(ctx, i)
	if err != nil {
		return err
	}
	rf.mu.Lock()
	rf.cur = sp
	rf.mu.Unlock()
	return nil
}

func (rf *File) fetchRowGroup(ctx context.Context, i int) (span, error) {
	rg := rf.rgs[i]
	n := rg.End - rg.Start
	release, err := rf.opts.Cache.reserve(ctx, n)
	if err != nil {
		return span{}, err
	}
	defer release()
	start := time.Now()
	data := make([]byte, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for off := int64(0); off < n; off += pieceBytes {
		l := min(pieceBytes, n-off)
		wg.Add(1)
		go func(off, l int64) {
			defer wg.Done()
			b, err := rf.readRange(ctx, rg.Start+off, l)
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
	rf.obs.RowGroupLoaded(n, time.Since(start))
	return span{off: rg.Start, data: data}, nil
}

// ErrStop, returned by a scan's callback, ends the scan early; the scan
// returns it.
var ErrStop = errors.New("coldfile: stop")

// ScanRowGroup calls fn for the rows of row group i from the first one with
// an offset >= from, until fn returns an error (ErrStop to just stop). The
// row group should be loaded (else it is read with ranged GETs). parquet-go
// panics on damaged pages are returned as ErrCorrupt.
func (rf *File) ScanRowGroup(i int, from int64, fn func(*Row) error) error {
	return rf.scan(i, rf.f.RowGroups()[i], from, rf.rgs[i].Last+1, fn)
}

// scan reads the rows of g (row group i, or the same read through loaded
// pages) from offset from, below offset to.
func (rf *File) scan(i int, g parquet.RowGroup, from, to int64, fn func(*Row) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: object %s row group %d: parquet: %v", ErrCorrupt, rf.key, i, r)
		}
	}()
	rg := rf.rgs[i]
	r := parquet.NewGenericRowGroupReader[Row](g)
	defer r.Close()
	skip := int64(0)
	dense := rg.Last-rg.First+1 == rg.Rows
	if from > rg.First && dense {
		// Dense offsets: the row index is the offset's distance.
		skip = min(from-rg.First, rg.Rows)
		if err := r.SeekToRow(skip); err != nil {
			return fmt.Errorf("%w: object %s row group %d: seek to row %d: %v", ErrCorrupt, rf.key, i, skip, err)
		}
	}
	end := rg.Rows
	if dense && to <= rg.Last {
		end = max(to-rg.First, skip)
	}
	buf := make([]Row, 64)
	prev := int64(-1)
	for read := skip; read < end; {
		// parquet-go decodes into the existing values: start from zero
		// rows, or a null key could come back as the previous row's
		// empty one.
		clear(buf)
		n, rerr := r.Read(buf[:min(int64(len(buf)), end-read)])
		for k := 0; k < n; k++ {
			row := &buf[k]
			if row.Offset <= prev || row.Offset < rg.First || row.Offset > rg.Last {
				return fmt.Errorf("%w: object %s row group %d: offset %d out of order", ErrCorrupt, rf.key, i, row.Offset)
			}
			prev = row.Offset
			if row.Offset < from {
				continue
			}
			if row.Offset >= to {
				return nil
			}
			if err := fn(row); err != nil {
				return err
			}
		}
		read += int64(n)
		if rerr != nil {
			if errors.Is(rerr, io.EOF) && read >= end {
				break
			}
			if errors.Is(rerr, io.EOF) {
				return fmt.Errorf("%w: object %s row group %d: %d rows, header says %d", ErrCorrupt, rf.key, i, read, rg.Rows)
			}
			return fmt.Errorf("%w: object %s row group %d: %v", ErrCorrupt, rf.key, i, rerr)
		}
		if n == 0 {
			return fmt.Errorf("%w: object %s row group %d: no progress reading rows", ErrCorrupt, rf.key, i)
		}
	}
	return nil
}

// ScanRange calls fn with the rows whose offset is in [from, to), in
// order, loading only the row groups that can hold them (pruned by their
// offset statistics), one at a time.
func (rf *File) ScanRange(ctx context.Context, from, to int64, fn func(*Row) error) error {
	for i := rf.RowGroupFor(from); i < len(rf.rgs) && rf.rgs[i].First < to; i++ {
		if err := rf.LoadRowGroup(ctx, i); err != nil {
			return err
		}
		err := rf.ScanRowGroup(i, from, func(r *Row) error {
			if r.Offset >= to {
				return ErrStop
			}
			return fn(r)
		})
		if errors.Is(err, ErrStop) {
			break
		}
		if err != nil {
			return err
		}
	}
	if rf.opts.Cache == nil {
		rf.mu.Lock()
		rf.cur = span{}
		rf.mu.Unlock()
	}
	return nil
}
