package hotlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// cleanShutdownFile is written by Close after everything is fsynced and
// removed by Open before anything is written: its presence means the
// segments and their indexes are exactly as Close left them.
const cleanShutdownFile = ".clean-shutdown"

// load lists the directory and recovers the segments (docs/format/recovery.md).
func (l *Log) load() error {
	clean, err := l.takeCleanMarker()
	if err != nil {
		return err
	}
	if err := l.recoverCleanerSwaps(); err != nil {
		return err
	}
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	repaired := !clean
	lastBatchEpoch := int32(-1)
	pl := l.startProducerLoad(bases)
	for i := 0; i < len(bases); i++ {
		last := i == len(bases)-1
		nextBase := int64(-1)
		if !last {
			nextBase = bases[i+1]
		}
		s := newSegment(l.dir, bases[i], l.files)
		s.sealed = !last
		if err := l.loadTxnIndex(s); err != nil {
			return err
		}
		pl.seg = s
		// Stat by name: a sealed segment whose indexes check out is
		// never opened here (its file is opened on the first read).
		st, err := os.Stat(s.path(extLog))
		if err != nil {
			return storageErr("stat segment", err)
		}
		fileSize := st.Size()

		var dropped int64
		scanned := true // the producer state saw the batches during the scan
		if last && !clean {
			dropped, err = l.recoverSegment(s, fileSize, nextBase, pl.visit)
		} else if cerr := l.checkSegment(s, fileSize, nextBase); cerr != nil {
			l.logger.Warn("segment indexes do not match the segment, recovering it", "segment", s.base, "reason", cerr)
			repaired = true
			dropped, err = l.recoverSegment(s, fileSize, nextBase, pl.visit)
		} else {
			scanned = false
		}
		if err != nil {
			s.close()
			return err
		}
		s.cutAborted(s.next)
		if dropped > 0 && !last {
			// A sealed segment with a damaged tail: everything after it
			// was written later and cannot have been flushed either.
			for _, b := range bases[i+1:] {
				l.logger.Warn("removing segment after a truncated one", "segment", b)
				victim := newSegment(l.dir, b, l.files)
				if err := victim.remove(); err != nil {
					s.close()
					return storageErr("remove segment", err)
				}
			}
			bases = bases[:i+1]
			last = true
		}
		if s.empty() && !last {
			l.logger.Warn("removing empty sealed segment", "segment", s.base)
			if err := s.remove(); err != nil {
				return storageErr("remove segment", err)
			}
			repaired = true
			continue
		}
		if last && s.size > 0 {
			if h, err := (&headerScanner{s: s, limit: s.size}).at(s.lastBatchPos()); err == nil {
				lastBatchEpoch = h.PartitionLeaderEpoch
			}
		}
		l.segs = append(l.segs, s)
		if !scanned {
			l.replaySegment(pl.ps, s, pl.from, math.MaxInt64)
		}
	}
	if len(l.segs) == 0 {
		s, err := createSegment(l.dir, 0, l.files)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		repaired = true
	}
	act := l.active()
	act.sealed = false
	if act.size > 0 {
		act.firstAppend = l.firstAppendGuess(act)
	}
	l.logStart.Store(l.segs[0].base)
	l.leo.Store(act.next)
	if repaired {
		// What an unclean shutdown left in the page cache, and what
		// recovery rewrote, counts as flushed only once fsynced. That is
		// not done here but by the first FlushUpTo after Open (the
		// broker's, once it has opened every partition, or an acks=all
		// append's), so opening a log costs no fsync: thousands of
		// partitions open in the time it takes to scan their active
		// segments, and their fsyncs run afterwards, one log after
		// another (on one disk faster than all at once). The flush
		// takes what syncOnce takes: every .log, the indexes of sealed
		// segments recovery rewrote (idxDirty), and the directory, whose
		// entries the crashed process may not have fsynced; the active
		// segment's indexes are rebuilt by recovery and not fsynced.
		for _, s := range l.segs {
			s.dirty = true
		}
		l.dirDirty = true
		l.flushed.Store(l.logStart.Load())
	} else {
		l.flushed.Store(act.next)
	}
	for _, s := range l.segs {
		if s.sealed && !s.idxDirty {
			s.closeIndexFiles()
		}
	}
	l.loadCleanerCheckpoint()
	if err := l.loadEpochs(lastBatchEpoch); err != nil {
		return err
	}
	return l.finishProducerLoad(pl)
}

