package hotlog

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// The log cleaner: Kafka's LogCleaner for logs with Config.Compact
// (cleanup.policy=compact). docs/compaction.md is its documentation; the
// files it writes are in docs/format/segment.md and recovery.md.
//
// A clean of one log:
//  1. The cleanable part is the sealed segments below upTo (the caller's
//     high watermark, and the cold tier's end for a tiered topic), below
//     the flushed offset, and before the first segment holding a record
//     younger than min.compaction.lag.ms. Its dirty part starts at the
//     cleaner checkpoint (cleaner-offset-checkpoint): what no clean has
//     seen yet.
//  2. The key -> last offset map is built over the dirty part, in a buffer
//     of at most the dedupe buffer's size (16-byte MD5 of the key and the
//     offset, 24 bytes a slot, filled to 90%, as Kafka's SkimpyOffsetMap).
//     When it is full the clean stops at that batch: the rest stays dirty.
//  3. Every segment from the log start to where the map ends is rewritten,
//     in groups whose sizes add up to at most segment.bytes, each group into
//     one new segment named by the group's first base: a record is kept
//     unless the map holds a later offset for its key, or it is a tombstone
//     whose batch's delete horizon (set when the cleaner first kept it,
//     delete.retention.ms later, KIP-534) has passed. Batches keep their
//     offsets (gaps where records went); control and transactional batches
//     are kept as they are; the last batch of every active idempotent
//     producer is kept, empty if need be, so its sequence survives.
//  4. Each group is swapped in crash-safely (swapGroup); then the
//     checkpoint moves to where the map ended.

// carriedExts are the files besides .log, .index and .timeindex that a
// segment may have and that a rewrite carries into the segment it writes
// (carrySiblings): each replaced segment's file, in offset order,
// concatenated, which keeps an index of offset-ordered entries valid (an
// aborted-transaction index is one).
var carriedExts = []string{extTxnIndex}

// Suffixes of the swap (docs/format/recovery.md#log-cleaner-swap).
const (
	suffixCleaned = ".cleaned"
	suffixSwap    = ".swap"
	// extReplaces is the small file of a swap that says which old
	// segments the new one replaces: "0\n<first base> <end>\n", every
	// .log with base in [first base, end).
	extReplaces = ".replaces"
	// cleanerCheckpointFile holds the first dirty offset: "0\n<offset>\n".
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
)

// ErrDedupeBufferTooSmall: the dedupe buffer cannot hold the keys of one
// batch.
var ErrDedupeBufferTooSmall = errors.New("log cleaner dedupe buffer too small")

// errSimulatedCrash, returned by a test's hook, stops a clean where it is
// and leaves its files as a crash would.
var errSimulatedCrash = errors.New("simulated crash")

// errGroupChanged: the segments a clean rewrote changed meanwhile
// (retention, truncation, close); the rewrite is dropped.
var errGroupChanged = errors.New("segments changed during cleaning")

// CleanerConfig is the broker-wide cleaner configuration.
type CleanerConfig struct {
	// DedupeBufferBytes (log.cleaner.dedupe.buffer.size) bounds the
	// key -> offset map. Default 128 MiB.
	DedupeBufferBytes int64
	// IOBytesPerSecond (log.cleaner.io.max.bytes.per.second) caps the
	// bytes the cleaner reads plus writes; <= 0: unlimited.
	IOBytesPerSecond float64
}

// DefaultDedupeBufferBytes is Kafka's log.cleaner.dedupe.buffer.size.
const DefaultDedupeBufferBytes = 128 << 20

// Cleaner cleans logs one at a time (Kafka's log.cleaner.threads=1): it
// owns the dedupe buffer (allocated at the first clean) and the I/O
// throttle shared by every log it cleans.
type Cleaner struct {
	cfg      CleanerConfig
	mu       sync.Mutex
	omap     *offsetMap
	throttle *Throttle
}

// NewCleaner returns a cleaner.
func NewCleaner(cfg CleanerConfig) *Cleaner {
	if cfg.DedupeBufferBytes <= 0 {
		cfg.DedupeBufferBytes = DefaultDedupeBufferBytes
	}
	return &Cleaner{cfg: cfg, throttle: NewThrottle(cfg.IOBytesPerSecond)}
}

