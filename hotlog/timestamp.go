package hotlog

import (
	"errors"
	"fmt"

	"github.com/stratalog/strata/recordbatch"
)

// tsCandidate is a segment to search for a timestamp, and where to start.
type tsCandidate struct {
	v      segView
	pos    int64 // a batch boundary at or before the first batch that can match
	expect int64 // base offset of the batch at pos
	target int64 // timestamp searched in this segment
	offset int64 // for MaxTimestamp: the base offset of the batch wanted
	limit  int64 // most bytes one batch may decompress to
}

// OffsetForTimestamp returns the first offset whose record timestamp is >=
// ts, with that timestamp (ListOffsets by time). The segment is chosen by
// its max timestamp, the batch through the time and offset indexes and a
// forward scan of batch maxTimestamps, the record by decoding the batch
// (decompressing if needed). For LogAppendTime batches every record has the
// batch's MaxTimestamp. found is false if no record is that late.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	l.lifeMu.RLock()
	defer l.lifeMu.RUnlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, 0, false, ErrClosed
	}
	var cands []tsCandidate
	for _, s := range l.segs {
		if s.maxTs < ts || s.empty() {
			continue
		}
		c := tsCandidate{v: segView{s: s, size: s.size}, expect: s.base, target: ts, offset: -1, limit: l.cfg.MaxDecompressedBatchBytes}
		if te, ok := floorTime(s.timeIdx, ts); ok {
			if e, ok := floorOffset(s.offIdx, int64(te.rel)); ok {
				c.pos, c.expect = int64(e.pos), s.base+int64(e.rel)
			}
		}
		cands = append(cands, c)
	}
	l.mu.RUnlock()
	for _, c := range cands {
		o, t, ok, err := c.search()
		if err != nil || ok {
			return o, t, ok, err
		}
	}
	return 0, 0, false, nil
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record carrying it (ListOffsets -3). found is false if the log
// holds no timestamped record.
func (l *Log) MaxTimestamp() (offset int64, timestamp int64, found bool, err error) {
	l.lifeMu.RLock()
	defer l.lifeMu.RUnlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, 0, false, ErrClosed
	}
	var best *segment
	for _, s := range l.segs {
		if s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		l.mu.RUnlock()
		return 0, 0, false, nil
	}
	c := tsCandidate{v: segView{s: best, size: best.size}, expect: best.base, target: best.maxTs, offset: best.maxTsOffset, limit: l.cfg.MaxDecompressedBatchBytes}
	if e, ok := floorOffset(best.offIdx, best.maxTsOffset-best.base); ok {
		c.pos, c.expect = int64(e.pos), best.base+int64(e.rel)
	}
	l.mu.RUnlock()
	o, t, ok, err := c.search()
	if err != nil {
		return 0, 0, false, err
	}
	if !ok {
		// The batch header promised a record this late but none is:
		// answer at batch precision.
		return c.offset, c.target, true, nil
	}
	return o, t, true, nil
}

// search scans the candidate segment's batches from c.pos for the first one
// whose maxTimestamp reaches c.target (and, if c.offset >= 0, that starts at
// c.offset) and decodes it for the first record at or after c.target.
func (c tsCandidate) search() (int64, int64, bool, error) {
	s := c.v.s
	sc := headerScanner{s: s, limit: c.v.size}
	expect := c.expect
	for pos := c.pos; pos < c.v.size; {
		h, err := sc.at(pos)
		if err != nil {
			return 0, 0, false, err
		}
		if h.BaseOffset < expect {
			return 0, 0, false, fmt.Errorf("%w: segment %d at byte %d: base offset %d, expected at least %d",
				ErrCorruptBatch, s.base, pos, h.BaseOffset, expect)
		}
		if h.MaxTimestamp >= c.target && (c.offset < 0 || h.BaseOffset == c.offset) {
			batch := make([]byte, h.Size())
			if err := s.readAt(batch, pos); err != nil {
				return 0, 0, false, err
			}
			if crc := recordbatch.Checksum(batch); crc != h.CRC {
				return 0, 0, false, fmt.Errorf("%w: segment %d at byte %d (offset %d): crc mismatch",
					ErrCorruptBatch, s.base, pos, h.BaseOffset)
			}
			o, t, ok, err := firstRecordAtOrAfter(h, batch, c.target, c.limit)
			if err != nil || ok || c.offset >= 0 {
				return o, t, ok, err
			}
		}
		pos += int64(h.Size())
		expect = h.LastOffset() + 1
	}
	return 0, 0, false, nil
}

// errStopWalk ends a record walk early without an error.
var errStopWalk = errors.New("stop walk")

// firstRecordAtOrAfter decodes a stored batch (header h, bytes batch, CRC
// already checked; decompressing at most maxDecompressed bytes) and returns
// the offset and timestamp of its first record whose timestamp is >= ts.
// For LogAppendTime batches every record carries the batch's MaxTimestamp.
func firstRecordAtOrAfter(h recordbatch.Header, batch []byte, ts, maxDecompressed int64) (offset, timestamp int64, found bool, err error) {
	if h.LogAppendTime() {
		if h.MaxTimestamp >= ts {
			return h.BaseOffset, h.MaxTimestamp, true, nil
		}
		return 0, 0, false, nil
	}
	err = recordbatch.Records(h, batch, maxDecompressed, func(r *recordbatch.Record) error {
		if r.Timestamp >= ts {
			offset, timestamp, found = r.Offset, r.Timestamp, true
			return errStopWalk
		}
		return nil
	})
	if found {
		return offset, timestamp, true, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	return 0, 0, false, nil
}
