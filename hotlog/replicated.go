package hotlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrNotContiguous is returned when replicated batches do not start at the
// log end offset: the follower must truncate or re-fetch first.
var ErrNotContiguous = errors.New("replicated batches do not continue the log")

// AppendReplicated appends batches copied from the partition leader,
// keeping their base offsets and leader epochs as they are (a follower's
// log must be byte-identical to the leader's). The first batch must start
// at LogEndOffset and each batch must follow the previous one. The leader
// epoch cache learns every epoch that appears.
func (l *Log) AppendReplicated(batches []byte, now time.Time) (AppendInfo, error) {
	hs, _, err := frameBatches(batches)
	if err != nil {
		return AppendInfo{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendInfo{}, ErrClosed
	}
	next := l.leo.Load()
	info := AppendInfo{FirstOffset: next, MaxTimestamp: -1, MaxTimestampOffset: -1}
	pos := 0
	for i := range hs {
		h := &hs[i]
		b := batches[pos : pos+h.Size()]
		h.BaseOffset = int64(binary.BigEndian.Uint64(b[0:8]))
		h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[12:16]))
		if h.BaseOffset != next {
			return AppendInfo{}, fmt.Errorf("%w: batch at offset %d, log end %d", ErrNotContiguous, h.BaseOffset, next)
		}
		if h.MaxTimestamp > info.MaxTimestamp {
			info.MaxTimestamp, info.MaxTimestampOffset = h.MaxTimestamp, h.BaseOffset
		}
		next = h.LastOffset() + 1
		pos += h.Size()
	}
	first := info.FirstOffset
	seg := l.active()
	if !seg.empty() && l.shouldRoll(seg, int64(len(batches)), next-1, now) {
		if err := l.rollLocked(); err != nil {
			return AppendInfo{}, err
		}
		seg = l.active()
	}
	if seg.size+int64(len(batches)) > maxSegmentBytes || next-1-seg.base > math.MaxUint32 {
		return AppendInfo{}, fmt.Errorf("%w: replicated append of %d bytes does not fit in one segment", ErrInvalidBatch, len(batches))
	}
	for _, h := range hs {
		if h.PartitionLeaderEpoch >= 0 && h.PartitionLeaderEpoch > l.latestEpochLocked() {
			if err := l.assignEpochLocked(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
				return AppendInfo{}, err
			}
		}
	}
	if err := seg.append(batches, hs, int64(l.cfg.IndexIntervalBytes)); err != nil {
		l.logger.Error("replicated append failed", "offset", first, "bytes", len(batches), "err", err)
		return AppendInfo{}, err
	}
	if seg.firstAppend.IsZero() {
		seg.firstAppend = now
	}
	info.LastOffset = next - 1
	l.leo.Store(next)
	// A follower keeps the producer state too (unchecked, as recovery
	// replays it), so that it deduplicates once it leads.
	for _, h := range hs {
		l.producers.replay(h)
	}
	return info, nil
}