// CleanStats describes one clean.
type CleanStats struct {
	FirstDirty, End int64 // the dirty range the map covered: [FirstDirty, End)
	Segments        int   // old segments rewritten
	BytesRead       int64 // bytes read (map and rewrite)
	BytesWritten    int64
	BytesBefore     int64 // of the rewritten segments
	BytesAfter      int64
	RecordsRemoved  int64
	Keys            int // entries of the offset map
}

// Cleanable describes a log's cleanable part.
type Cleanable struct {
	FirstDirty       int64 // the checkpoint (at least the log start)
	FirstUncleanable int64 // end of the cleanable sealed segments
	CleanBytes       int64
	DirtyBytes       int64
	// DirtyRatio is DirtyBytes / (CleanBytes + DirtyBytes), 0 if empty.
	DirtyRatio float64
	// Lag is how long the first dirty record has waited (by its
	// timestamp), 0 if nothing is dirty; MustClean says it passed
	// max.compaction.lag.ms.
	Lag       time.Duration
	MustClean bool
}

// Due reports whether Clean would do anything: dirty bytes, and either the
// ratio reached or max.compaction.lag.ms passed.
func (c Cleanable) Due(minRatio float64) bool {
	return c.DirtyBytes > 0 && (c.DirtyRatio >= minRatio || c.MustClean)
}

// cleanableLocked returns how many leading segments are cleanable, given
// upTo, and the resulting bounds. Requires mu.
func (l *Log) cleanableLocked(now time.Time, upTo int64) (k int, firstDirty int64) {
	upTo = min(upTo, l.flushed.Load())
	lagEdge := now.Add(-l.cfg.MinCompactionLag).UnixMilli()
	for k < len(l.segs) {
		s := l.segs[k]
		if !s.sealed || s.next > upTo || (l.cfg.MinCompactionLag > 0 && s.maxTs > lagEdge) {
			break
		}
		k++
	}
	return k, max(l.cleanedTo, l.logStart.Load())
}

// Cleanable measures the cleanable part (no I/O but one batch header).
// upTo bounds it: only segments wholly below upTo are cleaned.
func (l *Log) Cleanable(now time.Time, upTo int64) Cleanable {
	l.lifeMu.RLock()
	defer l.lifeMu.RUnlock()
	l.mu.RLock()
	if l.closed || !l.cfg.Compact {
		l.mu.RUnlock()
		return Cleanable{}
	}
	k, firstDirty := l.cleanableLocked(now, upTo)
	c := Cleanable{FirstDirty: firstDirty, FirstUncleanable: l.segs[k].base}
	var first *segment
	for _, s := range l.segs[:k] {
		if s.next <= firstDirty {
			c.CleanBytes += s.size
			continue
		}
		c.DirtyBytes += s.size
		if first == nil {
			first = s
		}
	}
	maxLag := l.cfg.MaxCompactionLag
	l.mu.RUnlock()
	if total := c.CleanBytes + c.DirtyBytes; total > 0 {
		c.DirtyRatio = float64(c.DirtyBytes) / float64(total)
	}
	if first != nil {
		if pos, _, err := first.batchStart(firstDirty); err == nil && pos < first.size {
			if h, err := (&headerScanner{s: first, limit: first.size}).at(pos); err == nil {
				ts := h.BaseTimestamp
				if h.LogAppendTime() || h.HasDeleteHorizon() {
					ts = h.MaxTimestamp
				}
				if ts > 0 && ts < now.UnixMilli() {
					c.Lag = now.Sub(time.UnixMilli(ts))
				}
			}
		}
		c.MustClean = maxLag > 0 && c.Lag > maxLag
	}
	return c
}

// cleanSeg is what a clean knows of one old segment, taken under mu.
type cleanSeg struct {
	s          *segment
	base, next int64
	size       int64
}

