package hotlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The leader-epoch cache (Kafka's leader-epoch-checkpoint, KIP-101): for
// every leader epoch that wrote to the log, the first offset it wrote. It
// answers OffsetForLeaderEpoch so a follower can find where its log and the
// leader's diverge.

const epochCheckpointFile = "leader-epoch-checkpoint"

type epochEntry struct {
	epoch int32
	start int64
}

// LatestEpoch is the latest leader epoch that appended to the log, -1 if
// none.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.latestEpochLocked()
}

func (l *Log) latestEpochLocked() int32 {
	if len(l.epochs) == 0 {
		return -1
	}
	return l.epochs[len(l.epochs)-1].epoch
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest known epoch <=
// epoch and the start offset of the next larger epoch, or LogEndOffset if
// epoch >= the latest epoch. (-1, -1) if epoch is below the first known
// epoch or no epoch is known.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	es := l.epochs
	if len(es) == 0 || epoch < es[0].epoch {
		return -1, -1
	}
	if last := es[len(es)-1]; epoch >= last.epoch {
		return last.epoch, l.leo.Load()
	}
	i := sort.Search(len(es), func(i int) bool { return es[i].epoch > epoch })
	return es[i-1].epoch, es[i].start
}

// assignEpochLocked records that epoch starts at offset start and persists
// the cache before anything of that epoch is written.
func (l *Log) assignEpochLocked(epoch int32, start int64) error {
	l.epochs = append(l.epochs, epochEntry{epoch: epoch, start: start})
	if err := l.writeEpochCheckpoint(); err != nil {
		l.epochs = l.epochs[:len(l.epochs)-1]
		return err
	}
	return nil
}

// truncateEpochsFromEnd drops the entries of epochs that start at or after
// end (the new log end).
func (l *Log) truncateEpochsFromEnd(end int64) bool {
	n := len(l.epochs)
	for n > 0 && l.epochs[n-1].start >= end {
		n--
	}
	changed := n != len(l.epochs)
	l.epochs = l.epochs[:n]
	return changed
}

// EpochStart is one entry of the leader-epoch cache: the epoch and the
// first offset of the log it covers.
type EpochStart struct {
	Epoch       int32
	StartOffset int64
}

// Epochs lists the leader-epoch cache, oldest first.
func (l *Log) Epochs() []EpochStart {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]EpochStart, len(l.epochs))
	for i, e := range l.epochs {
		out[i] = EpochStart{Epoch: e.epoch, StartOffset: e.start}
	}
	return out
}

// truncateEpochsFromStart drops entries that start before start, keeping the
// epoch in force at start as an entry that starts there.
func (l *Log) truncateEpochsFromStart(start int64) bool {
	i := sort.Search(len(l.epochs), func(i int) bool { return l.epochs[i].start > start })
	if i == 0 {
		return false
	}
	if l.epochs[i-1].start == start && i == 1 {
		return false
	}
	keep := epochEntry{epoch: l.epochs[i-1].epoch, start: start}
	l.epochs = append([]epochEntry{keep}, l.epochs[i:]...)
	return true
}

// writeEpochCheckpoint writes the cache in Kafka's checkpoint format
// (version line, count line, "epoch startOffset" lines): temp file, fsync,
// rename, directory fsync.
func (l *Log) writeEpochCheckpoint() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(l.epochs))
	for _, e := range l.epochs {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	path := filepath.Join(l.dir, epochCheckpointFile)
	if err := l.writeFile(path, b.Bytes()); err != nil {
		return storageErr("write leader-epoch checkpoint", err)
	}
	return nil
}

// readEpochCheckpoint parses the checkpoint file. Entries must have
// increasing epochs and non-decreasing start offsets.
func readEpochCheckpoint(path string) ([]epochEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return strings.TrimSpace(sc.Text()), true
	}
	v, ok := line()
	if !ok || v != "0" {
		return nil, fmt.Errorf("unknown version %q", v)
	}
	c, ok := line()
	n, err := strconv.Atoi(c)
	if !ok || err != nil || n < 0 {
		return nil, fmt.Errorf("bad entry count %q", c)
	}
	var es []epochEntry
	for i := 0; i < n; i++ {
		s, ok := line()
		if !ok {
			return nil, fmt.Errorf("%d entries announced, %d present", n, i)
		}
		fields := strings.Fields(s)
		if len(fields) != 2 {
			return nil, fmt.Errorf("bad entry %q", s)
		}
		epoch, err1 := strconv.ParseInt(fields[0], 10, 32)
		start, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || start < 0 {
			return nil, fmt.Errorf("bad entry %q", s)
		}
		e := epochEntry{epoch: int32(epoch), start: start}
		if len(es) > 0 && (e.epoch <= es[len(es)-1].epoch || e.start < es[len(es)-1].start) {
			return nil, fmt.Errorf("entry %q does not follow %d %d", s, es[len(es)-1].epoch, es[len(es)-1].start)
		}
		es = append(es, e)
	}
	if s, ok := line(); ok && s != "" {
		return nil, fmt.Errorf("trailing data %q", s)
	}
	return es, nil
}

// loadEpochs reads the checkpoint, or rebuilds the cache from the batch
// headers when it is missing, unreadable or older than the log's last
// batch; then drops entries past the log end and before the log start.
func (l *Log) loadEpochs(lastBatchEpoch int32) error {
	path := filepath.Join(l.dir, epochCheckpointFile)
	es, err := readEpochCheckpoint(path)
	rebuild := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rebuild = l.leo.Load() > l.logStart.Load()
	case err != nil:
		l.logger.Warn("leader-epoch checkpoint unreadable, rebuilding it from the log", "err", err)
		rebuild = true
	}
	l.epochs = es
	if !rebuild && lastBatchEpoch > l.latestEpochLocked() {
		l.logger.Warn("leader-epoch checkpoint is behind the log, rebuilding it", "checkpoint_latest", l.latestEpochLocked(), "log_latest", lastBatchEpoch)
		rebuild = true
	}
	if rebuild {
		if l.epochs, err = l.scanEpochs(); err != nil {
			return err
		}
	}
	changed := l.truncateEpochsFromEnd(l.leo.Load())
	changed = l.truncateEpochsFromStart(l.logStart.Load()) || changed
	if rebuild || changed {
		return l.writeEpochCheckpoint()
	}
	return nil
}

// scanEpochs rebuilds the cache from every batch header of the log.
func (l *Log) scanEpochs() ([]epochEntry, error) {
	var es []epochEntry
	for _, s := range l.segs {
		sc := headerScanner{s: s, limit: s.size}
		for pos := int64(0); pos < s.size; {
			h, err := sc.at(pos)
			if err != nil {
				return nil, fmt.Errorf("rebuilding leader-epoch cache: %w", err)
			}
			if h.PartitionLeaderEpoch >= 0 && (len(es) == 0 || h.PartitionLeaderEpoch > es[len(es)-1].epoch) {
				es = append(es, epochEntry{epoch: h.PartitionLeaderEpoch, start: h.BaseOffset})
			}
			pos += int64(h.Size())
		}
	}
	return es, nil
}
