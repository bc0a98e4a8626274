package hotlog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/fileutil"
	"github.com/stratalog/strata/recordbatch"
)

// Config is a log's per-topic configuration. Zero or out-of-range sizes are
// replaced by defaults (see DefaultConfig); SetConfig applies a new one.
type Config struct {
	// SegmentBytes: roll when appending would make the active segment
	// exceed this. Default 128 MiB, at most 2 GiB-1 (index positions are
	// uint32).
	SegmentBytes int64
	// SegmentAge (segment.ms): roll when the active segment's first append
	// is older than this; 0 = never.
	SegmentAge time.Duration
	// RetentionAge (local retention.ms): a sealed segment whose largest
	// timestamp is older than this is deleted; < 0 = unlimited.
	RetentionAge time.Duration
	// RetentionBytes (local retention.bytes): oldest sealed segments are
	// deleted while the log stays at least this big without them;
	// < 0 = unlimited.
	RetentionBytes int64
	// IndexIntervalBytes: an offset-index entry (and a time-index entry if
	// the max timestamp grew) at least every this many bytes. Default 4096.
	IndexIntervalBytes int32
	// ProducerIDExpiration (producer.id.expiration.ms): a producer whose
	// last batch's maxTimestamp is this much older than now is forgotten
	// when a snapshot is taken or the log is opened. Default 1 day.
	ProducerIDExpiration time.Duration
	// MaxProducers bounds how many producers the log remembers (and so
	// each roll's snapshot). Past it, the least recently active ones are
	// forgotten as if they had expired. Default DefaultMaxProducers.
	MaxProducers int
	// MaxDecompressedBatchBytes caps how many bytes decompressing one
	// stored batch may produce (timestamp lookups); a batch that would
	// exceed it is reported as corrupt. Default
	// recordbatch.DefaultMaxDecompressed (64 MiB), what the broker
	// accepts on produce.
	MaxDecompressedBatchBytes int64
	// Files bounds the open segment files, shared by every log of a
	// broker; nil: a process-wide cache of DefaultMaxOpenFiles. Read at
	// Open only.
	Files *FileCache
	// Compact (cleanup.policy includes compact): the log cleaner
	// (cleaner.go) keeps only the last record of each key in sealed
	// segments. The settings below are Kafka's topic configs of the same
	// names and apply only then.
	Compact bool
	// MinCleanableDirtyRatio (min.cleanable.dirty.ratio): the log is
	// cleaned once its dirty part is at least this share of the
	// cleanable bytes. DefaultConfig: 0.5.
	MinCleanableDirtyRatio float64
	// MinCompactionLag (min.compaction.lag.ms): a segment holding a
	// record younger than this is not cleaned.
	MinCompactionLag time.Duration
	// MaxCompactionLag (max.compaction.lag.ms): a dirty record older
	// than this makes the log cleanable whatever its dirty ratio, and
	// rolls the active segment; 0 = no limit.
	MaxCompactionLag time.Duration
	// DeleteRetention (delete.retention.ms): how long a tombstone stays
	// after the cleaner first saw it. DefaultConfig: 1 day.
	DeleteRetention time.Duration
	// SyncFile fsyncs one segment or index file; nil: (*os.File).Sync.
	// It is a fault-injection seam for tests (a disk whose fsync fails).
	// Read at Open only.
	SyncFile func(*os.File) error
}

// Defaults.
const (
	DefaultSegmentBytes              = 128 << 20
	DefaultIndexIntervalBytes        = 4096
	DefaultMaxDecompressedBatchBytes = recordbatch.DefaultMaxDecompressed
	maxSegmentBytes                  = math.MaxInt32
)

// DefaultConfig is Kafka's defaults: 128 MiB (rather than 1 GiB) segments
// rolled after 7 days, 7 days retention, no size limit, an index entry
// every 4 KiB.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       DefaultSegmentBytes,
		SegmentAge:         7 * 24 * time.Hour,
		RetentionAge:       7 * 24 * time.Hour,
		RetentionBytes:     -1,
		IndexIntervalBytes: DefaultIndexIntervalBytes,

		ProducerIDExpiration:      DefaultProducerIDExpiration,
		MaxProducers:              DefaultMaxProducers,
		MaxDecompressedBatchBytes: DefaultMaxDecompressedBatchBytes,

		MinCleanableDirtyRatio: 0.5,
		DeleteRetention:        24 * time.Hour,
	}
}

