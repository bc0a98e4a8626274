package broker

import (
	"errors"
	"fmt"

	"github.com/stratalog/strata/hotlog"
)

// The log dir goes offline when an fsync of any of its files fails, as
// Kafka takes a failed log dir offline. After a failed fsync the kernel
// may have dropped the dirty pages (fsyncgate): nothing appended since the
// last good fsync can be promised durable, and no later fsync can change
// that. So the broker stops accepting appends on every partition it hosts
// (KAFKA_STORAGE_ERROR), closes their logs without fsyncing again, stops
// following, and signals LogDirOffline: the process then gives up its etcd
// registration, so the controller moves leadership to in-sync replicas,
// and fails /readyz. Only a restart (after the disk is checked) brings the
// broker back; its logs are then recovered from what the disk holds and
// truncated to their new leaders.
//
// A failed write (disk full) is different: the append is cut back and
// fails with KAFKA_STORAGE_ERROR, and appends resume when space returns.

// ErrLogDirOffline is the error of every partition of a broker whose log
// dir went offline.
var ErrLogDirOffline = errors.New("log dir offline")

// LogDirError is the fsync failure that took the log dir offline, or nil.
func (b *Broker) LogDirError() error {
	if p := b.logDirErr.Load(); p != nil {
		return *p
	}
	return nil
}

// LogDirOffline is closed when the log dir goes offline.
func (b *Broker) LogDirOffline() <-chan struct{} { return b.logDirDown }

// noteFlushError takes the log dir offline if err is a failed fsync.
func (b *Broker) noteFlushError(p *Partition, err error) {
	if !errors.Is(err, hotlog.ErrFsyncFailed) {
		return
	}
	b.logDirOnce.Do(func() {
		err := fmt.Errorf("%w: %s: %w", ErrLogDirOffline, p, err)
		b.logDirErr.Store(&err)
		close(b.logDirDown)
		b.log.Error("LOG DIR OFFLINE: an fsync failed; every partition of this broker stops, leadership moves to in-sync replicas; restart after checking the disk",
			"log_dir", b.cfg.LogDir, "partition", p.String(), "err", err)
		go b.takePartitionsOffline(err)
	})
}

// takePartitionsOffline moves every open partition to the offline set
// (answering KAFKA_STORAGE_ERROR) and closes the logs outside the lock.
func (b *Broker) takePartitionsOffline(err error) {
	var closing []*Partition
	b.mu.Lock()
	for _, t := range b.topics {
		for i, p := range t.local {
			o := b.pendingLocked(t.meta, p.partitionState())
			o.err = err
			o.attempts++
			delete(t.local, i)
			closing = append(closing, p)
		}
	}
	b.mu.Unlock()
	for _, p := range closing {
		// The log whose fsync failed closes without fsyncing again and
		// without the clean-shutdown marker: the next open recovers it.
		if cerr := p.close(); cerr != nil && !errors.Is(cerr, hotlog.ErrFsyncFailed) {
			b.log.Warn("closing partition of the offline log dir", "partition", p.String(), "err", cerr)
		}
	}
}

// LogDirPath is the directory that holds the partitions' logs.
func (b *Broker) LogDirPath() string { return b.cfg.LogDir }
