package hotlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// File name extensions of a segment's three files.
const (
	extLog       = ".log"
	extIndex     = ".index"
	extTimeIndex = ".timeindex"
)

// scanWindow is how much a header scan reads ahead at once.
const scanWindow = 64 << 10

// segment is one .log file and its two sparse indexes. The files are the
// segment's own; the mutable fields are guarded by Log.mu. The files are
// opened when used and closed by the FileCache when idle; the segment is
// closed (its files for good) only with Log.lifeMu held for writing, so
// readers may use the .log file without Log.mu. The indexes are held in
// memory: their files are only written.
type segment struct {
	base int64
	dir  string
	// logF, idxF and tidxF are the .log, .index and .timeindex files.
	logF, idxF, tidxF *lazyFile

	size        int64 // bytes of whole batches in the .log file
	next        int64 // LastOffset+1 of the last batch, base if empty
	offIdx      []offsetEntry
	timeIdx     []timeEntry
	maxTs       int64 // largest batch maxTimestamp, -1 if none
	maxTsOffset int64 // baseOffset of the first batch carrying maxTs
	sinceOff    int64 // bytes appended since the last offset-index entry
	sinceTime   int64 // bytes appended since the last time-index entry
	firstAppend time.Time
	sealed      bool
	dirty       bool // .log bytes not yet fsynced
	idxDirty    bool // index bytes not yet fsynced (matters once sealed)
	// aborted are the transactions whose abort marker is in this
	// segment, in marker order (txnindex.go); txnDirty: the .txnindex
	// file does not hold them yet.
	aborted  []AbortedTxn
	txnDirty bool
}

func newSegment(dir string, base int64, files *FileCache) *segment {
	s := &segment{base: base, dir: dir, next: base, maxTs: -1, maxTsOffset: -1}
	s.logF, s.idxF, s.tidxF = files.file(s.path(extLog)), files.file(s.path(extIndex)), files.file(s.path(extTimeIndex))
	return s
}

func segmentFileName(base int64, ext string) string {
	return fmt.Sprintf("%020d%s", base, ext)
}

// parseSegmentName returns the base offset named by a segment file name with
// the given extension: exactly 20 decimal digits.
func parseSegmentName(name, ext string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, ext)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return base, true
}

func (s *segment) path(ext string) string {
	return filepath.Join(s.dir, segmentFileName(s.base, ext))
}

func storageErr(op string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrStorage, op, err)
}

// syncErr is storageErr for an fsync step: it keeps errFsyncCall visible
// when fsync itself failed (rather than opening the file to sync).
func syncErr(op string, err error) error {
	if errors.Is(err, errFsyncCall) {
		return fmt.Errorf("%w: %w: %s: %v", ErrStorage, errFsyncCall, op, err)
	}
	return storageErr(op, err)
}

// createSegment creates the files of a new, empty segment.
func createSegment(dir string, base int64, files *FileCache) (*segment, error) {
	s := newSegment(dir, base, files)
	f, err := os.OpenFile(s.path(extLog), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, storageErr("create segment", err)
	}
	s.logF.adopt(f)
	for _, ext := range []string{extIndex, extTimeIndex} {
		f, err := os.OpenFile(s.path(ext), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			s.close()
			os.Remove(s.path(extLog))
			return nil, storageErr("create segment index", err)
		}
		if ext == extIndex {
			s.idxF.adopt(f)
		} else {
			s.tidxF.adopt(f)
		}
	}
	return s, nil
}

// closeIndexFiles closes the index files now rather than when the cache
// needs room: a sealed segment's indexes, once fsynced, are not written
// again. A file in use stays open.
func (s *segment) closeIndexFiles() {
	_ = s.idxF.close()
	_ = s.tidxF.close()
}

func (s *segment) close() error {
	return errors.Join(s.idxF.close(), s.tidxF.close(), s.logF.close())
}

// remove closes the segment and unlinks its files, the .log first so that a
// crash in between leaves at most index files without a log, which Open
// sweeps.
func (s *segment) remove() error {
	err := s.close()
	for _, ext := range append([]string{extLog, extIndex, extTimeIndex}, carriedExts...) {
		if e := os.Remove(s.path(ext)); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = errors.Join(err, e)
		}
	}
	return err
}

func (s *segment) empty() bool { return s.size == 0 }

func (s *segment) info() SegmentInfo {
	return SegmentInfo{
		BaseOffset:   s.base,
		NextOffset:   s.next,
		Size:         s.size,
		MaxTimestamp: s.maxTs,
		Sealed:       s.sealed,
		Path:         s.path(extLog),
	}
}

