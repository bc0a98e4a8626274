package broker

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/hotlog"
)

// The log cleaner of compacted topics (cleanup.policy=compact,
// docs/compaction.md): one goroutine per broker, as Kafka's
// log.cleaner.threads=1, that every CleanerBackoff measures the compacted
// partitions it hosts (leader or follower: every replica cleans its own
// log, as in Kafka) and cleans the dirtiest one due, again and again while
// one is due. A partition's clean is bounded by its high watermark and,
// for a tiered topic, by the end of the cold tier: a segment is cleaned
// only once it is safe in the object store, so the tierer always uploads
// segments as they were produced.

// Cleaner defaults (Kafka's).
const (
	DefaultCleanerBackoff = 15 * time.Second
)

// partitionClean is what the cleaner last measured of a partition, for
// the metrics.
type partitionClean struct {
	dirtyRatio atomic.Uint64 // math.Float64bits
	lagMs      atomic.Int64
}

// cleanerBound is the offset below which p's log may be cleaned: its high
// watermark, and for a tiered topic the end of the cold tier. ok is false
// when the cold tier cannot be asked (nothing is cleaned then).
func (p *Partition) cleanerBound(ctx context.Context) (int64, bool) {
	upTo := p.hw.Load()
	if !p.tiered() {
		return upTo, true
	}
	ctx, cancel := context.WithTimeout(ctx, coldTimeout)
	defer cancel()
	_, end, err := p.b.cfg.Cold.ColdRange(ctx, p.topic, p.index)
	if err != nil {
		p.b.log.Warn("log cleaner waits: cannot read the tier manifest", "partition", p.String(), "err", err)
		return 0, false
	}
	return min(upTo, max(end, 0)), true
}

func (b *Broker) cleanerLoop(ctx context.Context) {
	defer b.wg.Done()
	cl := hotlog.NewCleaner(hotlog.CleanerConfig{
		DedupeBufferBytes: b.cfg.CleanerDedupeBufferBytes,
		IOBytesPerSecond:  b.cfg.CleanerIOBytesPerSecond,
	})
	tick := time.NewTicker(b.cfg.CleanerBackoff)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for ctx.Err() == nil && b.cleanOnce(ctx, cl, time.Now()) {
		}
	}
}

// cleanOnce measures every compacted partition and cleans the dirtiest
// one that is due. It reports whether it cleaned one.
func (b *Broker) cleanOnce(ctx context.Context, cl *hotlog.Cleaner, now time.Time) bool {
	var (
		best      *Partition
		bestRatio = -1.0
		bestBound int64
		maxLag    time.Duration
	)
	for _, p := range b.localPartitions() {
		cfg := p.cfg.Load()
		if !cfg.Compact || p.closedNow() {
			continue
		}
		upTo, ok := p.cleanerBound(ctx)
		if !ok {
			continue
		}
		c := p.log.Cleanable(now, upTo)
		p.clean.dirtyRatio.Store(math.Float64bits(c.DirtyRatio))
		p.clean.lagMs.Store(c.Lag.Milliseconds())
		maxLag = max(maxLag, c.Lag)
		if !c.Due(cfg.MinCleanableDirtyRatio) {
			continue
		}
		r := c.DirtyRatio
		if c.MustClean {
			r += 1 // past max.compaction.lag.ms: before any ratio
		}
		if r > bestRatio {
			best, bestRatio, bestBound = p, r, upTo
		}
	}
	b.cleanerMaxLagMs.Store(maxLag.Milliseconds())
	if best == nil {
		return false
	}
	start := time.Now()
	st, err := cl.Clean(ctx, best.log, now, bestBound)
	b.metrics.cleanerRuns.Inc()
	b.metrics.cleanerBytesRead.Add(float64(st.BytesRead))
	b.metrics.cleanerBytesWritten.Add(float64(st.BytesWritten))
	b.metrics.cleanerRecordsRemoved.Add(float64(st.RecordsRemoved))
	if err != nil {
		if !errors.Is(err, hotlog.ErrClosed) && !errors.Is(err, context.Canceled) {
			b.metrics.cleanerErrors.Inc()
			b.log.Error("log cleaner failed", "partition", best.String(), "err", err)
		}
		return false
	}
	b.log.Debug("log cleaner ran", "partition", best.String(), "segments", st.Segments, "bytes_before", st.BytesBefore,
		"bytes_after", st.BytesAfter, "records_removed", st.RecordsRemoved, "took", time.Since(start))
	after := best.log.Cleanable(now, bestBound)
	best.clean.dirtyRatio.Store(math.Float64bits(after.DirtyRatio))
	best.clean.lagMs.Store(after.Lag.Milliseconds())
	return st.Segments > 0
}

// cleanerCollector exports the per-partition dirty ratio of compacted
// partitions and the longest compaction lag, as the cleaner last measured
// them.
type cleanerCollector struct {
	b     *Broker
	ratio *prometheus.Desc
	lag   *prometheus.Desc
}

func newCleanerCollector(b *Broker) *cleanerCollector {
	return &cleanerCollector{
		b: b,
		ratio: prometheus.NewDesc("strata_log_cleaner_dirty_ratio",
			"Share of a compacted partition's cleanable log not cleaned yet (min.cleanable.dirty.ratio starts a clean).",
			[]string{"topic", "partition"}, nil),
		lag: prometheus.NewDesc("strata_log_cleaner_max_compaction_lag_seconds",
			"Longest time the first uncleaned record of any compacted partition has waited (Kafka's max-compaction-delay-secs).", nil, nil),
	}
}

func (c *cleanerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.ratio; ch <- c.lag }

func (c *cleanerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.b.localPartitions() {
		if !p.cfg.Load().Compact {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue,
			math.Float64frombits(p.clean.dirtyRatio.Load()), p.topic, strconv.Itoa(int(p.index)))
	}
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(c.b.cleanerMaxLagMs.Load())/1000)
}
