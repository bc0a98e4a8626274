package hotlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/stratalog/strata/fileutil"
)

// The aborted-transaction index (docs/format/txnindex.md): per segment,
// the transactions whose abort marker is in that segment, in the order of
// their markers, as Kafka's TransactionIndex (.txnindex). A
// read_committed fetch answers them for the range it returns, so that the
// consumer drops those producers' records. A segment's entries are held
// in memory; its file is rewritten whole by the fsync round after they
// change, and Open loads it and adds what the producer-state replay finds
// after the snapshot.

const extTxnIndex = ".txnindex"

// AbortedTxn is one aborted transaction on a partition: producer
// ProducerID wrote its records from FirstOffset on, and its abort marker
// is at LastOffset. LastStableOffset is the partition's last stable
// offset right after the abort (the first offset of the earliest
// transaction still open, else LastOffset+1).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

const (
	txnIndexVersion   = 0
	txnIndexEntrySize = 34 // version 2, producer id 8, first, last, last stable offset 8 each
)

var errBadTxnIndex = errors.New("bad aborted-transaction index")

// encodeTxnIndex serialises entries (in marker order).
func encodeTxnIndex(entries []AbortedTxn) []byte {
	be := binary.BigEndian
	b := make([]byte, 0, len(entries)*txnIndexEntrySize)
	for _, e := range entries {
		b = be.AppendUint16(b, txnIndexVersion)
		b = be.AppendUint64(b, uint64(e.ProducerID))
		b = be.AppendUint64(b, uint64(e.FirstOffset))
		b = be.AppendUint64(b, uint64(e.LastOffset))
		b = be.AppendUint64(b, uint64(e.LastStableOffset))
	}
	return b
}

// decodeTxnIndex parses a .txnindex file of the segment at base. It never
// panics and allocates no more than the input justifies. Entries must be
// whole, of version 0, with producer id >= 0, 0 <= firstOffset <=
// lastOffset, lastOffset >= base, lastStableOffset >= 0, and strictly
// increasing lastOffset (one marker per offset).
func decodeTxnIndex(b []byte, base int64) ([]AbortedTxn, error) {
	if len(b)%txnIndexEntrySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of %d-byte entries", errBadTxnIndex, len(b), txnIndexEntrySize)
	}
	be := binary.BigEndian
	out := make([]AbortedTxn, 0, len(b)/txnIndexEntrySize)
	for i := 0; len(b) > 0; i++ {
		if v := be.Uint16(b); v != txnIndexVersion {
			return nil, fmt.Errorf("%w: entry %d: unknown version %d", errBadTxnIndex, i, v)
		}
		e := AbortedTxn{
			ProducerID:       int64(be.Uint64(b[2:])),
			FirstOffset:      int64(be.Uint64(b[10:])),
			LastOffset:       int64(be.Uint64(b[18:])),
			LastStableOffset: int64(be.Uint64(b[26:])),
		}
		b = b[txnIndexEntrySize:]
		switch {
		case e.ProducerID < 0 || e.FirstOffset < 0 || e.FirstOffset > e.LastOffset || e.LastOffset < base || e.LastStableOffset < 0:
			return nil, fmt.Errorf("%w: entry %d: producer %d offsets %d..%d, last stable offset %d (segment %d)",
				errBadTxnIndex, i, e.ProducerID, e.FirstOffset, e.LastOffset, e.LastStableOffset, base)
		case len(out) > 0 && e.LastOffset <= out[len(out)-1].LastOffset:
			return nil, fmt.Errorf("%w: entry %d: marker offset %d not after %d", errBadTxnIndex, i, e.LastOffset, out[len(out)-1].LastOffset)
		}
		out = append(out, e)
	}
	return out, nil
}

// addAborted adds an aborted transaction to the segment's entries, kept
// in marker order; an entry for a marker offset already present is
// ignored (a replay over what the index file already said).
func (s *segment) addAborted(a AbortedTxn) {
	i, found := slices.BinarySearchFunc(s.aborted, a.LastOffset, func(e AbortedTxn, off int64) int {
		switch {
		case e.LastOffset < off:
			return -1
		case e.LastOffset > off:
			return 1
		}
		return 0
	})
	if found {
		return
	}
	s.aborted = slices.Insert(s.aborted, i, a)
	s.txnDirty = true
}

