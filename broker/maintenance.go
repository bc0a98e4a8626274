package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/stratalog/strata/hotlog"
)

// maintenanceTick is how often the flush and ISR loops look at the
// partitions.
const maintenanceTick = 100 * time.Millisecond

// maintenanceLoop runs the periodic work of the partitions in three
// independent loops, so that one cannot delay another: background fsync per
// flush.ms, ISR shrink per replica.lag.time.max.ms, and retention every
// RetentionCheckInterval. A retention pass may wait on etcd (the tier
// manifest) for coldTimeout and an fsync on a slow disk; neither may hold
// back a follower's removal from the ISR, which acks=all waits on.
func (b *Broker) maintenanceLoop(ctx context.Context) {
	defer b.wg.Done()
	var wg sync.WaitGroup
	every := func(d time.Duration, fn func(time.Time)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(d)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tick.C:
					fn(now)
				}
			}
		}()
	}
	every(maintenanceTick, func(now time.Time) {
		for _, p := range b.localPartitions() {
			p.flushIfDue(now)
		}
	})
	every(maintenanceTick, func(now time.Time) {
		for _, p := range b.localPartitions() {
			p.checkISR(now, b.cfg.ReplicaLagMax)
		}
	})
	every(b.cfg.RetentionCheckInterval, b.enforceRetention)
	wg.Wait()
}

// flushIfDue starts a background fsync of the partition when flush.ms has
// passed since its last one. The fsync runs in its own goroutine (one at a
// time per partition), so a partition on a slow disk does not hold back
// the background flush of the others.
func (p *Partition) flushIfDue(now time.Time) {
	if p.unflushed.Load() == 0 {
		return
	}
	due := time.Duration(p.cfg.Load().FlushMs) * time.Millisecond
	if now.Sub(time.Unix(0, p.lastFlush.Load())) < due {
		return
	}
	if !p.bgFlushing.CompareAndSwap(false, true) {
		return // the previous one still runs
	}
	go func() {
		defer p.bgFlushing.Store(false)
		if err := p.flush(p.log.LogEndOffset()); err != nil && !errors.Is(err, hotlog.ErrClosed) {
			p.b.log.Error("background flush failed", "partition", p.String(), "err", err)
		}
	}()
}

func (b *Broker) enforceRetention(now time.Time) {
	for _, p := range b.localPartitions() {
		n, err := p.log.EnforceRetention(now, p.retentionAllow(now))
		if err != nil {
			b.log.Error("retention failed", "partition", p.String(), "err", err)
			continue
		}
		if n > 0 {
			b.metrics.segmentsDeleted.Add(float64(n))
			b.log.Info("retention deleted segments", "partition", p.String(), "segments", n, "log_start", p.log.LogStartOffset())
		}
	}
}