// takeCleanMarker reports whether the clean-shutdown marker was present and
// removes it durably, so that a crash from now on is seen as unclean.
func (l *Log) takeCleanMarker() (bool, error) {
	path := filepath.Join(l.dir, cleanShutdownFile)
	err := os.Remove(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, storageErr("remove clean-shutdown marker", err)
	}
	if err := l.syncDir(); err != nil {
		return false, storageErr("fsync log directory", err)
	}
	return true, nil
}

// listSegments returns the base offsets of the .log files, sorted; it
// removes index files without a .log and leftover temporary files and
// ignores, with a warning, segment-like files whose names do not parse.
func (l *Log) listSegments() ([]int64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, storageErr("list log directory", err)
	}
	logs := map[int64]bool{}
	var bases []int64
	var indexes []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			// A directory where a segment file belongs cannot be read:
			// skipping it would open the log without that segment's
			// records (and remove its indexes as orphans).
			if strings.HasSuffix(name, extLog) || strings.HasSuffix(name, extIndex) || strings.HasSuffix(name, extTimeIndex) || strings.HasSuffix(name, extTxnIndex) {
				return nil, storageErr("list segments", fmt.Errorf("%s is a directory, not a segment file", name))
			}
			continue
		}
		switch {
		case strings.HasSuffix(name, ".tmp"):
			l.logger.Warn("removing leftover temporary file", "file", name)
			os.Remove(filepath.Join(l.dir, name))
		case strings.HasSuffix(name, extLog):
			base, ok := parseSegmentName(name, extLog)
			if !ok {
				l.logger.Warn("ignoring file with an unparsable segment name", "file", name)
				continue
			}
			logs[base] = true
			bases = append(bases, base)
		case strings.HasSuffix(name, extIndex), strings.HasSuffix(name, extTimeIndex), strings.HasSuffix(name, extTxnIndex):
			ext := indexExt(name)
			if _, ok := parseSegmentName(name, ext); !ok {
				l.logger.Warn("ignoring file with an unparsable segment name", "file", name)
				continue
			}
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		base, _ := parseSegmentName(name, indexExt(name))
		if !logs[base] {
			l.logger.Warn("removing index file without a segment", "file", name)
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, storageErr("remove orphan index", err)
			}
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// checkSegment loads a segment's indexes and checks them cheaply against the
// .log file: sizes are whole entries, entries increase, the first offset
// entry is (0, 0), positions lie in the file, and the batches from the last
// offset entry chain to the exact end of the file, none of them with a max
// timestamp above the last time entry. On success the segment is ready.
func (l *Log) checkSegment(s *segment, fileSize, nextBase int64) error {
	idx, err := os.ReadFile(s.path(extIndex))
	if err != nil {
		return fmt.Errorf("offset index: %w", err)
	}
	tidx, err := os.ReadFile(s.path(extTimeIndex))
	if err != nil {
		return fmt.Errorf("time index: %w", err)
	}
	if fileSize > maxSegmentBytes {
		return fmt.Errorf("segment of %d bytes exceeds %d", fileSize, maxSegmentBytes)
	}
	offIdx, err := decodeOffsetIndex(idx, fileSize)
	if err != nil {
		return fmt.Errorf("offset index: %w", err)
	}
	timeIdx, err := decodeTimeIndex(tidx, math.MaxUint32+1)
	if err != nil {
		return fmt.Errorf("time index: %w", err)
	}
	s.size = fileSize
	next, tailMax := s.base, int64(-1)
	var lastPos int64
	if len(offIdx) > 0 {
		e := offIdx[len(offIdx)-1]
		lastPos = int64(e.pos)
		next = s.base + int64(e.rel)
		sc := headerScanner{s: s, limit: fileSize}
		for pos := lastPos; pos < fileSize; {
			h, err := sc.at(pos)
			if err != nil {
				return fmt.Errorf("tail: %w", err)
			}
			if h.BaseOffset < next {
				return fmt.Errorf("tail: batch at byte %d has base offset %d, expected at least %d", pos, h.BaseOffset, next)
			}
			if h.LastOffset()-s.base > math.MaxUint32 {
				return fmt.Errorf("tail: offset %d too far from the base", h.LastOffset())
			}
			if pos-lastPos >= int64(l.cfg.IndexIntervalBytes) {
				// Appends would have indexed this batch: the index
				// lost entries (or was written with a larger
				// interval); rebuild it.
				return fmt.Errorf("tail: no index entry for the batch at byte %d", pos)
			}
			tailMax = max(tailMax, h.MaxTimestamp)
			next = h.LastOffset() + 1
			pos += int64(h.Size())
		}
	}
	if nextBase >= 0 && next > nextBase {
		return fmt.Errorf("segment reaches offset %d, past the next segment's base %d", next, nextBase)
	}
	if n := len(timeIdx); n > 0 && s.base+int64(timeIdx[n-1].rel) >= next {
		return fmt.Errorf("time index names offset %d, the segment ends at %d", s.base+int64(timeIdx[n-1].rel), next)
	}
	maxTs, maxTsOffset := int64(-1), int64(-1)
	if n := len(timeIdx); n > 0 {
		maxTs, maxTsOffset = timeIdx[n-1].ts, s.base+int64(timeIdx[n-1].rel)
	}
	if tailMax > maxTs {
		return fmt.Errorf("time index max %d is below a tail batch's max timestamp %d", maxTs, tailMax)
	}
	s.next = next
	s.offIdx, s.timeIdx = offIdx, timeIdx
	s.maxTs, s.maxTsOffset = maxTs, maxTsOffset
	s.sinceOff = fileSize - lastPos
	s.sinceTime = 0
	if n := len(timeIdx); n > 0 {
		if e, ok := floorOffset(offIdx, int64(timeIdx[n-1].rel)); ok {
			s.sinceTime = fileSize - int64(e.pos)
		}
	}
	return nil
}

// recoverSegment scans the whole .log file batch by batch and keeps the
// longest valid prefix: it ends at the first batch that is short, runs past
// the end of the file, has a batchLength below the minimum, magic other
// than 2, a base offset other than the previous batch's last offset + 1
// (the segment base for the first), a bad CRC, or (for a sealed segment)
// offsets reaching the next segment's base. The file is truncated there and
// both indexes are rebuilt. visit (if not nil) sees the header and bytes
// of every batch kept, in order. It returns the number of bytes dropped.
func (l *Log) recoverSegment(s *segment, fileSize, nextBase int64, visit func(recordbatch.Header, []byte)) (int64, error) {
	s.resetIndexes()
	var dropped int64
	// The .log file is released before the indexes are written: a user of
	// the FileCache holds one file at a time.
	if err := s.logF.use(false, func(f *os.File) error {
		var err error
		dropped, err = l.scanPrefix(s, f, fileSize, nextBase, visit)
		return err
	}); err != nil {
		if errors.Is(err, ErrStorage) {
			return 0, err
		}
		return 0, storageErr(fmt.Sprintf("open segment %d", s.base), err)
	}
	if s.sealed {
		s.finalTimeEntry()
	}
	if err := s.writeIndexFiles(); err != nil {
		return 0, err
	}
	return dropped, nil
}

// scanPrefix is recoverSegment's scan of f: it tracks the valid prefix in
// s and truncates the file after it.
func (l *Log) scanPrefix(s *segment, f *os.File, fileSize, nextBase int64, visit func(recordbatch.Header, []byte)) (int64, error) {
	interval := int64(l.cfg.IndexIntervalBytes)
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, fileSize), 256<<10)
	var (
		pos    int64
		expect = s.base
		batch  []byte
		reason string
	)
	for pos < fileSize {
		if fileSize-pos < recordbatch.HeaderSize {
			reason = "short batch header"
			break
		}
		if cap(batch) < recordbatch.HeaderSize {
			batch = make([]byte, recordbatch.HeaderSize, 64<<10)
		}
		batch = batch[:recordbatch.HeaderSize]
		if _, err := io.ReadFull(br, batch); err != nil {
			return 0, storageErr(fmt.Sprintf("read segment %d", s.base), err)
		}
		h, _ := recordbatch.ParseHeader(batch)
		if err := recordbatch.CheckFrame(h, fileSize-pos); err != nil {
			reason = err.Error()
			break
		}
		if h.BaseOffset < expect {
			reason = fmt.Sprintf("base offset %d, expected at least %d", h.BaseOffset, expect)
			break
		}
		if h.LastOffsetDelta < 0 || h.LastOffset()-s.base > math.MaxUint32 || (nextBase >= 0 && h.LastOffset() >= nextBase) {
			reason = fmt.Sprintf("last offset delta %d out of range", h.LastOffsetDelta)
			break
		}
		size := h.Size()
		batch = slices.Grow(batch, size-recordbatch.HeaderSize)[:size]
		if _, err := io.ReadFull(br, batch[recordbatch.HeaderSize:]); err != nil {
			return 0, storageErr(fmt.Sprintf("read segment %d", s.base), err)
		}
		if crc := recordbatch.Checksum(batch); crc != h.CRC {
			reason = fmt.Sprintf("crc mismatch at offset %d", h.BaseOffset)
			break
		}
		s.track(h, pos, interval)
		if visit != nil {
			visit(h, batch)
		}
		pos += int64(size)
		expect = h.LastOffset() + 1
	}
	var dropped int64
	if pos < fileSize {
		dropped = fileSize - pos
		l.logger.Warn("truncating segment to its valid prefix",
			"segment", s.base, "valid_bytes", pos, "bytes_dropped", dropped, "next_offset", expect, "reason", reason)
		if err := f.Truncate(pos); err != nil {
			return 0, storageErr(fmt.Sprintf("truncate segment %d", s.base), err)
		}
	}
	s.size, s.next = pos, expect
	return dropped, nil
}