func (c Config) normalized() Config {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentBytes > maxSegmentBytes {
		c.SegmentBytes = maxSegmentBytes
	}
	if c.SegmentAge < 0 {
		c.SegmentAge = 0
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.ProducerIDExpiration <= 0 {
		c.ProducerIDExpiration = DefaultProducerIDExpiration
	}
	if c.MaxProducers <= 0 {
		c.MaxProducers = DefaultMaxProducers
	}
	if c.MaxDecompressedBatchBytes <= 0 {
		c.MaxDecompressedBatchBytes = DefaultMaxDecompressedBatchBytes
	}
	return c
}

var (
	// ErrCorruptBatch means stored or appended bytes that do not form a
	// record batch (short, bad length, CRC mismatch, records that do not
	// decode). It is recordbatch.ErrCorrupt, so that callers need test
	// only one.
	ErrCorruptBatch = recordbatch.ErrCorrupt
	// ErrInvalidBatch means a well-formed batch that is not acceptable;
	// it is recordbatch.ErrInvalid.
	ErrInvalidBatch = recordbatch.ErrInvalid
	// ErrOffsetOutOfRange: the offset is below the log start or above the
	// log end.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrStorage wraps every I/O failure (disk full, read-only file
	// system, fsync failure, ...).
	ErrStorage = errors.New("log storage error")
	// ErrFsyncFailed marks the sticky error of a log whose fsync failed
	// (it wraps the ErrStorage cause too). Unlike a failed write (disk
	// full), it does not pass: the kernel may have dropped the dirty
	// pages, so no later fsync can prove them durable (fsyncgate). The
	// broker takes its log dir offline on it.
	ErrFsyncFailed = errors.New("fsync failed")
	// errFsyncCall marks an error returned by fsync itself, as opposed to
	// opening a file or writing an index on the way (a full disk, no free
	// descriptor): only the former leaves the page cache in doubt.
	errFsyncCall = errors.New("fsync")
	// ErrClosed is returned by a closed log.
	ErrClosed = errors.New("log closed")
)

// AppendInfo describes what Append wrote.
type AppendInfo struct {
	FirstOffset, LastOffset int64
	// MaxTimestamp is the largest batch maxTimestamp of the append (-1 if
	// none); MaxTimestampOffset is the base offset of the first batch
	// carrying it (batch precision; MaxTimestamp on the log is record
	// precise).
	MaxTimestamp       int64
	MaxTimestampOffset int64
}

// SegmentInfo describes one segment.
type SegmentInfo struct {
	BaseOffset   int64
	NextOffset   int64 // last offset + 1; BaseOffset if empty
	Size         int64
	MaxTimestamp int64 // largest batch maxTimestamp, -1 if none
	Sealed       bool
	Path         string // the .log file
}

// Log is one partition's local log. All methods are safe for concurrent
// use.
type Log struct {
	dir    string
	logger *slog.Logger

	// lifeMu is held for reading by every operation that uses segment
	// files outside mu (Read, timestamp lookups, fsync) and for writing
	// by those that close, delete or shorten files (retention,
	// TruncateTo, Close). Lock order: lifeMu, then mu.
	lifeMu sync.RWMutex
	// mu guards the segment list, the segments' mutable fields, cfg,
	// epochs and closed. Append holds it for writing.
	mu       sync.RWMutex
	cfg      Config
	files    *FileCache // opens and closes the segment files
	syncFile func(*os.File) error
	segs     []*segment // ordered by base; the last one is active
	epochs   []epochEntry
	dirDirty bool // files created or removed since the last directory fsync
	closed   bool

	// Idempotent producers (producerstate.go, snapshot.go), guarded by mu.
	producers    *producerState
	prodScratch  []producerUpdate
	pendingSnaps []pendingSnapshot
	snapsPending atomic.Bool // len(pendingSnaps) > 0, read by FlushUpTo

	// The log cleaner (cleaner.go): cleanMu makes one clean at a time;
	// cleanedTo is the first dirty offset (cleaner-offset-checkpoint),
	// guarded by mu; testHookClean, if set, is called at each step of a
	// segment swap and stops the clean there when it returns an error
	// (crash tests).
	cleanMu       sync.Mutex
	cleanedTo     int64
	testHookClean func(step string) error

	logStart atomic.Int64 // the first segment's base
	// recordsStart is the first offset DeleteRecords left (retention.go,
	// AdvanceLogStart), 0 if none; it may lie inside the first segment.
	// Not persisted here: the broker keeps it in etcd and sets it again
	// after a restart.
	recordsStart atomic.Int64
	leo          atomic.Int64
	flushed      atomic.Int64
	isClosed     atomic.Bool

	// Group commit (flush.go).
	fmu      sync.Mutex
	fcond    *sync.Cond
	flushing bool
	flushErr error // sticky: after a failed fsync nothing is known durable

	syncs        atomic.Int64 // fsync rounds run, for tests and metrics
	replayScans  atomic.Int64 // segments header-scanned to rebuild producer state (tests)
	testHookSync func()       // called at the start of each fsync round (tests)

	bgTarget atomic.Int64
	kick     chan struct{}
	stop     chan struct{}
	bgDone   chan struct{}
}

// Open opens the log in dir, creating the directory if missing, and recovers
// it (recovery.go): a log closed cleanly is trusted, otherwise the active
// segment is scanned and a torn or corrupt tail is cut off. Open runs no
// fsync for what it recovered: that is the first FlushUpTo's work (the
// caller's, once it has opened its logs), and until then FlushedOffset is
// below the end.
func Open(dir string, cfg Config, logger *slog.Logger) (*Log, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, storageErr("create log directory", err)
		}
		// The new directory's own entry must survive a crash too.
		if err := fileutil.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, storageErr("fsync parent of log directory", err)
		}
	}
	l := &Log{
		dir:    dir,
		logger: logger.With("dir", dir),
		cfg:    cfg.normalized(),
		files:  cfg.Files,
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		bgDone: make(chan struct{}),
	}
	if l.files == nil {
		l.files = defaultFiles
	}
	fsync := cfg.SyncFile
	if fsync == nil {
		fsync = (*os.File).Sync
	}
	l.syncFile = func(f *os.File) error {
		if err := fsync(f); err != nil {
			return fmt.Errorf("%w: %w", errFsyncCall, err)
		}
		return nil
	}
	l.fcond = sync.NewCond(&l.fmu)
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.close()
		}
		return nil, err
	}
	go l.backgroundFlusher()
	return l, nil
}

