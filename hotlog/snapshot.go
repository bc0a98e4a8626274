package hotlog

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stratalog/strata/fileutil"
	"github.com/stratalog/strata/recordbatch"
)

// Producer-state snapshot files (docs/format/producer-state.md): the state
// as of an offset (every batch below it applied), in <offset>.snapshot,
// written when a segment rolls (named by the new segment's base) and by a
// clean Close (named by the log end). Open loads the newest valid one and
// replays the batch headers after it.

const extSnapshot = ".snapshot"

// pendingSnapshot is a snapshot taken at a roll, waiting for the next fsync
// round to write it: it is written only once the batches it describes are
// durable, so a snapshot on disk never covers offsets a crash can lose.
type pendingSnapshot struct {
	offset int64
	data   []byte
}

func snapshotPath(dir string, offset int64) string {
	return filepath.Join(dir, segmentFileName(offset, extSnapshot))
}

// captureSnapshotLocked drops expired producers and queues a snapshot of
// the state as of offset (l.mu held for writing).
func (l *Log) captureSnapshotLocked(offset int64, now time.Time) {
	if n := l.producers.expire(now, l.cfg.ProducerIDExpiration); n > 0 {
		l.logger.Debug("expired idle producers", "count", n)
	}
	data := encodeSnapshot(offset, l.producers)
	l.pendingSnaps = slices.DeleteFunc(l.pendingSnaps, func(p pendingSnapshot) bool { return p.offset == offset })
	l.pendingSnaps = append(l.pendingSnaps, pendingSnapshot{offset: offset, data: data})
	l.snapsPending.Store(true)
}

// takePendingSnapshotsLocked hands the queued snapshots to the caller, who
// writes them.
func (l *Log) takePendingSnapshotsLocked() []pendingSnapshot {
	p := l.pendingSnaps
	l.pendingSnaps = nil
	l.snapsPending.Store(false)
	return p
}

// dropPendingSnapshotsLocked forgets queued snapshots for which drop is true.
func (l *Log) dropPendingSnapshotsLocked(drop func(offset int64) bool) {
	l.pendingSnaps = slices.DeleteFunc(l.pendingSnaps, func(p pendingSnapshot) bool { return drop(p.offset) })
	l.snapsPending.Store(len(l.pendingSnaps) > 0)
}

// writeSnapshots writes snapshot files atomically: each to a temp file that
// is fsynced, then renamed into place. The caller fsyncs the directory
// afterwards (together with whatever else it created). It returns how many
// were renamed into place.
func writeSnapshots(dir string, snaps []pendingSnapshot) (int, error) {
	var errs []error
	n := 0
	for _, s := range snaps {
		if err := fileutil.Replace(snapshotPath(dir, s.offset), s.data, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("snapshot %d: %w", s.offset, err))
			continue
		}
		n++
	}
	if err := errors.Join(errs...); err != nil {
		return n, storageErr("write producer-state snapshot", err)
	}
	return n, nil
}

// listSnapshots returns the offsets of the snapshot files, sorted.
func (l *Log) listSnapshots() ([]int64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, storageErr("list log directory", err)
	}
	var offs []int64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, extSnapshot) {
			continue
		}
		if off, ok := parseSegmentName(name, extSnapshot); ok {
			offs = append(offs, off)
		}
	}
	slices.Sort(offs)
	return offs, nil
}

// removeSnapshots deletes the snapshot files whose offset satisfies drop
// and reports whether it deleted any.
func (l *Log) removeSnapshots(drop func(offset int64) bool) (bool, error) {
	offs, err := l.listSnapshots()
	if err != nil {
		return false, err
	}
	var errs []error
	removed := false
	for _, off := range offs {
		if !drop(off) {
			continue
		}
		if err := os.Remove(snapshotPath(l.dir, off)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = true
	}
	if err := errors.Join(errs...); err != nil {
		return removed, storageErr("remove producer-state snapshot", err)
	}
	return removed, nil
}

// readSnapshot reads and decodes one snapshot file. A file that does not
// decode is removed (it can never become valid).
func (l *Log) readSnapshot(offset int64) (*producerState, error) {
	path := snapshotPath(l.dir, offset)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, storageErr("read producer-state snapshot", err)
	}
	_, ps, err := decodeSnapshot(data, offset)
	if err != nil {
		l.logger.Warn("removing unusable producer-state snapshot", "file", filepath.Base(path), "err", err)
		os.Remove(path)
		return nil, err
	}
	return ps, nil
}

// producerLoad carries the producer-state rebuild through Open's pass over
// the segments: it starts from the newest snapshot and applies every batch
// whose last offset is >= from, reusing the full scan of a segment that
// recovery reads anyway.
type producerLoad struct {
	ps   *producerState
	from int64    // replay batches whose last offset is >= from
	snap int64    // offset of the snapshot loaded, -1 if none
	seg  *segment // the segment being recovered: aborted transactions go to it
}

func (pl *producerLoad) visit(h recordbatch.Header, batch []byte) {
	if h.LastOffset() < pl.from {
		return
	}
	ctrl, err := controlOf(h, batch)
	if err != nil {
		ctrl = nil // a marker of a kind that cannot be read: it still ends the transaction
	}
	if a, ok := pl.ps.replay(h, ctrl); ok {
		pl.seg.addAborted(a)
	}
}

