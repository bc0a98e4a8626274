package hotlog

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// EnforceRetention deletes the oldest sealed segments (never the active one)
// that retention no longer needs: by age, a segment whose largest timestamp
// (its file's modification time if it has no timestamps) is older than
// now - RetentionAge; by size, while the log's total size without the
// oldest segment stays >= RetentionBytes. Deletion goes oldest first and
// stops at the first segment that is kept, or that allow (if not nil)
// refuses: tiering allows only segments safe in the object store. allow is
// called without any lock held. It returns how many segments were deleted;
// LogStartOffset moves to the new first segment's base.
func (l *Log) EnforceRetention(now time.Time, allow func(SegmentInfo) bool) (int, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	cfg := l.cfg
	var total int64
	infos := make([]SegmentInfo, 0, len(l.segs)-1)
	for i, s := range l.segs {
		total += s.size
		if i < len(l.segs)-1 {
			infos = append(infos, s.info())
		}
	}
	l.mu.RUnlock()

	nowMs := now.UnixMilli()
	ageMs := int64(-1)
	if cfg.RetentionAge >= 0 {
		ageMs = cfg.RetentionAge.Milliseconds()
	}
	k := 0
	for _, si := range infos {
		ts := si.MaxTimestamp
		if ts < 0 && ageMs >= 0 {
			// No timestamps: the file's age stands in for them.
			if st, err := os.Stat(si.Path); err == nil {
				ts = st.ModTime().UnixMilli()
			}
		}
		if !retentionExpired(ts, nowMs, ageMs, total-si.Size, cfg.RetentionBytes) || (allow != nil && !allow(si)) {
			break
		}
		total -= si.Size
		k++
	}
	return l.removeOldest(infos[:k], "retention")
}