// cutAborted drops the entries whose marker is at or after end.
func (s *segment) cutAborted(end int64) {
	n := len(s.aborted)
	s.aborted = slices.DeleteFunc(s.aborted, func(e AbortedTxn) bool { return e.LastOffset >= end })
	if len(s.aborted) != n {
		s.txnDirty = true
	}
}

// loadTxnIndex merges the segment's .txnindex file (if any) into its
// entries. A file that does not decode is reported and rewritten from
// what the replay finds.
func (l *Log) loadTxnIndex(s *segment) error {
	data, err := os.ReadFile(s.path(extTxnIndex))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return storageErr("read aborted-transaction index", err)
	}
	entries, err := decodeTxnIndex(data, s.base)
	if err != nil {
		l.logger.Error("aborted-transaction index unusable; read_committed fetches of this segment may show aborted records the replay did not find",
			"file", filepath.Base(s.path(extTxnIndex)), "err", err)
		s.txnDirty = true
		return nil
	}
	dirty := s.txnDirty
	for _, e := range entries {
		s.addAborted(e)
	}
	s.txnDirty = dirty || len(s.aborted) != len(entries)
	return nil
}

// txnIndexJob is a segment's entries to write in an fsync round.
type txnIndexJob struct {
	s       *segment
	entries []AbortedTxn
}

// writeTxnIndex replaces the segment's .txnindex file atomically with
// entries (removes it when there are none), within the file cap. The
// caller fsyncs the directory.
func (l *Log) writeTxnIndex(s *segment, entries []AbortedTxn) error {
	path := s.path(extTxnIndex)
	if len(entries) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return storageErr("remove aborted-transaction index", err)
		}
		return nil
	}
	err := l.files.transient(1, func() error { return fileutil.Replace(path, encodeTxnIndex(entries), 0o644) })
	if err != nil {
		return syncErr("write aborted-transaction index", err)
	}
	return nil
}

// takeTxnIndexJobsLocked collects the segments whose entries changed
// since their file was written (l.mu held for writing).
func (l *Log) takeTxnIndexJobsLocked() []txnIndexJob {
	var jobs []txnIndexJob
	for _, s := range l.segs {
		if s.txnDirty {
			jobs = append(jobs, txnIndexJob{s, slices.Clone(s.aborted)})
			s.txnDirty = false
		}
	}
	return jobs
}

// writeTxnIndexJobs writes the jobs. On an error, the segments not
// written are marked dirty again (l.mu held for writing by the caller
// then: locked, or taken here).
func (l *Log) writeTxnIndexJobs(jobs []txnIndexJob, locked bool) error {
	for i, j := range jobs {
		if err := l.writeTxnIndex(j.s, j.entries); err != nil {
			if !locked {
				l.mu.Lock()
				defer l.mu.Unlock()
			}
			for _, k := range jobs[i:] {
				k.s.txnDirty = true
			}
			return err
		}
	}
	return nil
}

// AbortedTransactions returns the aborted transactions a read_committed
// fetch of [from, upTo) must name: those whose marker is at or after from
// and whose first offset is below upTo, in marker order (Kafka's
// collectAbortedTransactions). Entries of segments retention removed are
// gone with them.
func (l *Log) AbortedTransactions(from, upTo int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || from >= upTo {
		return nil
	}
	var out []AbortedTxn
	for _, s := range l.segs[l.segmentIndex(from):] {
		for _, e := range s.aborted {
			if e.LastOffset >= from && e.FirstOffset < upTo {
				out = append(out, e)
			}
			if e.LastStableOffset >= upTo {
				// No transaction that started below upTo was
				// open after this abort: later markers are of
				// transactions that start at or after upTo.
				return out
			}
		}
	}
	return out
}
