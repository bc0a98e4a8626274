package coldfile

import (
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Page-level reads. A row group is written to hold ~64 MiB of records
// (good for the query engines), but a consumer fetch wants a partition max
// bytes (1 MiB by default) of it: loading the whole row group for that
// reads and holds 64 times what is returned. With the offset index (page
// locations, read at Open), a fetch loads only the pages of each column that
// hold the rows it can return.

// pageLoc is one data page of a column chunk.
type pageLoc struct {
	off, size int64 // bytes, the page header included
	firstRow  int64 // index in the row group of its first row
}

// chunkPages are the pages of one column chunk, with what the chunk's
// metadata says of it.
type chunkPages struct {
	pages        []pageLoc
	dictOff      int64 // dictionary page offset, 0 if none
	dataOff      int64 // first data page offset
	end          int64 // end of the chunk
	compressed   int64 // total compressed bytes
	uncompressed int64 // total uncompressed bytes
	// repeated: a row ends only where the next one's first value is read,
	// so a read of rows up to r also needs the page holding row r+1.
	repeated bool
}

// readPad is read past the last page of a column: parquet-go's buffered
// reader fills its buffer (4 KiB by default) beyond the page it parses.
const readPad = 8 << 10

// coalesceGap: ranges of the columns closer than this are read with one GET.
const coalesceGap = 64 << 10

// pagesOf maps the pages of row group i from the offset index; nil when a
// column has none or it does not fit the chunk (the row group is then read
// whole).
func (rf *File) pagesOf(i int) []chunkPages {
	frg := rf.f.RowGroups()[i]
	md := rf.f.Metadata().RowGroups[i]
	rows := md.NumRows
	out := make([]chunkPages, len(frg.ColumnChunks()))
	paths := rf.f.Schema().Columns()
	for c, cc := range frg.ColumnChunks() {
		if c >= len(paths) {
			return nil
		}
		leaf, ok := rf.f.Schema().Lookup(paths[c]...)
		if !ok {
			return nil
		}
		oi, err := cc.OffsetIndex()
		if err != nil || oi.NumPages() == 0 || c >= len(md.Columns) {
			return nil
		}
		m := md.Columns[c].MetaData
		cp := chunkPages{dictOff: m.DictionaryPageOffset, dataOff: m.DataPageOffset,
			compressed: max(m.TotalCompressedSize, 1), uncompressed: m.TotalUncompressedSize, repeated: leaf.MaxRepetitionLevel > 0}
		start := m.DataPageOffset
		if cp.dictOff > 0 && cp.dictOff < start {
			start = cp.dictOff
		}
		cp.end = start + m.TotalCompressedSize
		prevRow, prevEnd := int64(-1), int64(m.DataPageOffset)
		for p := range oi.NumPages() {
			pl := pageLoc{off: oi.Offset(p), size: oi.CompressedPageSize(p), firstRow: oi.FirstRowIndex(p)}
			if pl.off < prevEnd || pl.size <= 0 || pl.off+pl.size > cp.end || pl.firstRow <= prevRow || pl.firstRow >= rows || (p == 0 && pl.firstRow != 0) {
				return nil
			}
			prevRow, prevEnd = pl.firstRow, pl.off+pl.size
			cp.pages = append(cp.pages, pl)
		}
		out[c] = cp
	}
	return out
}

// pageHolding is the index of the page that holds row r.
func (cp *chunkPages) pageHolding(r int64) int {
	i, found := slices.BinarySearchFunc(cp.pages, r, func(p pageLoc, r int64) int {
		switch {
		case p.firstRow < r:
			return -1
		case p.firstRow > r:
			return 1
		}
		return 0
	})
	if !found {
		i--
	}
	return i
}

// PagedRead reports whether a read of about budget bytes from row group i
// should load pages rather than the row group: the row group is much larger
// than the budget, not in the cache, and the file has an offset index.
func (rf *File) PagedRead(i int, budget int64) bool {
	rg := rf.rgs[i]
	if rf.pages[i] == nil || rg.End-rg.Start <= 4*max(budget, 64<<10) || rg.Last-rg.First+1 != rg.Rows {
		return false
	}
	if rf.opts.Cache != nil {
		if _, ok := rf.opts.Cache.get(rf.rgKey(i)); ok {
			return false
		}
	}
	return true
}

// ScanPages calls fn, as ScanRowGroup does, for the rows of row group i from
// offset from, loading only the pages that hold about budget bytes of
// records from there (at least one row). It returns the offset after the
// last row it scanned; a caller wanting more calls it again from there. Only
// for row groups PagedRead accepts.
func (rf *File) ScanPages(ctx context.Context, i int, from int64, budget int64, fn func(*Row) error) (int64, error) {
	rg := rf.rgs[i]
	cps := rf.pages[i]
	r0 := max(from-rg.First, 0)
	if r0 >= rg.Rows {
		return rg.Last + 1, nil
	}
	// The row range: pages of the largest column until their records make
	// the budget (sizes scaled by the chunk's compression ratio).
	big := 0
	for c := range cps {
		if cps[c].compressed > cps[big].compressed {
			big = c
		}
	}
	cp := &cps[big]
	r1 := rg.Rows
	est := int64(0)
	for p := cp.pageHolding(r0); p < len(cp.pages); p++ {
		est += cp.pages[p].size * cp.uncompressed / cp.compressed
		if est >= budget && p+1 < len(cp.pages) && cp.pages[p+1].firstRow > r0+1 {
			r1 = cp.pages[p+1].firstRow
			break
		}
	}
	spans, release, err := rf.loadPages(ctx, cps, r0, r1, rg.Rows)
	if err != nil {
		return from, err
	}
	defer release()
	// parquet-go reads a column's next page as soon as it has used the
	// last value of a page: the scan stops a row short of the window's end
	// (a page boundary of the largest column), so it never needs a page
	// past the ones loaded.
	if r1 < rg.Rows && r1-1 > r0 {
		r1--
	}
	pr := &pagedReader{rf: rf, spans: spans}
	frg := rf.f.RowGroups()[i]
	g := &pagedRowGroup{RowGroup: frg}
	for _, cc := range frg.ColumnChunks() {
		g.cols = append(g.cols, pagedChunk{FileColumnChunk: cc.(*parquet.FileColumnChunk), r: pr})
	}
	err = rf.scan(i, g, from, rg.First+r1, fn)
	return rg.First + r1, err
}

// loadPages reads, with parallel ranged GETs, the pages of every column
// that hold rows [r0, r1) (and row r1 in repeated columns), and the
// dictionary pages.
// The bytes count against the Cache's read budget until release is called.
func (rf *File) loadPages(ctx context.Context, cps []chunkPages, r0, r1, rows int64) ([]span, func(), error) {
	type rng struct{ off, end int64 }
	var rs []rng
	for c := range cps {
		cp := &cps[c]
		if cp.dictOff > 0 && cp.dictOff < cp.dataOff {
			rs = append(rs, rng{cp.dictOff, cp.dataOff})
		}
		last := max(r1-1, r0)
		if cp.repeated {
			last = min(r1, rows-1)
		}
		p0, p1 := cp.pageHolding(r0), cp.pageHolding(last)
		end := min(cp.pages[p1].off+cp.pages[p1].size+readPad, cp.end)
		rs = append(rs, rng{cp.pages[p0].off, end})
	}
	slices.SortFunc(rs, func(a, b rng) int { return int(a.off - b.off) })
	merged := rs[:1]
	for _, r := range rs[1:] {
		if m := &merged[len(merged)-1]; r.off <= m.end+coalesceGap {
			m.end = max(m.end, r.end)
		} else {
			merged = append(merged, r)
		}
	}
	var n int64
	for _, r := range merged {
		n += r.end - r.off
	}
	release, err := rf.opts.Cache.reserve(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	spans := make([]span, len(merged))
	errs := make([]error, len(merged))
	var wg sync.WaitGroup
	for k, r := range merged {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := rf.readRange(ctx, r.off, r.end-r.off)
			spans[k], errs[k] = span{off: r.off, data: b}, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			release()
			return nil, nil, err
		}
	}
	rf.obs.RowGroupLoaded(n, time.Since(start))
	return spans, release, nil
}

// pagedReader serves parquet-go's reads of one paged scan from the pages
// loaded for it, and anything else as the File does.
type pagedReader struct {
	rf    *File
	spans []span
}

func (r *pagedReader) ReadAt(p []byte, off int64) (int, error) {
	for _, s := range r.spans {
		if s.covers(off, len(p)) {
			return copy(p, s.data[off-s.off:]), nil
		}
	}
	r.rf.strayReads.Add(1)
	return r.rf.ReadAt(p, off)
}

// pagedRowGroup is a row group of the file whose column chunks read their
// pages through a pagedReader.
type pagedRowGroup struct {
	parquet.RowGroup
	cols []parquet.ColumnChunk
}

func (g *pagedRowGroup) ColumnChunks() []parquet.ColumnChunk { return g.cols }
func (g *pagedRowGroup) Rows() parquet.Rows                  { return parquet.NewRowGroupRowReader(g) }

type pagedChunk struct {
	*parquet.FileColumnChunk
	r io.ReaderAt
}

func (c pagedChunk) Pages() parquet.Pages { return c.PagesFrom(c.r) }