// removeOldest deletes the oldest segments of the log that are still the
// sealed segments judged (infos, oldest first, as Segments described them
// before the caller let go of the lock; the log may have changed since)
// and returns how many it deleted. The log start moves to the new first
// segment's base (or stays where AdvanceLogStart put it, if higher).
func (l *Log) removeOldest(infos []SegmentInfo, why string) (int, error) {
	k := len(infos)
	if k == 0 {
		return 0, nil
	}

	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	// The log may have changed while allow ran: delete only segments that
	// are still the ones judged.
	n := 0
	for n < k && n < len(l.segs)-1 {
		s := l.segs[n]
		if s.base != infos[n].BaseOffset || s.next != infos[n].NextOffset || s.size != infos[n].Size || !s.sealed {
			break
		}
		n++
	}
	victims := slices.Clone(l.segs[:n])
	l.segs = slices.Clone(l.segs[n:])
	l.logStart.Store(l.segs[0].base)
	var errs []error
	newStart := l.segs[0].base
	if n > 0 {
		l.dirDirty = true
		if l.truncateEpochsFromStart(newStart) {
			errs = append(errs, l.writeEpochCheckpoint())
		}
		l.dropPendingSnapshotsLocked(func(off int64) bool { return off < newStart })
	}
	l.mu.Unlock()

	for _, s := range victims {
		l.logger.Info(why+" deleted segment", "segment", s.base, "next_offset", s.next, "bytes", s.size, "max_timestamp", s.maxTs)
		if err := s.remove(); err != nil {
			errs = append(errs, storageErr(fmt.Sprintf("delete segment %d", s.base), err))
		}
	}
	if n > 0 {
		// The producer state itself stays (producers are forgotten by
		// expiration, not by retention); the snapshots of deleted
		// segments go with them.
		if _, err := l.removeSnapshots(func(off int64) bool { return off < newStart }); err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// AdvanceLogStart deletes the records below offset (DeleteRecords, or a
// follower learning the leader's log start): LogStartOffset becomes
// offset, clamped to the log end, unless it is already higher; reads below
// it give ErrOffsetOutOfRange; the sealed segments wholly below it are
// deleted. A segment that straddles offset stays, its records below offset
// unreadable. It returns how many segments were deleted.
func (l *Log) AdvanceLogStart(offset int64) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	offset = min(offset, l.leo.Load())
	if offset > l.recordsStart.Load() {
		l.recordsStart.Store(offset)
	}
	var infos []SegmentInfo
	for _, s := range l.segs[:len(l.segs)-1] {
		if !s.sealed || s.next > offset {
			break
		}
		infos = append(infos, s.info())
	}
	l.mu.Unlock()
	return l.removeOldest(infos, "log start advance")
}

// retentionExpired is the retention rule, the one place it is written: a
// segment whose largest timestamp ts is older than retentionMs before
// nowMs, or that has at least retentionBytes of log after it, is no longer
// kept. Negative limits (and a negative ts, for the age) are unlimited.
func retentionExpired(ts, nowMs, retentionMs, bytesAfter, retentionBytes int64) bool {
	if retentionMs >= 0 && ts >= 0 && ts < nowMs-retentionMs {
		return true
	}
	return retentionBytes >= 0 && bytesAfter >= retentionBytes
}

// TotalRetentionExpired returns a test for the sealed segments of segs (a
// log's segments, oldest first, as Segments returns them) that a topic's
// total retention (retention.ms by the segment's largest timestamp,
// retention.bytes of log after it) no longer keeps, even if they were never
// tiered. Only a prefix of segs expires, as retention deletes only a
// prefix: a back-dated segment after a kept one is kept. Segments not in
// segs are kept. Negative limits are unlimited.
func TotalRetentionExpired(segs []SegmentInfo, retentionMs, retentionBytes int64, now time.Time) func(SegmentInfo) bool {
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	nowMs := now.UnixMilli()
	prefix := map[int64]bool{}
	for _, s := range segs {
		total -= s.Size // now the bytes after s
		if !s.Sealed || !retentionExpired(s.MaxTimestamp, nowMs, retentionMs, total, retentionBytes) {
			break
		}
		prefix[s.BaseOffset] = true
	}
	return func(s SegmentInfo) bool { return s.Sealed && prefix[s.BaseOffset] }
}

// TieredRetentionAllow is local retention's veto (the allow of
// EnforceRetention) for a log whose records also go to a cold tier that
// holds offsets [coldStart, coldEnd) (-1, -1: nothing yet; the tierer keeps
// it contiguous): a sealed segment of segs may be deleted locally once the
// cold tier holds all of it, or once the topic's total retention
// (retentionMs, retentionBytes: TotalRetentionExpired, a prefix of segs)
// has expired it and the cold tier keeps no record before it; so only a
// prefix of the partition goes untiered, never a segment between kept
// ones. The tierer asks the same question to skip what it need not upload.
func TieredRetentionAllow(segs []SegmentInfo, retentionMs, retentionBytes int64, now time.Time, coldStart, coldEnd int64) func(SegmentInfo) bool {
	expired := TotalRetentionExpired(segs, retentionMs, retentionBytes, now)
	return func(s SegmentInfo) bool {
		if coldEnd >= 0 && s.NextOffset <= coldEnd {
			return true
		}
		return expired(s) && (coldEnd < 0 || coldStart >= s.NextOffset)
	}
}

// TruncateTo drops every record at or after offset (a follower's
// divergence fix). offset should be a batch boundary; if it falls inside a
// batch, the whole batch goes (as in Kafka), so the log end becomes that
// batch's base offset. An offset at or below the log start empties the log
// and restarts it at offset. Offsets at or beyond the log end change
// nothing. The truncation is fsynced before TruncateTo returns.
func (l *Log) TruncateTo(offset int64) error {
	return l.truncate(offset, false)
}

// ResetTo empties the log and starts it again at offset, which may lie
// beyond the log end. A follower whose leader no longer keeps the records
// after the follower's log end locally (they are in the cold tier) starts
// over at the leader's local log start, as Kafka's truncateFullyAndStartAt.
func (l *Log) ResetTo(offset int64) error {
	return l.truncate(offset, true)
}

func (l *Log) truncate(offset int64, reset bool) (err error) {
	if offset < 0 {
		return fmt.Errorf("%w: truncate to negative offset %d", ErrOffsetOutOfRange, offset)
	}
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if !reset && offset >= l.leo.Load() {
		return nil
	}
	var (
		newEnd  int64
		victims []*segment
	)
	emptied := false // set once the log has been emptied
	defer func() {
		// However far the truncation got, the producer state must not
		// remember batches the log no longer has.
		if perr := l.truncateProducerStateLocked(emptied); perr != nil && err == nil {
			err = perr
		}
	}()
	if reset || offset < l.segs[0].base {
		old := l.segs
		if i := slices.IndexFunc(old, func(v *segment) bool { return v.base == offset }); i >= 0 {
			// The new empty segment takes this one's file name.
			if err := old[i].remove(); err != nil {
				return storageErr(fmt.Sprintf("delete segment %d", offset), err)
			}
			old = slices.Delete(slices.Clone(old), i, i+1)
		}
		ns, err := createSegment(l.dir, offset, l.files)
		if err != nil {
			return err
		}
		victims = old
		l.segs = []*segment{ns}
		l.logStart.Store(offset)
		newEnd = offset
		emptied = true
	} else {
		// Work out the new state first, then change the files: an error
		// before the truncation leaves the log as it was.
		i := l.segmentIndex(offset)
		s := l.segs[i]
		cut, _, err := s.batchStart(offset)
		if err != nil {
			return err
		}
		t, err := s.scanIndexes(cut, int64(l.cfg.IndexIntervalBytes))
		if err != nil {
			return err
		}
		if err := s.truncateLog(cut); err != nil {
			return storageErr(fmt.Sprintf("truncate segment %d", s.base), err)
		}
		victims = slices.Clone(l.segs[i+1:])
		l.segs = l.segs[:i+1]
		s.sealed = false
		s.adoptIndexes(t)
		s.dirty = true
		if s.empty() {
			s.firstAppend = time.Time{}
		} else if s.firstAppend.IsZero() {
			s.firstAppend = time.Now()
		}
		newEnd = s.next
		l.leo.Store(newEnd)
		if err := s.writeIndexFiles(); err != nil {
			return err
		}
		// The offsets cut off will be written again: no abort of
		// theirs may stay in the index file.
		if s.cutAborted(newEnd); s.txnDirty {
			if err := l.writeTxnIndex(s, s.aborted); err != nil {
				return err
			}
			s.txnDirty = false
		}
		if err := s.sync(true, l.syncFile); err != nil {
			return err
		}
	}
	l.leo.Store(newEnd)
	if l.recordsStart.Load() > newEnd {
		l.recordsStart.Store(newEnd)
	}
	l.cleanedTo = min(l.cleanedTo, newEnd)
	var errs []error
	for _, v := range victims {
		if err := v.remove(); err != nil {
			errs = append(errs, storageErr(fmt.Sprintf("delete segment %d", v.base), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := l.syncDir(); err != nil {
		return storageErr("fsync log directory", err)
	}
	l.dirDirty = false
	if l.flushed.Load() > newEnd {
		l.flushed.Store(newEnd)
	}
	if reset && len(l.epochs) > 0 {
		l.epochs = l.epochs[:0] // none of the epochs' offsets is in the log any more
		if err := l.writeEpochCheckpoint(); err != nil {
			return err
		}
	}
	if l.truncateEpochsFromEnd(newEnd) {
		if err := l.writeEpochCheckpoint(); err != nil {
			return err
		}
	}
	l.logger.Info("truncated log", "offset", offset, "log_end", newEnd)
	return nil
}

// batchStart finds the batch holding offset (or the first one after it):
// its position and base offset. If none, the segment's end.
func (s *segment) batchStart(offset int64) (pos, base int64, err error) {
	expect := s.base
	if e, ok := floorOffset(s.offIdx, offset-s.base); ok {
		pos, expect = int64(e.pos), s.base+int64(e.rel)
	}
	sc := headerScanner{s: s, limit: s.size}
	for pos < s.size {
		h, err := sc.at(pos)
		if err != nil {
			return 0, 0, err
		}
		if h.BaseOffset < expect {
			return 0, 0, fmt.Errorf("%w: segment %d at byte %d: base offset %d, expected at least %d", ErrCorruptBatch, s.base, pos, h.BaseOffset, expect)
		}
		if h.LastOffset() >= offset {
			return pos, h.BaseOffset, nil
		}
		pos += int64(h.Size())
		expect = h.LastOffset() + 1
	}
	return s.size, s.next, nil
}

// truncateProducerStateLocked rebuilds the producer state after TruncateTo
// as of the new log end. Snapshots past it describe removed batches (all
// of them if the log was emptied): they are deleted durably, so that none
// comes back to describe offsets written again.
func (l *Log) truncateProducerStateLocked(emptied bool) error {
	end := l.leo.Load()
	drop := func(off int64) bool { return emptied || off > end }
	l.dropPendingSnapshotsLocked(drop)
	removed, err := l.removeSnapshots(drop)
	if removed && err == nil {
		if serr := l.syncDir(); serr != nil {
			err = storageErr("fsync log directory", serr)
		}
	}
	if emptied {
		l.producers = newProducerState()
	} else {
		l.producers = l.loadProducerState(end)
	}
	return err
}