// readAt fills p from the .log file at off. A short file is corruption: the
// caller only asks for bytes it believes are there.
func (s *segment) readAt(p []byte, off int64) error {
	var n int
	err := s.logF.use(false, func(f *os.File) error {
		var err error
		n, err = f.ReadAt(p, off)
		return err
	})
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: segment %d: file ends before byte %d", ErrCorruptBatch, s.base, off+int64(len(p)))
	}
	return storageErr(fmt.Sprintf("read segment %d at %d", s.base, off), err)
}

// resetIndexes forgets everything derived from the segment's batches.
func (s *segment) resetIndexes() {
	s.size, s.next = 0, s.base
	s.offIdx, s.timeIdx = s.offIdx[:0], s.timeIdx[:0]
	s.maxTs, s.maxTsOffset = -1, -1
	s.sinceOff, s.sinceTime = 0, 0
}

// track records a batch written at pos in the in-memory indexes. It adds an
// offset-index entry for the first batch and then whenever interval bytes
// have passed since the last one, and a time-index entry when the batch
// raises the segment's max timestamp and interval bytes have passed since
// the last time entry (or there is none).
func (s *segment) track(h recordbatch.Header, pos int64, interval int64) {
	rel := uint32(h.BaseOffset - s.base)
	if len(s.offIdx) == 0 || s.sinceOff >= interval {
		s.offIdx = append(s.offIdx, offsetEntry{rel: rel, pos: uint32(pos)})
		s.sinceOff = 0
	}
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.BaseOffset
		if len(s.timeIdx) == 0 || s.sinceTime >= interval {
			s.timeIdx = append(s.timeIdx, timeEntry{ts: h.MaxTimestamp, rel: rel})
			s.sinceTime = 0
		}
	}
	size := int64(h.Size())
	s.sinceOff += size
	s.sinceTime += size
	s.size = pos + size
	s.next = h.LastOffset() + 1
}

// finalTimeEntry makes the last time-index entry carry the segment's max
// timestamp, so that a sealed segment's max can be read from its index.
func (s *segment) finalTimeEntry() bool {
	if s.maxTs < 0 {
		return false
	}
	if n := len(s.timeIdx); n > 0 && s.timeIdx[n-1].ts >= s.maxTs {
		return false
	}
	s.timeIdx = append(s.timeIdx, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOffset - s.base)})
	s.sinceTime = 0
	return true
}

// segState is what append rolls back on failure.
type segState struct {
	size, next, maxTs, maxTsOffset, sinceOff, sinceTime int64
	nOff, nTime                                         int
}

func (s *segment) save() segState {
	return segState{s.size, s.next, s.maxTs, s.maxTsOffset, s.sinceOff, s.sinceTime, len(s.offIdx), len(s.timeIdx)}
}

func (s *segment) restore(st segState) {
	s.size, s.next, s.maxTs, s.maxTsOffset, s.sinceOff, s.sinceTime = st.size, st.next, st.maxTs, st.maxTsOffset, st.sinceOff, st.sinceTime
	s.offIdx, s.timeIdx = s.offIdx[:st.nOff], s.timeIdx[:st.nTime]
}

// append writes batches (headers hs, offsets already assigned) at the end of
// the segment and adds their index entries. On any write error the files
// are cut back to their previous sizes and the segment is unchanged.
func (s *segment) append(buf []byte, hs []recordbatch.Header, interval int64) error {
	st := s.save()
	if err := s.logF.use(false, func(f *os.File) error {
		_, err := f.WriteAt(buf, st.size)
		return err
	}); err != nil {
		terr := s.truncateLog(st.size)
		return errors.Join(storageErr(fmt.Sprintf("write segment %d", s.base), err), truncErr(terr))
	}
	pos := st.size
	for _, h := range hs {
		s.track(h, pos, interval)
		pos += int64(h.Size())
	}
	if err := s.writeIndexTail(st.nOff, st.nTime); err != nil {
		terr := s.truncateLog(st.size)
		s.restore(st)
		terr = errors.Join(terr, s.truncateIndexFiles())
		return errors.Join(err, truncErr(terr))
	}
	s.dirty = true
	return nil
}

// truncateLog cuts the .log file to size bytes.
func (s *segment) truncateLog(size int64) error {
	return s.logF.use(false, func(f *os.File) error { return f.Truncate(size) })
}

func truncErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("rolling back: %w", err)
}

// writeIndexTail writes the index entries from nOff and nTime on to the
// index files.
func (s *segment) writeIndexTail(nOff, nTime int) error {
	if len(s.offIdx) > nOff {
		b := appendOffsetEntries(nil, s.offIdx[nOff:])
		if err := writeAt(s.idxF, b, int64(nOff)*offsetEntrySize); err != nil {
			return storageErr(fmt.Sprintf("write offset index %d", s.base), err)
		}
		s.idxDirty = true
	}
	if len(s.timeIdx) > nTime {
		b := appendTimeEntries(nil, s.timeIdx[nTime:])
		if err := writeAt(s.tidxF, b, int64(nTime)*timeEntrySize); err != nil {
			return storageErr(fmt.Sprintf("write time index %d", s.base), err)
		}
		s.idxDirty = true
	}
	return nil
}