// startProducerLoad picks the newest snapshot that decodes and is not
// below the first segment (bases: the segment base offsets found).
func (l *Log) startProducerLoad(bases []int64) *producerLoad {
	pl := &producerLoad{ps: newProducerState(), from: -1, snap: -1}
	if len(bases) == 0 {
		return pl
	}
	offs, err := l.listSnapshots()
	if err != nil {
		l.logger.Warn("cannot list producer-state snapshots; rebuilding the state from the whole log", "err", err)
		return pl
	}
	for i := len(offs) - 1; i >= 0 && offs[i] >= bases[0]; i-- {
		ps, err := l.readSnapshot(offs[i])
		if err != nil {
			l.logger.Warn("producer-state snapshot unusable, trying an older one", "offset", offs[i], "err", err)
			continue
		}
		pl.ps, pl.from, pl.snap = ps, offs[i], offs[i]
		break
	}
	return pl
}

// finishProducerLoad installs the state built during Open (segments and
// offsets known by now). A snapshot beyond the recovered log end described
// batches a crash lost: the state is rebuilt from an older one. Snapshots
// past the log end or below its start are deleted, as are those at offsets
// other than segment bases, except the newest.
func (l *Log) finishProducerLoad(pl *producerLoad) error {
	leo, start := l.leo.Load(), l.logStart.Load()
	ps := pl.ps
	if pl.snap > leo {
		l.logger.Warn("producer-state snapshot is beyond the recovered log end; rebuilding from an older one",
			"snapshot", pl.snap, "log_end", leo)
		if _, err := l.removeSnapshots(func(off int64) bool { return off > leo }); err != nil {
			return err
		}
		if err := l.syncDir(); err != nil {
			return storageErr("fsync log directory", err)
		}
		ps = l.loadProducerState(leo)
	}
	if n := ps.expire(time.Now(), l.cfg.ProducerIDExpiration); n > 0 {
		l.logger.Debug("expired idle producers", "count", n)
	}
	l.producers = ps
	l.boundProducersLocked()

	offs, err := l.listSnapshots()
	if err != nil {
		return err
	}
	newest := int64(-1)
	for _, off := range offs {
		if off >= start && off <= leo {
			newest = off
		}
	}
	isBase := make(map[int64]bool, len(l.segs))
	for _, s := range l.segs {
		isBase[s.base] = true
	}
	removed, err := l.removeSnapshots(func(off int64) bool {
		return off > leo || off < start || (off != newest && !isBase[off])
	})
	if err != nil {
		return err
	}
	if removed {
		// A stale snapshot past the log end must not come back: new
		// batches will be written at its offsets.
		if err := l.syncDir(); err != nil {
			return storageErr("fsync log directory", err)
		}
	}
	return nil
}

// loadProducerState builds the state as of upTo (<= LogEndOffset) from the
// newest usable snapshot at or below it (queued or on disk, not below the
// log start) and the batch headers after it (l.mu held for writing, or
// during Open).
func (l *Log) loadProducerState(upTo int64) *producerState {
	start := l.logStart.Load()
	type cand struct {
		off  int64
		data []byte // nil: read the file
	}
	var cands []cand
	for _, p := range l.pendingSnaps {
		if p.offset >= start && p.offset <= upTo {
			cands = append(cands, cand{p.offset, p.data})
		}
	}
	offs, err := l.listSnapshots()
	if err != nil {
		l.logger.Warn("cannot list producer-state snapshots", "err", err)
	}
	for _, off := range offs {
		if off >= start && off <= upTo {
			cands = append(cands, cand{off, nil})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.off, a.off) })
	ps, from := newProducerState(), int64(-1)
	for _, c := range cands {
		var s *producerState
		if c.data != nil {
			_, s, err = decodeSnapshot(c.data, c.off)
		} else {
			s, err = l.readSnapshot(c.off)
		}
		if err != nil {
			l.logger.Warn("producer-state snapshot unusable, trying an older one", "offset", c.off, "err", err)
			continue
		}
		ps, from = s, c.off
		break
	}
	for _, s := range l.segs {
		l.replaySegment(ps, s, from, upTo)
	}
	return ps
}

// replaySegment applies the headers of the segment's batches whose last
// offset is >= from and below upTo (and the markers of control batches,
// read whole: aborted transactions are added to the segment's). A damaged segment is reported and
// replayed up to the damage: the state is then as good as the log.
func (l *Log) replaySegment(ps *producerState, s *segment, from, upTo int64) {
	if s.next <= from || s.base >= upTo || s.size == 0 {
		return
	}
	l.replayScans.Add(1)
	pos, expect := int64(0), s.base
	if e, ok := floorOffset(s.offIdx, from-s.base); ok && from > s.base {
		pos, expect = int64(e.pos), s.base+int64(e.rel)
	}
	sc := headerScanner{s: s, limit: s.size}
	for pos < s.size {
		h, err := sc.at(pos)
		if err == nil && h.BaseOffset < expect {
			err = fmt.Errorf("%w: segment %d at byte %d: base offset %d, expected at least %d", ErrCorruptBatch, s.base, pos, h.BaseOffset, expect)
		}
		if err != nil {
			l.logger.Error("cannot read batch headers to rebuild producer state; the state misses the rest of this segment",
				"segment", s.base, "err", err)
			return
		}
		if h.BaseOffset >= upTo {
			return
		}
		if h.LastOffset() >= from {
			ctrl, err := readControl(s, h, pos)
			if err != nil {
				l.logger.Error("cannot read a transaction marker to rebuild producer state", "segment", s.base, "offset", h.BaseOffset, "err", err)
			}
			if a, ok := ps.replay(h, ctrl); ok {
				s.addAborted(a)
			}
		}
		pos += int64(h.Size())
		expect = h.LastOffset() + 1
	}
}

// readControl reads the marker of the control batch h at pos of s (nil
// for other batches).
func readControl(s *segment, h recordbatch.Header, pos int64) (*recordbatch.ControlRecord, error) {
	if !h.IsControl() {
		return nil, nil
	}
	buf := make([]byte, h.Size())
	if err := s.readAt(buf, pos); err != nil {
		return nil, err
	}
	return controlOf(h, buf)
}