// SetConfig replaces the configuration; it applies from the next append or
// retention pass.
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = cfg.normalized()
}

// LogStartOffset is the first offset still in the log: the first
// segment's base, or the offset AdvanceLogStart set if that is higher.
func (l *Log) LogStartOffset() int64 { return max(l.logStart.Load(), l.recordsStart.Load()) }

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// FlushedOffset is the offset below which everything is fsynced.
func (l *Log) FlushedOffset() int64 { return l.flushed.Load() }

// Segments describes the segments, oldest first; the last is active.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.info()
	}
	return out
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// segmentIndex returns the index of the segment that holds offset: the last
// one whose base is <= offset (0 if none is).
func (l *Log) segmentIndex(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	return max(i-1, 0)
}

// frameBatches returns the headers of batches: hs as the caller parsed
// them, checked against the bytes' length, or (hs nil) parsed again,
// checking only the framing. Either way Append can never write something
// the log cannot read back; the CRC and records are the caller's to
// validate (recordbatch.Validate). span is the number of offsets the
// batches take.
func frameBatches(b []byte, hs []recordbatch.Header) (_ []recordbatch.Header, span int64, err error) {
	if hs == nil {
		hs, err = recordbatch.Frame(b)
	} else {
		err = recordbatch.CheckFramed(hs, len(b))
	}
	if err != nil {
		return nil, 0, err
	}
	for _, h := range hs {
		span += int64(h.LastOffsetDelta) + 1
	}
	return hs, span, nil
}

