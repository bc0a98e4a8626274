package query

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/tiering"
)

// ColdFile is one Parquet object of a partition's cold tier holding
// offsets [Base, Last].
type ColdFile struct {
	Key        string
	Size       int64
	Base, Last int64
}

// ColdSource names the cold files of a partition, sorted by Base.
type ColdSource interface {
	ColdFiles(ctx context.Context, topic string, partition int32) ([]ColdFile, error)
}

// ListingSource finds cold files by listing the Hive-style prefix
// topic=<t>/partition=<p>/ of the bucket: what a tool without etcd access
// (strata export) does. Files that overlap (a merge in progress, before
// its inputs are deleted) are handled by the scanner, which reads each
// offset once.
type ListingSource struct{ Bucket objstore.Bucket }

func (s ListingSource) ColdFiles(ctx context.Context, topic string, partition int32) ([]ColdFile, error) {
	var out []ColdFile
	err := s.Bucket.List(ctx, tiering.PartitionPrefix(topic, partition), func(oi objstore.ObjectInfo) error {
		t, p, base, last, ok := tiering.ParseObjectKey(oi.Key)
		if ok && t == topic && p == partition {
			out = append(out, ColdFile{Key: oi.Key, Size: oi.Size, Base: base, Last: last})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", tiering.PartitionPrefix(topic, partition), s.Bucket, err)
	}
	sortFiles(out)
	return out, nil
}

// ManifestSource reads the partition's manifest from etcd: what the broker
// (Flight) uses.
type ManifestSource struct{ Meta *meta.Client }

func (s ManifestSource) ColdFiles(ctx context.Context, topic string, partition int32) ([]ColdFile, error) {
	segs, err := s.Meta.TierSegments(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	out := make([]ColdFile, 0, len(segs))
	for _, sg := range segs {
		out = append(out, ColdFile{Key: sg.Object, Size: sg.Size, Base: sg.BaseOffset, Last: sg.LastOffset})
	}
	sortFiles(out)
	return out, nil
}

func sortFiles(fs []ColdFile) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Base != fs[j].Base {
			return fs[i].Base < fs[j].Base
		}
		return fs[i].Last > fs[j].Last
	})
}

// fileFor returns the file that holds offset off and reaches furthest, or
// false.
func fileFor(fs []ColdFile, off int64) (ColdFile, bool) {
	var best ColdFile
	found := false
	for _, f := range fs {
		if f.Base > off {
			break
		}
		if f.Last >= off && (!found || f.Last > best.Last) {
			best, found = f, true
		}
	}
	return best, found
}

// nextFileBase is the smallest base offset > off among fs, or -1.
func nextFileBase(fs []ColdFile, off int64) int64 {
	for _, f := range fs {
		if f.Base > off {
			return f.Base
		}
	}
	return -1
}

// span is a byte range of an object held in memory.
type span struct {
	off  int64
	data []byte
}

// objectReader is an io.ReaderAt over an object: reads inside the spans it
// holds (the footer, the row group being read) are served from memory, the
// rest with ranged GETs.
type objectReader struct {
	ctx    context.Context
	bucket objstore.Bucket
	key    string
	size   int64
	tail   span
	rg     span
	gets   int
}