// Clean cleans l once if it has a dirty part (whatever its ratio: the
// caller chooses which log is due, Cleanable.Due), and returns what it
// did. It runs beside appends, reads and flushes, holding no lock while
// it reads or writes segment data; only the swap of each rewritten group
// excludes readers for its renames.
func (c *Cleaner) Clean(ctx context.Context, l *Log, now time.Time, upTo int64) (CleanStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return CleanStats{}, ErrClosed
	}
	if !l.cfg.Compact {
		l.mu.RUnlock()
		return CleanStats{}, nil
	}
	cfg := l.cfg
	k, firstDirty := l.cleanableLocked(now, upTo)
	segs := make([]cleanSeg, k)
	for i, s := range l.segs[:k] {
		segs[i] = cleanSeg{s: s, base: s.base, next: s.next, size: s.size}
	}
	// The last batch of each producer the log remembers: kept, so that
	// its sequence and epoch survive (Kafka's RETAIN_EMPTY).
	lastOf := make(map[int64]int64, len(l.producers.m))
	for pid, e := range l.producers.m {
		lastOf[pid] = e.last().lastOffset
	}
	l.mu.RUnlock()

	st := CleanStats{FirstDirty: firstDirty, End: firstDirty}
	if k == 0 || firstDirty >= segs[k-1].next {
		return st, nil
	}
	if c.omap == nil {
		c.omap = newOffsetMap(c.cfg.DedupeBufferBytes)
	}
	c.omap.reset()
	end, err := c.buildMap(ctx, l, segs, firstDirty, &st)
	if errors.Is(err, errGroupChanged) {
		l.logger.Info("log cleaner: segments changed while mapping, will try again")
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.End, st.Keys = end, c.omap.n
	horizon := now.Add(cfg.DeleteRetention).UnixMilli()
	nowMs := now.UnixMilli()

	// Every segment with records before end is rewritten, grouped.
	var todo []cleanSeg
	for _, s := range segs {
		if s.base >= end {
			break
		}
		todo = append(todo, s)
	}
	for i, g := range groupSegments(todo, cfg.SegmentBytes) {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		err := c.cleanGroup(ctx, l, g, i == 0 && g[0].base == l.logStart.Load(), lastOf, horizon, nowMs, int64(cfg.IndexIntervalBytes), &st)
		if errors.Is(err, errGroupChanged) {
			l.logger.Info("log cleaner: segments changed while cleaning, will try again", "segment", g[0].base)
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
	l.mu.Lock()
	if end > l.cleanedTo {
		l.cleanedTo = end
	}
	to := l.cleanedTo
	l.mu.Unlock()
	if err := l.writeFile(filepath.Join(l.dir, cleanerCheckpointFile), fmt.Appendf(nil, "0\n%d\n", to)); err != nil {
		return st, storageErr("write cleaner checkpoint", err)
	}
	l.logger.Info("log cleaner cleaned", "first_dirty", st.FirstDirty, "end", st.End, "segments", st.Segments,
		"bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter, "records_removed", st.RecordsRemoved, "keys", st.Keys)
	return st, nil
}

// groupSegments groups consecutive segments whose sizes add up to at most
// maxBytes (one alone may be bigger) and whose offsets fit one segment's
// relative offsets (uint32).
func groupSegments(segs []cleanSeg, maxBytes int64) [][]cleanSeg {
	var out [][]cleanSeg
	for i := 0; i < len(segs); {
		j, size := i+1, segs[i].size
		for j < len(segs) && size+segs[j].size <= maxBytes && segs[j].next-1-segs[i].base <= math.MaxUint32 {
			size += segs[j].size
			j++
		}
		out = append(out, segs[i:j])
		i = j
	}
	return out
}

// batchVisitor is called with each whole, CRC-checked batch of a segment.
// Returning false stops the walk.
type batchVisitor func(h recordbatch.Header, b []byte) (bool, error)

// walkSegment reads the first size bytes of seg's .log file sequentially
// through its own descriptor (a clean holds no lock while it reads; a
// segment retention deletes meanwhile stays readable, and any change is
// caught at the swap), checking every batch's frame, offset order and CRC,
// and pacing itself by the throttle.
func (c *Cleaner) walkSegment(ctx context.Context, l *Log, seg cleanSeg, st *CleanStats, visit batchVisitor) error {
	err := c.readSegment(ctx, l, seg, st, visit)
	if errors.Is(err, ErrCorruptBatch) && !l.segmentUnchanged(seg) {
		// A truncation cut the file while it was read: not damage.
		return errGroupChanged
	}
	return err
}

// segmentUnchanged reports whether seg is still one of l's segments, sealed
// and of the size the clean saw.
func (l *Log) segmentUnchanged(seg cleanSeg) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := slices.Index(l.segs, seg.s)
	return !l.closed && i >= 0 && seg.s.sealed && seg.s.size == seg.size && seg.s.next == seg.next
}

func (c *Cleaner) readSegment(ctx context.Context, l *Log, seg cleanSeg, st *CleanStats, visit batchVisitor) error {
	return l.files.transient(1, func() error {
		f, err := os.Open(seg.s.path(extLog))
		if errors.Is(err, os.ErrNotExist) {
			return errGroupChanged // retention or truncation removed it meanwhile
		}
		if err != nil {
			return storageErr(fmt.Sprintf("log cleaner: open segment %d", seg.base), err)
		}
		defer f.Close()
		br := bufio.NewReaderSize(io.NewSectionReader(f, 0, seg.size), 256<<10)
		var buf []byte
		expect := seg.base
		for pos := int64(0); pos < seg.size; {
			if err := ctx.Err(); err != nil {
				return err
			}
			buf = slices.Grow(buf[:0], recordbatch.HeaderSize)[:recordbatch.HeaderSize]
			if _, err := io.ReadFull(br, buf); err != nil {
				return fmt.Errorf("%w: log cleaner: segment %d at byte %d: %v", ErrCorruptBatch, seg.base, pos, err)
			}
			h, _ := recordbatch.ParseHeader(buf)
			if err := recordbatch.CheckFrame(h, seg.size-pos); err != nil {
				return fmt.Errorf("log cleaner: segment %d at byte %d: %w", seg.base, pos, err)
			}
			if h.BaseOffset < expect || h.LastOffsetDelta < 0 {
				return fmt.Errorf("%w: log cleaner: segment %d at byte %d: base offset %d, expected at least %d", ErrCorruptBatch, seg.base, pos, h.BaseOffset, expect)
			}
			buf = slices.Grow(buf, h.Size()-recordbatch.HeaderSize)[:h.Size()]
			if _, err := io.ReadFull(br, buf[recordbatch.HeaderSize:]); err != nil {
				return fmt.Errorf("%w: log cleaner: segment %d at byte %d: %v", ErrCorruptBatch, seg.base, pos, err)
			}
			if crc := recordbatch.Checksum(buf); crc != h.CRC {
				return fmt.Errorf("%w: log cleaner: segment %d at byte %d: crc mismatch", ErrCorruptBatch, seg.base, pos)
			}
			st.BytesRead += int64(h.Size())
			if err := c.throttle.Wait(ctx, h.Size()); err != nil {
				return err
			}
			more, err := visit(h, buf)
			if err != nil || !more {
				return err
			}
			pos += int64(h.Size())
			expect = h.LastOffset() + 1
		}
		return nil
	})
}

// mapped reports whether a batch's records go into the offset map (and may
// be superseded): data batches outside transactions. Control batches and
// transactional batches are kept as they are (docs/compaction.md).
func mapped(h recordbatch.Header) bool { return !h.IsControl() && !h.IsTransactional() }

// buildMap fills the offset map with the keys of the dirty part from
// firstDirty, and returns the offset it covered up to (exclusive).
func (c *Cleaner) buildMap(ctx context.Context, l *Log, segs []cleanSeg, firstDirty int64, st *CleanStats) (int64, error) {
	end := firstDirty
	full := false
	limit := l.cfgMaxDecompressed()
	for _, s := range segs {
		if s.next <= firstDirty {
			continue
		}
		err := c.walkSegment(ctx, l, s, st, func(h recordbatch.Header, b []byte) (bool, error) {
			if h.LastOffset() < firstDirty {
				return true, nil
			}
			if mapped(h) {
				if c.omap.n+int(h.NumRecords) > c.omap.max {
					full = true
					return false, nil
				}
				err := recordbatch.Records(h, b, limit, func(r *recordbatch.Record) error {
					if r.Key != nil && r.Offset >= firstDirty {
						c.omap.put(md5.Sum(r.Key), r.Offset)
					}
					return nil
				})
				if err != nil {
					return false, fmt.Errorf("log cleaner: batch at offset %d: %w", h.BaseOffset, err)
				}
			}
			end = h.LastOffset() + 1
			return true, nil
		})
		if err != nil {
			return 0, err
		}
		if full {
			break
		}
		end = max(end, s.next)
	}
	if end == firstDirty && full {
		return 0, fmt.Errorf("%w: %d bytes hold %d keys, a batch at offset %d has more", ErrDedupeBufferTooSmall, c.cfg.DedupeBufferBytes, c.omap.max, firstDirty)
	}
	return end, nil
}

func (l *Log) cfgMaxDecompressed() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg.MaxDecompressedBatchBytes
}

// cleanGroup rewrites one group of old segments into one new segment and
// swaps it in. first says the group holds the log start: it is never left
// empty, so the log start stays where it was.
func (c *Cleaner) cleanGroup(ctx context.Context, l *Log, g []cleanSeg, first bool, lastOf map[int64]int64,
	horizon, nowMs, interval int64, st *CleanStats) (err error) {
	base := g[0].base
	end := g[len(g)-1].next
	l.removeSwapFiles(base)
	defer func() {
		if err != nil && !errors.Is(err, errSimulatedCrash) {
			l.removeSwapFiles(base)
		}
	}()
	t := &segment{base: base, dir: l.dir, next: base, maxTs: -1, maxTsOffset: -1}
	path := func(ext string) string { return t.path(ext) + suffixCleaned }
	f, err := os.OpenFile(path(extLog), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return storageErr("log cleaner: create cleaned segment", err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 256<<10)
	var (
		out      []byte
		pos      int64
		lastDrop *recordbatch.Header
		removed  int64
	)
	limit := l.cfgMaxDecompressed()
	write := func(b []byte) error {
		h, _ := recordbatch.ParseHeader(b)
		t.track(h, pos, interval)
		pos += int64(len(b))
		st.BytesWritten += int64(len(b))
		if _, err := bw.Write(b); err != nil {
			return storageErr("log cleaner: write cleaned segment", err)
		}
		return c.throttle.Wait(ctx, len(b))
	}
	for _, s := range g {
		st.BytesBefore += s.size
		err := c.walkSegment(ctx, l, s, st, func(h recordbatch.Header, b []byte) (bool, error) {
			if !mapped(h) {
				return true, write(b)
			}
			var res recordbatch.FilterResult
			var err error
			out, res, err = recordbatch.Filter(out[:0], h, b, limit, horizon, func(r *recordbatch.Record) bool {
				if r.Key == nil {
					return true
				}
				if off, ok := c.omap.get(md5.Sum(r.Key)); ok && off > r.Offset {
					return false
				}
				if r.Value == nil {
					if hz, ok := h.DeleteHorizon(); ok && nowMs >= hz {
						return false
					}
				}
				return true
			})
			if err != nil {
				return false, fmt.Errorf("log cleaner: batch at offset %d: %w", h.BaseOffset, err)
			}
			removed += int64(res.Dropped)
			if res.Kept > 0 {
				return true, write(out)
			}
			if h.ProducerID >= 0 {
				if last, ok := lastOf[h.ProducerID]; ok && last == h.LastOffset() {
					return true, write(recordbatch.EmptyBatch(out[:0], h))
				}
			}
			hc := h
			lastDrop = &hc
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	if pos == 0 && first && lastDrop != nil {
		// Keep the log start: the group's last batch, without records.
		if err := write(recordbatch.EmptyBatch(nil, *lastDrop)); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return storageErr("log cleaner: write cleaned segment", err)
	}
	if err := l.syncFile(f); err != nil {
		return syncErr("log cleaner: fsync cleaned segment", err)
	}
	if pos > 0 {
		t.finalTimeEntry()
		if err := writeSynced(path(extIndex), appendOffsetEntries(nil, t.offIdx), l.syncFile); err != nil {
			return err
		}
		if err := writeSynced(path(extTimeIndex), appendTimeEntries(nil, t.timeIdx), l.syncFile); err != nil {
			return err
		}
		olds := make([]int64, len(g))
		for i, s := range g {
			olds[i] = s.base
		}
		if err := carrySiblings(l.dir, olds, base, suffixCleaned, l.syncFile); err != nil {
			return err
		}
	}
	if err := writeSynced(path(extReplaces), fmt.Appendf(nil, "0\n%d %d\n", base, end), l.syncFile); err != nil {
		return err
	}
	if err := l.hookClean("cleaned"); err != nil {
		return err
	}
	if err := l.swapGroup(g, t, pos > 0); err != nil {
		return err
	}
	st.Segments += len(g)
	st.BytesAfter += pos
	st.RecordsRemoved += removed
	return nil
}

func (l *Log) hookClean(step string) error {
	if l.testHookClean != nil {
		return l.testHookClean(step)
	}
	return nil
}

// writeSynced writes a new file and fsyncs it.
func writeSynced(path string, b []byte, syncFile func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return storageErr("log cleaner: create "+filepath.Base(path), err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return storageErr("log cleaner: write "+filepath.Base(path), err)
	}
	if err := syncFile(f); err != nil {
		return syncErr("log cleaner: fsync "+filepath.Base(path), err)
	}
	return nil
}

// carrySiblings writes, for each of carriedExts, the file of the new
// segment newBase (with suffix) as the concatenation of the old segments'
// files of that extension, in order (missing ones are empty), fsynced. It
// is the one place a rewrite carries a segment's other files along.
func carrySiblings(dir string, olds []int64, newBase int64, suffix string, syncFile func(*os.File) error) error {
	for _, ext := range carriedExts {
		var b []byte
		any := false
		for _, base := range olds {
			data, err := os.ReadFile(filepath.Join(dir, segmentFileName(base, ext)))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return storageErr("log cleaner: read "+segmentFileName(base, ext), err)
			}
			b, any = append(b, data...), true
		}
		if !any {
			continue
		}
		if err := writeSynced(filepath.Join(dir, segmentFileName(newBase, ext))+suffix, b, syncFile); err != nil {
			return err
		}
	}
	return nil
}

// swapExts are the extensions of a swap's files other than .log, in the
// order they are renamed.
func swapExts() []string {
	return append(append([]string{extIndex, extTimeIndex}, carriedExts...), extReplaces)
}

// swapGroup replaces the old segments g by t (written as .cleaned files;
// none but the .replaces file if !keep: the group was emptied). On disk
// (docs/format/recovery.md#log-cleaner-swap): every .cleaned file but the
// .log is renamed to .swap, the directory fsynced, then the .log.cleaned to
// .log.swap and the directory fsynced again: that rename is the commit.
// Then the old segments are deleted, the .swap files renamed to their final
// names (the .log last) and the .replaces file removed. Open finishes a
// swap whose .log.swap exists and removes the files of any other. Readers
// and flushes are held off (lifeMu) only for these renames; appends go on.
func (l *Log) swapGroup(g []cleanSeg, t *segment, keep bool) error {
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	l.mu.RLock()
	i := slices.Index(l.segs, g[0].s)
	ok := !l.closed && i >= 0 && i+len(g) < len(l.segs)
	for j := 0; ok && j < len(g); j++ {
		s := l.segs[i+j]
		ok = s == g[j].s && s.sealed && s.size == g[j].size && s.next == g[j].next
	}
	l.mu.RUnlock()
	if !ok {
		return errGroupChanged
	}
	base := g[0].base
	name := func(ext, suffix string) string { return filepath.Join(l.dir, segmentFileName(base, ext)+suffix) }
	for _, ext := range swapExts() {
		if err := os.Rename(name(ext, suffixCleaned), name(ext, suffixSwap)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return storageErr("log cleaner: rename to .swap", err)
		}
	}
	if err := l.syncDir(); err != nil {
		return syncErr("log cleaner: fsync log directory", err)
	}
	if err := l.hookClean("swap-indexes"); err != nil {
		return err
	}
	// An emptied group commits with an empty .log.swap.
	logSrc := name(extLog, suffixCleaned)
	if err := os.Rename(logSrc, name(extLog, suffixSwap)); err != nil {
		return storageErr("log cleaner: rename to .swap", err)
	}
	if err := l.syncDir(); err != nil {
		return syncErr("log cleaner: fsync log directory", err)
	}
	// Committed: from here on Open finishes the swap.
	if err := l.hookClean("committed"); err != nil {
		return err
	}
	var errs []error
	for _, s := range g {
		if err := s.s.remove(); err != nil {
			errs = append(errs, storageErr(fmt.Sprintf("log cleaner: delete segment %d", s.base), err))
		}
	}
	if err := l.hookClean("old-deleted"); err != nil {
		return err
	}
	errs = append(errs, finishSwap(l.dir, base, keep))

	l.mu.Lock()
	var repl []*segment
	if keep {
		ns := newSegment(l.dir, base, l.files)
		ns.adoptIndexes(t)
		ns.sealed = true
		// Batches keep their offsets and transactional batches stay:
		// the old segments' aborted transactions are the new one's
		// (carrySiblings concatenated their files).
		for _, old := range l.segs[i : i+len(g)] {
			ns.aborted = append(ns.aborted, old.aborted...)
			ns.txnDirty = ns.txnDirty || old.txnDirty
		}
		repl = []*segment{ns}
	}
	l.segs = slices.Concat(l.segs[:i], repl, l.segs[i+len(g):])
	l.logStart.Store(l.segs[0].base)
	l.mu.Unlock()
	if err := l.syncDir(); err != nil {
		errs = append(errs, syncErr("log cleaner: fsync log directory", err))
	}
	return errors.Join(errs...)
}

// finishSwap renames the .swap files of the new segment base to their
// final names, the .log last (or removes an empty .log.swap: the group was
// emptied), and removes the .replaces file.
func finishSwap(dir string, base int64, keep bool) error {
	name := func(ext, suffix string) string { return filepath.Join(dir, segmentFileName(base, ext)+suffix) }
	for _, ext := range swapExts() {
		if ext == extReplaces {
			continue
		}
		if err := os.Rename(name(ext, suffixSwap), name(ext, "")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return storageErr("log cleaner: rename .swap", err)
		}
	}
	if keep {
		if err := os.Rename(name(extLog, suffixSwap), name(extLog, "")); err != nil {
			return storageErr("log cleaner: rename .log.swap", err)
		}
	} else if err := os.Remove(name(extLog, suffixSwap)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return storageErr("log cleaner: remove empty .log.swap", err)
	}
	if err := os.Remove(name(extReplaces, suffixSwap)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return storageErr("log cleaner: remove .replaces", err)
	}
	return nil
}

// removeSwapFiles removes every .cleaned and .swap file of segment base (a
// clean that did not commit).
func (l *Log) removeSwapFiles(base int64) {
	for _, ext := range append([]string{extLog}, swapExts()...) {
		for _, suffix := range []string{suffixCleaned, suffixSwap} {
			os.Remove(filepath.Join(l.dir, segmentFileName(base, ext)+suffix))
		}
	}
}

// recoverCleanerSwaps runs at Open before the segments are listed: a swap
// whose .log.swap exists committed, and is finished (the old segments its
// .replaces file names are deleted, the .swap files renamed); the .cleaned
// and .swap files of any other are removed (the old segments stay).
func (l *Log) recoverCleanerSwaps() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return storageErr("list log directory", err)
	}
	committed := map[int64]bool{}
	var leftovers []string
	var logs []int64
	for _, e := range entries {
		name := e.Name()
		if b, ok := parseSegmentName(name, extLog+suffixSwap); ok {
			committed[b] = true
			continue
		}
		if b, ok := parseSegmentName(name, extLog); ok {
			logs = append(logs, b)
			continue
		}
		if strings.HasSuffix(name, suffixCleaned) || strings.HasSuffix(name, suffixSwap) {
			leftovers = append(leftovers, name)
		}
	}
	changed := false
	for base := range committed {
		b, err := os.ReadFile(filepath.Join(l.dir, segmentFileName(base, extReplaces)+suffixSwap))
		if err != nil {
			return storageErr(fmt.Sprintf("log cleaner swap of segment %d: read its .replaces file", base), err)
		}
		from, end, err := parseReplaces(b)
		if err != nil || from != base {
			return storageErr(fmt.Sprintf("log cleaner swap of segment %d", base), fmt.Errorf("bad .replaces file %q: %v", b, err))
		}
		st, err := os.Stat(filepath.Join(l.dir, segmentFileName(base, extLog)+suffixSwap))
		if err != nil {
			return storageErr("stat .log.swap", err)
		}
		for _, old := range logs {
			if old >= from && old < end {
				if err := newSegment(l.dir, old, l.files).remove(); err != nil {
					return storageErr(fmt.Sprintf("log cleaner swap: delete replaced segment %d", old), err)
				}
			}
		}
		if err := finishSwap(l.dir, base, st.Size() > 0); err != nil {
			return err
		}
		l.logger.Warn("finished a log cleaner swap interrupted by a crash", "segment", base, "replaced_until", end)
		changed = true
	}
	for _, name := range leftovers {
		digits := name[:min(20, len(name))]
		if b, err := strconv.ParseInt(digits, 10, 64); err == nil && committed[b] && strings.HasSuffix(name, suffixSwap) {
			continue
		}
		l.logger.Warn("removing the files of an unfinished log cleaner rewrite", "file", name)
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return storageErr("remove cleaner leftover", err)
		}
		changed = true
	}
	if changed {
		if err := l.syncDir(); err != nil {
			return syncErr("fsync log directory", err)
		}
	}
	return nil
}

func parseReplaces(b []byte) (from, end int64, err error) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "0" {
		return 0, 0, errors.New("want version 0 and one range")
	}
	if _, err := fmt.Sscanf(lines[1], "%d %d", &from, &end); err != nil {
		return 0, 0, err
	}
	if from < 0 || end < from {
		return 0, 0, fmt.Errorf("range [%d, %d)", from, end)
	}
	return from, end, nil
}