// writeAt writes b at off of an index file, creating it if missing.
func writeAt(lf *lazyFile, b []byte, off int64) error {
	return lf.use(true, func(f *os.File) error {
		_, err := f.WriteAt(b, off)
		return err
	})
}

func truncateFile(lf *lazyFile, size int64) error {
	return lf.use(true, func(f *os.File) error { return f.Truncate(size) })
}

// truncateIndexFiles cuts the index files to the in-memory entries.
func (s *segment) truncateIndexFiles() error {
	err := errors.Join(
		truncateFile(s.idxF, int64(len(s.offIdx))*offsetEntrySize),
		truncateFile(s.tidxF, int64(len(s.timeIdx))*timeEntrySize),
	)
	if err != nil {
		return storageErr(fmt.Sprintf("truncate indexes of %d", s.base), err)
	}
	s.idxDirty = true
	return nil
}

// writeIndexFiles replaces both index files with the in-memory entries.
func (s *segment) writeIndexFiles() error {
	if err := errors.Join(truncateFile(s.idxF, 0), truncateFile(s.tidxF, 0)); err != nil {
		return storageErr(fmt.Sprintf("truncate indexes of %d", s.base), err)
	}
	return s.writeIndexTail(0, 0)
}

// sync fsyncs the .log file and, if asked, the index files, with
// syncFile (the log's fsync, a seam for tests).
func (s *segment) sync(indexes bool, syncFile func(*os.File) error) error {
	if err := s.logF.use(false, syncFile); err != nil {
		return syncErr(fmt.Sprintf("fsync segment %d", s.base), err)
	}
	if indexes {
		for _, lf := range []*lazyFile{s.idxF, s.tidxF} {
			if err := lf.use(true, syncFile); err != nil {
				return syncErr(fmt.Sprintf("fsync index of %d", s.base), err)
			}
		}
	}
	return nil
}

// headerScanner reads batch headers of a segment through a read-ahead
// window, so that walking many small batches costs few system calls.
type headerScanner struct {
	s     *segment
	limit int64 // bytes of the file that may be read
	buf   []byte
	start int64 // file position of buf[0]
}

// at returns the header of the batch at pos, checked to be a plausible v2
// frame that ends at or before limit.
func (sc *headerScanner) at(pos int64) (recordbatch.Header, error) {
	if pos+recordbatch.HeaderSize > sc.limit {
		return recordbatch.Header{}, fmt.Errorf("%w: segment %d: %d bytes at %d, too short for a batch header",
			ErrCorruptBatch, sc.s.base, sc.limit-pos, pos)
	}
	if pos < sc.start || pos+recordbatch.HeaderSize > sc.start+int64(len(sc.buf)) {
		n := min(int64(scanWindow), sc.limit-pos)
		if int64(cap(sc.buf)) < n {
			sc.buf = make([]byte, n)
		}
		sc.buf = sc.buf[:n]
		if err := sc.s.readAt(sc.buf, pos); err != nil {
			sc.buf = sc.buf[:0]
			return recordbatch.Header{}, err
		}
		sc.start = pos
	}
	h, _ := recordbatch.ParseHeader(sc.buf[pos-sc.start:])
	if err := recordbatch.CheckFrame(h, sc.limit-pos); err != nil {
		return h, fmt.Errorf("segment %d at byte %d: %w", sc.s.base, pos, err)
	}
	return h, nil
}

// scanIndexes computes the index state of the first size bytes of the .log
// file (trusted to be whole batches) from their headers. It returns a
// shadow segment holding that state and changes nothing.
func (s *segment) scanIndexes(size int64, interval int64) (*segment, error) {
	t := &segment{base: s.base, dir: s.dir, next: s.base, maxTs: -1, maxTsOffset: -1, logF: s.logF}
	sc := headerScanner{s: t, limit: size}
	for pos := int64(0); pos < size; {
		h, err := sc.at(pos)
		if err != nil {
			return nil, err
		}
		if h.BaseOffset < t.next {
			return nil, fmt.Errorf("%w: segment %d at byte %d: base offset %d, expected at least %d", ErrCorruptBatch, s.base, pos, h.BaseOffset, t.next)
		}
		t.track(h, pos, interval)
		pos += int64(h.Size())
	}
	return t, nil
}

// adoptIndexes takes over the index state computed by scanIndexes.
func (s *segment) adoptIndexes(t *segment) {
	s.size, s.next = t.size, t.next
	s.offIdx, s.timeIdx = t.offIdx, t.timeIdx
	s.maxTs, s.maxTsOffset = t.maxTs, t.maxTsOffset
	s.sinceOff, s.sinceTime = t.sinceOff, t.sinceTime
}