// lastBatchPos finds the position of the segment's last batch from the last
// offset-index entry.
func (s *segment) lastBatchPos() int64 {
	if len(s.offIdx) == 0 {
		return 0
	}
	pos := int64(s.offIdx[len(s.offIdx)-1].pos)
	sc := headerScanner{s: s, limit: s.size}
	for {
		h, err := sc.at(pos)
		if err != nil || pos+int64(h.Size()) >= s.size {
			return pos
		}
		pos += int64(h.Size())
	}
}

// firstAppendGuess stands in for the unknown wall-clock time of a reopened
// active segment's first append, for segment.ms: the first batch's max
// timestamp if plausible (Kafka does the same), else now.
func (l *Log) firstAppendGuess(s *segment) time.Time {
	now := time.Now()
	h, err := (&headerScanner{s: s, limit: s.size}).at(0)
	if err != nil || h.MaxTimestamp <= 0 || h.MaxTimestamp > now.UnixMilli() {
		return now
	}
	return time.UnixMilli(h.MaxTimestamp)
}

// indexExt is the extension of a segment's index file name: .index,
// .timeindex or .txnindex.
func indexExt(name string) string {
	for _, ext := range []string{extTimeIndex, extTxnIndex} {
		if strings.HasSuffix(name, ext) {
			return ext
		}
	}
	return extIndex
}
