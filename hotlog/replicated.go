package hotlog

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotContiguous is returned when replicated batches start below the
// log end offset: the follower must truncate or re-fetch first.
var ErrNotContiguous = errors.New("replicated batches do not continue the log")

// AppendReplicated appends batches copied from the partition leader,
// keeping their base offsets and leader epochs as they are (a follower's
// log must be byte-identical to the leader's). The first batch must start
// at or after LogEndOffset and each batch after the previous one's last
// offset: a compacted leader's log has gaps where the cleaner removed
// whole batches, and the follower keeps them. The leader
// epoch cache learns every epoch that appears.
func (l *Log) AppendReplicated(batches []byte, now time.Time) (AppendInfo, error) {
	hs, _, err := frameBatches(batches, nil)
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
	next := l.leo.Load()
	info := AppendInfo{FirstOffset: next, MaxTimestamp: -1, MaxTimestampOffset: -1}
	for i := range hs {
		h := &hs[i]
		if h.BaseOffset < next {
			return AppendInfo{}, fmt.Errorf("%w: batch at offset %d, log end %d", ErrNotContiguous, h.BaseOffset, next)
		}
		if h.MaxTimestamp > info.MaxTimestamp {
			info.MaxTimestamp, info.MaxTimestampOffset = h.MaxTimestamp, h.BaseOffset
		}
		next = h.LastOffset() + 1
	}
	seg, err := l.segmentForLocked(int64(len(batches)), info.FirstOffset, next-1, now)
	if err != nil {
		return AppendInfo{}, err
	}
	for _, h := range hs {
		if h.PartitionLeaderEpoch >= 0 && h.PartitionLeaderEpoch > l.latestEpochLocked() {
			if err := l.assignEpochLocked(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
				return AppendInfo{}, err
			}
		}
	}
	if err := l.writeLocked(seg, batches, hs, info.FirstOffset, now); err != nil {
		return AppendInfo{}, err
	}
	info.LastOffset = next - 1
	l.leo.Store(next)
	// A follower keeps the producer state too (unchecked, as recovery
	// replays it), so that it deduplicates once it leads, and its
	// transactions, so that its last stable offset and aborted
	// transactions are the leader's.
	for i, h := range hs {
		if a, ok := l.producers.replay(h, controlAt(ctrls, i)); ok {
			seg.addAborted(a)
		}
	}
	l.boundProducersLocked()
	return info, nil
}
