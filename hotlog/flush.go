package hotlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FlushUpTo blocks until every offset below offset (capped at the log end)
// is fsynced. Group commit: one fsync runs at a time; callers that arrive
// while it runs wait for the next one, which covers all of them. The append
// lock is not held during fsync, so appends go on. A roll since the last
// flush also fsyncs the directory. Errors wrap ErrStorage. An fsync that
// failed is sticky (ErrFsyncFailed): the kernel may have dropped the dirty
// pages, so no later fsync can prove them durable and every later call
// fails too, without trying again; any other failure on the way (a full
// disk while writing an index, no free descriptor) is retried next time.
func (l *Log) FlushUpTo(offset int64) error {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	for {
		if l.flushErr != nil {
			return l.flushErr
		}
		if l.flushed.Load() >= min(offset, l.leo.Load()) && !l.snapsPending.Load() {
			return nil
		}
		if l.isClosed.Load() {
			return ErrClosed
		}
		if l.flushing {
			l.fcond.Wait()
			continue
		}
		l.flushing = true
		l.fmu.Unlock()
		err := l.syncOnce()
		l.fmu.Lock()
		l.flushing = false
		l.fcond.Broadcast()
		if err != nil {
			// Only a failed fsync is sticky; a full disk or a missing
			// descriptor on the way (an index written, a file opened)
			// leaves nothing in doubt, and the next flush tries again.
			if errors.Is(err, errFsyncCall) {
				err = fmt.Errorf("%w: %w", ErrFsyncFailed, err)
				l.flushErr = err
				l.logger.Error("fsync failed; the log can no longer promise durability", "err", err)
			}
			return err
		}
	}
}

// syncOnce fsyncs everything appended so far and advances the flushed
// offset to the log end seen at its start; then it writes the producer-state
// snapshots taken at rolls before its start, which now describe only
// durable batches. A failed snapshot write is logged, not returned: the
// state can be rebuilt from an older snapshot and the log.
func (l *Log) syncOnce() error {
	l.lifeMu.RLock()
	defer l.lifeMu.RUnlock()

	type job struct {
		s       *segment
		indexes bool
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	target := l.leo.Load()
	var jobs []job
	for _, s := range l.segs {
		// The active segment's indexes are rebuilt by recovery, so
		// only sealed segments need theirs on disk.
		idx := s.sealed && s.idxDirty
		if s.dirty || idx {
			jobs = append(jobs, job{s, idx})
			s.dirty = false
			if idx {
				s.idxDirty = false
			}
		}
	}
	dir := l.dirDirty
	l.dirDirty = false
	txnJobs := l.takeTxnIndexJobsLocked()
	snaps := l.takePendingSnapshotsLocked()
	l.mu.Unlock()

	l.syncs.Add(1)
	if l.testHookSync != nil {
		l.testHookSync()
	}

	for _, j := range jobs {
		if err := j.s.sync(j.indexes, l.syncFile); err != nil {
			return err
		}
	}
	// The aborted-transaction indexes go before the snapshots: recovery
	// trusts a segment's index below the snapshot it replays from.
	if err := l.writeTxnIndexJobs(txnJobs, false); err != nil {
		l.mu.Lock()
		l.pendingSnaps = append(snaps, l.pendingSnaps...)
		l.snapsPending.Store(len(l.pendingSnaps) > 0)
		l.mu.Unlock()
		return err
	}
	// The segments are durable: the snapshots describe nothing a crash
	// can lose. One directory fsync covers their renames and any segment
	// files created since the last round.
	n, serr := l.writeSnapshots(snaps)
	if serr != nil {
		l.logger.Warn("producer-state snapshot not written; recovery will replay more of the log", "err", serr)
	}
	dir = dir || n > 0 || len(txnJobs) > 0
	if dir {
		if err := l.syncDir(); err != nil {
			return syncErr("fsync log directory", err)
		}
	}

	l.mu.Lock()
	for _, j := range jobs {
		// A sealed segment's indexes never change again: close them.
		if j.s.sealed && !j.s.idxDirty {
			j.s.closeIndexFiles()
		}
	}
	if target > l.flushed.Load() {
		l.flushed.Store(target)
	}
	l.mu.Unlock()
	return nil
}

// kickFlush asks the background flusher to fsync up to target (used after a
// roll, so a sealed segment becomes durable soon even without acks=all).
func (l *Log) kickFlush(target int64) {
	for {
		cur := l.bgTarget.Load()
		if target <= cur || l.bgTarget.CompareAndSwap(cur, target) {
			break
		}
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *Log) backgroundFlusher() {
	defer close(l.bgDone)
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
			if err := l.FlushUpTo(l.bgTarget.Load()); err != nil && !errors.Is(err, ErrClosed) {
				l.logger.Error("background flush after roll failed", "err", err)
			}
		}
	}
}

// Close fsyncs everything, writes the clean-shutdown marker and closes the
// files. Reads and flushes in flight finish first. Closing a closed log
// does nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.isClosed.Store(true)
	l.mu.Unlock()
	close(l.stop)
	<-l.bgDone

	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fmu.Lock()
	sticky := l.flushErr
	l.fmu.Unlock()
	if sticky != nil {
		// After a failed fsync nothing is fsynced again (its success
		// would prove nothing) and no clean-shutdown marker is written:
		// the next open recovers the log from what the disk holds.
		for _, s := range l.segs {
			s.close()
		}
		return sticky
	}

	act := l.active()
	var errs []error
	if act.finalTimeEntry() {
		errs = append(errs, act.writeIndexTail(len(act.offIdx), len(act.timeIdx)-1))
	}
	for _, s := range l.segs {
		if s.dirty || s.idxDirty || s == act {
			errs = append(errs, s.sync(true, l.syncFile))
		}
	}
	if err := l.syncDir(); err != nil {
		errs = append(errs, storageErr("fsync log directory", err))
	}
	if len(errs) == 0 {
		if terr := l.writeTxnIndexJobs(l.takeTxnIndexJobsLocked(), true); terr != nil {
			errs = append(errs, terr)
		}
	}
	err := errors.Join(errs...)
	if err == nil {
		// Everything is durable: the producer state as of the log end,
		// and any snapshot a roll queued, can be written.
		l.captureSnapshotLocked(l.leo.Load(), time.Now())
		// The marker's directory fsync covers the snapshots' renames.
		if _, serr := l.writeSnapshots(l.takePendingSnapshotsLocked()); serr != nil {
			l.logger.Warn("producer-state snapshot not written at close; the next open replays the log", "err", serr)
		}
		if werr := l.writeFile(filepath.Join(l.dir, cleanShutdownFile), nil); werr != nil {
			err = storageErr("write clean-shutdown marker", werr)
		} else {
			l.flushed.Store(l.leo.Load())
		}
	}
	for _, s := range l.segs {
		if cerr := s.close(); cerr != nil && err == nil {
			err = storageErr("close segment", cerr)
		}
	}
	return err
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	cerr := l.Close()
	if err := os.RemoveAll(l.dir); err != nil {
		return storageErr("remove log directory", err)
	}
	if cerr != nil {
		l.logger.Warn("closing deleted log", "err", cerr)
	}
	return nil
}