// Append appends one or more batches (concatenated, validated by the caller;
// Append owns the slice and rewrites it). hs are the batches' headers as
// the caller's validation parsed them (Append owns and updates them too),
// or nil to have Append parse the framing again. Offsets are assigned consecutively
// from LogEndOffset and every batch gets PartitionLeaderEpoch = leaderEpoch.
// It rolls first if the active segment is non-empty and too big or too old,
// writes without fsync and updates the indexes. On a write error the segment
// is cut back to its previous size and the error wraps ErrStorage; the log
// stays usable.
//
// Batches with a producer id (idempotent producers) are checked against
// the producer state first, atomically with the offset assignment (Kafka's
// rules, producerstate.go): a first batch that repeats one of its
// producer's last 5 gives a *DuplicateBatchError carrying the original
// offsets, an older epoch ErrInvalidProducerEpoch, a sequence that does not
// follow ErrOutOfOrderSequence; in all these cases nothing is written.
func (l *Log) Append(batches []byte, hs []recordbatch.Header, leaderEpoch int32, now time.Time) (AppendInfo, error) {
	hs, span, err := frameBatches(batches, hs)
	if err != nil {
		return AppendInfo{}, err
	}
	ctrls, err := controlsOf(batches, hs)
	if err != nil {
		return AppendInfo{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendInfo{}, ErrClosed
	}
	first := l.leo.Load()
	upd, err := l.producers.check(hs, ctrls, first, l.prodScratch[:0])
	l.prodScratch = upd[:0]
	if err != nil {
		return AppendInfo{}, err
	}
	seg, err := l.segmentForLocked(int64(len(batches)), first, first+span-1, now)
	if err != nil {
		return AppendInfo{}, err
	}
	if leaderEpoch >= 0 && leaderEpoch > l.latestEpochLocked() {
		if err := l.assignEpochLocked(leaderEpoch, first); err != nil {
			return AppendInfo{}, err
		}
	}
	info := AppendInfo{FirstOffset: first, MaxTimestamp: -1, MaxTimestampOffset: -1}
	next, pos := first, 0
	for i := range hs {
		h := &hs[i]
		b := batches[pos : pos+h.Size()]
		recordbatch.SetBaseOffset(b, next)
		recordbatch.SetPartitionLeaderEpoch(b, leaderEpoch)
		h.BaseOffset, h.PartitionLeaderEpoch = next, leaderEpoch
		if h.MaxTimestamp > info.MaxTimestamp {
			info.MaxTimestamp, info.MaxTimestampOffset = h.MaxTimestamp, h.BaseOffset
		}
		next = h.LastOffset() + 1
		pos += h.Size()
	}
	if err := l.writeLocked(seg, batches, hs, first, now); err != nil {
		return AppendInfo{}, err
	}
	info.LastOffset = next - 1
	l.leo.Store(next)
	l.producers.commit(upd)
	for i, h := range hs {
		if a, ok := l.producers.trackTxn(h, controlAt(ctrls, i)); ok {
			seg.addAborted(a)
		}
	}
	l.boundProducersLocked()
	return info, nil
}

// segmentForLocked returns the segment an append of n bytes holding
// offsets first..last goes to: the active one, or a new one when the active
// segment (if non-empty) is too big or too old. An append that cannot fit
// even in an empty segment is refused.
func (l *Log) segmentForLocked(n, first, last int64, now time.Time) (*segment, error) {
	seg := l.active()
	if !seg.empty() && l.shouldRoll(seg, n, last, now) {
		if err := l.rollLocked(); err != nil {
			return nil, err
		}
		seg = l.active()
	}
	if seg.size+n > maxSegmentBytes || last-seg.base > math.MaxUint32 {
		return nil, fmt.Errorf("%w: append of %d bytes, offsets %d..%d, does not fit in one segment", ErrInvalidBatch, n, first, last)
	}
	return seg, nil
}

// writeLocked writes batches (with headers hs, first offset first) to seg.
func (l *Log) writeLocked(seg *segment, batches []byte, hs []recordbatch.Header, first int64, now time.Time) error {
	if err := seg.append(batches, hs, int64(l.cfg.IndexIntervalBytes)); err != nil {
		l.logger.Error("append failed", "offset", first, "bytes", len(batches), "err", err)
		return err
	}
	if seg.firstAppend.IsZero() {
		seg.firstAppend = now
	}
	return nil
}

func (l *Log) shouldRoll(seg *segment, n int64, lastOffset int64, now time.Time) bool {
	switch {
	case seg.size+n > l.cfg.SegmentBytes:
		return true
	case l.cfg.SegmentAge > 0 && !seg.firstAppend.IsZero() && now.Sub(seg.firstAppend) > l.cfg.SegmentAge:
		return true
	case lastOffset-seg.base > math.MaxUint32:
		return true
	case l.cfg.Compact && l.cfg.MaxCompactionLag > 0 && !seg.firstAppend.IsZero() && now.Sub(seg.firstAppend) > l.cfg.MaxCompactionLag:
		// The cleaner never cleans the active segment: roll it so
		// that no dirty record waits longer than max.compaction.lag.ms.
		return true
	}
	return false
}

// Roll seals the active segment (if non-empty) and starts a new one.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.active().empty() {
		return nil
	}
	return l.rollLocked()
}