// loadCleanerCheckpoint reads the first dirty offset; a missing or
// unreadable file means nothing was cleaned (the next clean maps the whole
// log, which is only slower).
func (l *Log) loadCleanerCheckpoint() {
	b, err := os.ReadFile(filepath.Join(l.dir, cleanerCheckpointFile))
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "0" {
		l.logger.Warn("ignoring a cleaner checkpoint that does not parse", "content", string(b))
		return
	}
	off, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || off < 0 {
		l.logger.Warn("ignoring a cleaner checkpoint that does not parse", "content", string(b))
		return
	}
	l.cleanedTo = min(off, l.leo.Load())
}

// offsetMap is Kafka's SkimpyOffsetMap: open addressing over a fixed
// buffer, 24-byte slots of a key's MD5 and its offset + 1 (0 = empty),
// filled to at most 90%. Two keys with the same MD5 count as one (as in
// Kafka).
type offsetMap struct {
	slots []byte
	nslot int
	n     int
	max   int
}

const offsetMapSlot = 24

func newOffsetMap(bytes int64) *offsetMap {
	nslot := int(max(bytes/offsetMapSlot, 16))
	return &offsetMap{slots: make([]byte, nslot*offsetMapSlot), nslot: nslot, max: nslot * 9 / 10}
}

