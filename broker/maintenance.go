package broker

import (
	"context"
	"time"
)

// maintenanceLoop runs the periodic work of the partitions: background
// fsync per flush.ms, and retention every RetentionCheckInterval.
func (b *Broker) maintenanceLoop(ctx context.Context) {
	defer b.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastRetention := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for _, p := range b.localPartitions() {
				p.flushIfDue(now)
				p.checkISR(now, b.cfg.ReplicaLagMax)
			}
			if now.Sub(lastRetention) >= b.cfg.RetentionCheckInterval {
				lastRetention = now
				b.enforceRetention(now)
			}
		}
	}
}

func (p *Partition) flushIfDue(now time.Time) {
	if p.unflushed.Load() == 0 {
		return
	}
	due := time.Duration(p.cfg.Load().FlushMs) * time.Millisecond
	if now.Sub(time.Unix(0, p.lastFlush.Load())) < due {
		return
	}
	if err := p.flush(p.log.LogEndOffset()); err != nil {
		p.b.log.Error("background flush failed", "partition", p.String(), "err", err)
	}
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