// rollLocked seals the active segment and creates the next one at the log
// end. The sealed segment's bytes are fsynced in the background (as Kafka
// does after a roll), together with the directory, and then the producer
// state as of the new segment's base, taken here, is written.
func (l *Log) rollLocked() error {
	seg := l.active()
	if seg.finalTimeEntry() {
		if err := seg.writeIndexTail(len(seg.offIdx), len(seg.timeIdx)-1); err != nil {
			seg.timeIdx = seg.timeIdx[:len(seg.timeIdx)-1]
			return err
		}
	}
	ns, err := createSegment(l.dir, l.leo.Load(), l.files)
	if err != nil {
		return err
	}
	seg.sealed = true
	seg.idxDirty = true
	l.segs = append(l.segs, ns)
	l.dirDirty = true
	l.logger.Debug("rolled segment", "sealed", seg.base, "next", seg.next, "bytes", seg.size)
	l.captureSnapshotLocked(ns.base, time.Now())
	l.kickFlush(ns.base)
	return nil
}

// segView is a segment and how many of its bytes a reader may look at.
type segView struct {
	s    *segment
	size int64
}

// Read returns whole stored batches starting with the one that contains
// offset, stopping before any batch whose last offset is >= maxOffset and
// before the total would exceed maxBytes, except that with minOneBatch the
// first batch is returned whatever its size. The result may span segments.
// offset == LogEndOffset, or nothing below maxOffset, gives nil, nil; an
// offset outside [LogStartOffset, LogEndOffset] gives ErrOffsetOutOfRange.
// Every returned batch has been checked (frame, offsets, CRC); damaged
// stored bytes give an error wrapping ErrCorruptBatch, unless good batches
// came before them, which are returned alone.
func (l *Log) Read(offset, maxOffset int64, maxBytes int, minOneBatch bool) ([]byte, error) {
	l.lifeMu.RLock()
	defer l.lifeMu.RUnlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	start, end := l.LogStartOffset(), l.leo.Load()
	if offset < start || offset > end {
		l.mu.RUnlock()
		return nil, fmt.Errorf("%w: offset %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, start, end)
	}
	if offset == end || offset >= maxOffset || (maxBytes <= 0 && !minOneBatch) {
		l.mu.RUnlock()
		return nil, nil
	}
	i := l.segmentIndex(offset)
	views := make([]segView, 0, len(l.segs)-i)
	for _, s := range l.segs[i:] {
		views = append(views, segView{s: s, size: s.size})
	}
	first := l.segs[i]
	var startPos, startOff int64 = 0, first.base
	if e, ok := floorOffset(first.offIdx, offset-first.base); ok {
		startPos, startOff = int64(e.pos), first.base+int64(e.rel)
	}
	l.mu.RUnlock()

	r := batchReader{offset: offset, maxOffset: maxOffset, maxBytes: maxBytes, minOneBatch: minOneBatch}
	for k, v := range views {
		pos, expect := int64(0), v.s.base
		if k == 0 {
			pos, expect = startPos, startOff
		}
		done, err := r.readSegment(v, pos, expect)
		if err != nil {
			if len(r.out) > 0 {
				return r.out, nil
			}
			return nil, err
		}
		if done {
			break
		}
	}
	return r.out, nil
}

type batchReader struct {
	offset, maxOffset int64
	maxBytes          int
	minOneBatch       bool
	out               []byte
}

// readSegment appends to r.out the batches of v from the first one at or
// after pos that holds an offset >= r.offset. expect is the base offset of
// the batch at pos. done means a limit was reached.
func (r *batchReader) readSegment(v segView, pos, expect int64) (done bool, err error) {
	sc := headerScanner{s: v.s, limit: v.size}
	var h recordbatch.Header
	for ; pos < v.size; pos += int64(h.Size()) {
		if h, err = sc.at(pos); err != nil {
			return true, err
		}
		if h.BaseOffset < expect {
			return true, fmt.Errorf("%w: segment %d at byte %d: batch has base offset %d, expected at least %d",
				ErrCorruptBatch, v.s.base, pos, h.BaseOffset, expect)
		}
		if h.LastOffset() >= r.offset {
			break
		}
		expect = h.LastOffset() + 1
	}
	if pos >= v.size {
		return false, nil
	}
	if h.LastOffset() >= r.maxOffset {
		return true, nil
	}
	want := int64(r.maxBytes - len(r.out))
	if len(r.out) == 0 && r.minOneBatch {
		want = max(want, int64(h.Size()))
	}
	if want <= 0 {
		return true, nil
	}
	n := min(want, v.size-pos)
	buf := make([]byte, n)
	if err := v.s.readAt(buf, pos); err != nil {
		return true, err
	}
	off := int64(0)
	defer func() {
		if off == 0 {
			return
		}
		if r.out == nil {
			r.out = buf[:off:off]
		} else {
			r.out = append(r.out, buf[:off]...)
		}
	}()
	for off < n {
		if n-off < recordbatch.HeaderSize {
			break
		}
		h, _ := recordbatch.ParseHeader(buf[off:])
		if err := recordbatch.CheckFrame(h, v.size-pos-off); err != nil {
			return true, fmt.Errorf("segment %d at byte %d: %w", v.s.base, pos+off, err)
		}
		if h.BaseOffset < expect {
			return true, fmt.Errorf("%w: segment %d at byte %d: batch has base offset %d, expected at least %d",
				ErrCorruptBatch, v.s.base, pos+off, h.BaseOffset, expect)
		}
		if h.LastOffset() >= r.maxOffset {
			return true, nil
		}
		size := int64(h.Size())
		if off+size > n {
			break
		}
		if crc := recordbatch.Checksum(buf[off : off+size]); crc != h.CRC {
			return true, fmt.Errorf("%w: segment %d at byte %d (offset %d): crc mismatch: header %#08x, computed %#08x",
				ErrCorruptBatch, v.s.base, pos+off, h.BaseOffset, h.CRC, crc)
		}
		off += size
		expect = h.LastOffset() + 1
	}
	if off < n {
		// The next batch does not fit in what was read: either the byte
		// budget is spent or the segment ends inside a batch.
		if pos+n == v.size {
			return true, fmt.Errorf("%w: segment %d: partial batch at byte %d", ErrCorruptBatch, v.s.base, pos+off)
		}
		return true, nil
	}
	return pos+n < v.size, nil
}