func (m *offsetMap) reset() {
	if m.n > 0 {
		clear(m.slots)
	}
	m.n = 0
}

func (m *offsetMap) find(h [16]byte) (int, bool) {
	i := int(binary.BigEndian.Uint64(h[:8]) % uint64(m.nslot))
	for {
		s := m.slots[i*offsetMapSlot : (i+1)*offsetMapSlot]
		if binary.BigEndian.Uint64(s[16:]) == 0 {
			return i, false
		}
		if [16]byte(s[:16]) == h {
			return i, true
		}
		if i++; i == m.nslot {
			i = 0
		}
	}
}

// put records off for the key hash h (offsets only grow within a clean).
func (m *offsetMap) put(h [16]byte, off int64) {
	i, found := m.find(h)
	s := m.slots[i*offsetMapSlot : (i+1)*offsetMapSlot]
	if !found {
		copy(s, h[:])
		m.n++
	}
	binary.BigEndian.PutUint64(s[16:], uint64(off+1))
}

func (m *offsetMap) get(h [16]byte) (int64, bool) {
	i, found := m.find(h)
	if !found {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(m.slots[i*offsetMapSlot+16:])) - 1, true
}

// Throttle paces I/O to a byte rate (Kafka's log cleaner Throttler): each
// Wait of n bytes moves a schedule forward by n/rate and sleeps while the
// schedule is ahead of the clock. Safe for concurrent use.
type Throttle struct {
	rate float64
	mu   sync.Mutex
	next time.Time
}

// NewThrottle returns a throttle of rate bytes per second; <= 0 never
// waits.
func NewThrottle(rate float64) *Throttle { return &Throttle{rate: rate} }

// Wait accounts n bytes and sleeps as long as the rate requires.
func (t *Throttle) Wait(ctx context.Context, n int) error {
	if t == nil || t.rate <= 0 {
		return nil
	}
	t.mu.Lock()
	now := time.Now()
	if t.next.Before(now.Add(-time.Second)) {
		t.next = now.Add(-time.Second) // at most a second of credit
	}
	t.next = t.next.Add(time.Duration(float64(n) / t.rate * float64(time.Second)))
	wait := t.next.Sub(now)
	t.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	tm := time.NewTimer(wait)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