func (r *objectReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	for _, s := range []span{r.rg, r.tail} {
		if off >= s.off && off+int64(len(p)) <= s.off+int64(len(s.data)) {
			return copy(p, s.data[off-s.off:]), nil
		}
	}
	n := min(int64(len(p)), r.size-off)
	r.gets++
	b, err := objstore.ReadRange(r.ctx, r.bucket, r.key, off, n)
	if err != nil {
		return 0, err
	}
	copy(p, b)
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// rgInfo is what pruning needs of one row group.
type rgInfo struct {
	first, last  int64 // offsets (statistics)
	minTs, maxTs int64 // timestamps (statistics); maxTs -1 if unknown
	rows         int64
	start, end   int64 // byte range of its column chunks
}

// coldFile is an opened Parquet object.
type coldFile struct {
	r   *objectReader
	f   *parquet.File
	rgs []rgInfo
}

const tailBytes = 256 << 10

func openColdFile(ctx context.Context, b objstore.Bucket, cf ColdFile) (c *coldFile, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("object %s: parquet: %v", cf.Key, p)
		}
	}()
	size := cf.Size
	if size <= 0 {
		oi, err := b.Stat(ctx, cf.Key)
		if err != nil {
			return nil, err
		}
		size = oi.Size
	}
	if size < 12 {
		return nil, fmt.Errorf("object %s: %d bytes is too small for Parquet", cf.Key, size)
	}
	n := min(size, tailBytes)
	tail, err := objstore.ReadRange(ctx, b, cf.Key, size-n, n)
	if err != nil {
		return nil, err
	}
	r := &objectReader{ctx: ctx, bucket: b, key: cf.Key, size: size, tail: span{off: size - n, data: tail}}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", cf.Key, err)
	}
	c = &coldFile{r: r, f: f}
	offLeaf, ok1 := f.Schema().Lookup(ColOffset)
	tsLeaf, ok2 := f.Schema().Lookup(ColTimestamp)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("object %s: no offset/timestamp column: not a Strata cold-tier file", cf.Key)
	}
	next := cf.Base
	for i, rg := range f.Metadata().RowGroups {
		info := rgInfo{rows: rg.NumRows, start: -1, maxTs: -1, minTs: -1}
		for _, cc := range rg.Columns {
			s := cc.MetaData.DataPageOffset
			if d := cc.MetaData.DictionaryPageOffset; d > 0 && d < s {
				s = d
			}
			e := s + cc.MetaData.TotalCompressedSize
			if info.start < 0 || s < info.start {
				info.start = s
			}
			info.end = max(info.end, e)
		}
		if mn, mx, ok := stats64(rg.Columns[offLeaf.ColumnIndex].MetaData.Statistics); ok {
			info.first, info.last = mn, mx
		} else {
			info.first, info.last = next, next+rg.NumRows-1
		}
		if mn, mx, ok := stats64(rg.Columns[tsLeaf.ColumnIndex].MetaData.Statistics); ok {
			info.minTs, info.maxTs = mn, mx
		}
		if info.start < 0 || info.end > size || info.last < info.first {
			return nil, fmt.Errorf("object %s: row group %d is damaged", cf.Key, i)
		}
		next = info.last + 1
		c.rgs = append(c.rgs, info)
	}
	return c, nil
}

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

// scanRows calls fn with the rows of the file whose offset is in [from,
// to), in order, reading only the row groups that can hold them (and, when
// tsFrom/tsTo are set, whose timestamp statistics overlap [tsFrom, tsTo]).
// It returns the last offset the file covers up to to.
func (c *coldFile) scanRows(from, to int64, fn func(*tiering.Row) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("object %s: parquet: %v", c.r.key, p)
		}
	}()
	buf := make([]tiering.Row, 256)
	for i, rg := range c.rgs {
		if rg.last < from {
			continue // pruned by offset statistics
		}
		if rg.first >= to {
			break
		}
		// One ranged GET for the row group's column chunks; the previous
		// row group's bytes are dropped.
		c.r.rg = span{}
		data, err := objstore.ReadRange(c.r.ctx, c.r.bucket, c.r.key, rg.start, rg.end-rg.start)
		if err != nil {
			return err
		}
		c.r.gets++
		c.r.rg = span{off: rg.start, data: data}
		rr := parquet.NewGenericRowGroupReader[tiering.Row](c.f.RowGroups()[i])
		read := int64(0)
		if from > rg.first && rg.last-rg.first+1 == rg.rows {
			read = min(from-rg.first, rg.rows) // dense offsets: seek
			if err := rr.SeekToRow(read); err != nil {
				rr.Close()
				return fmt.Errorf("object %s: row group %d: seek: %w", c.r.key, i, err)
			}
		}
		for read < rg.rows {
			clear(buf)
			n, rerr := rr.Read(buf[:min(int64(len(buf)), rg.rows-read)])
			for k := 0; k < n; k++ {
				row := &buf[k]
				if row.Offset < from {
					continue
				}
				if row.Offset >= to {
					rr.Close()
					return nil
				}
				if err := fn(row); err != nil {
					rr.Close()
					return err
				}
			}
			read += int64(n)
			if rerr != nil && !(errors.Is(rerr, io.EOF) && read >= rg.rows) {
				rr.Close()
				return fmt.Errorf("object %s: row group %d: %w", c.r.key, i, rerr)
			}
			if n == 0 && rerr == nil {
				rr.Close()
				return fmt.Errorf("object %s: row group %d: no progress", c.r.key, i)
			}
		}
		rr.Close()
	}
	c.r.rg = span{}
	return nil
}
