package tiering

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	uploadedBytes    prometheus.Counter
	uploadedLogBytes prometheus.Counter
	uploadedSegments prometheus.Counter
	uploadErrors     prometheus.Counter
	tableSyncErrors  prometheus.Counter
	uploadSeconds    prometheus.Histogram
	coldFetchBytes   prometheus.Counter
	coldFetchSeconds prometheus.Histogram
	coldFetchErrors  prometheus.Counter
	coldReadBytes    prometheus.Counter
	coldGets         prometheus.Counter
	coldLoadSeconds  prometheus.Histogram
	cacheHits        prometheus.Counter
	cacheMisses      prometheus.Counter
	remoteDeleted    prometheus.Counter
	remoteDelBytes   prometheus.Counter
	merges           prometheus.Counter
	mergedSegments   prometheus.Counter
	orphansDeleted   prometheus.Counter
	rolls            prometheus.Counter
}

func newMetrics() *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &metrics{
		uploadedBytes:    c("strata_tier_uploaded_bytes_total", "Bytes of Parquet objects uploaded to the cold tier (segments and merges)."),
		uploadedLogBytes: c("strata_tier_uploaded_log_bytes_total", "Bytes of hot-log record batches tiered."),
		uploadedSegments: c("strata_tier_uploaded_segments_total", "Segments tiered (object stored and manifest entry committed)."),
		uploadErrors:     c("strata_tier_upload_errors_total", "Failed tiering attempts (conversion, object store or etcd); each is retried."),
		tableSyncErrors:  c("strata_tier_table_sync_errors_total", "Failed syncs of a topic's Iceberg table to its manifest; retried on the partition's next pass, objects it still names are kept."),
		uploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_tier_upload_seconds", Help: "Time to tier one segment: convert, upload, verify, commit.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		coldFetchBytes: c("strata_tier_cold_fetch_bytes_total", "Record batch bytes served to fetches from the cold tier."),
		coldFetchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_tier_cold_fetch_seconds", Help: "Latency of partition reads served from the cold tier.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		coldFetchErrors: c("strata_tier_cold_fetch_errors_total", "Cold reads that failed."),
		coldReadBytes:   c("strata_tier_cold_read_bytes_total", "Bytes of row groups read from the object store."),
		coldGets:        c("strata_tier_object_gets_total", "Ranged GET requests made to the object store for cold reads."),
		coldLoadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_tier_row_group_load_seconds", Help: "Time to load one row group from the object store.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		cacheHits:      c("strata_tier_row_group_cache_hits_total", "Cold reads of a row group found in the cache."),
		cacheMisses:    c("strata_tier_row_group_cache_misses_total", "Cold reads of a row group that had to load it."),
		remoteDeleted:  c("strata_tier_remote_deleted_segments_total", "Manifest entries removed by remote retention."),
		remoteDelBytes: c("strata_tier_remote_deleted_bytes_total", "Object bytes deleted by remote retention."),
		merges:         c("strata_tier_merges_total", "Merges of small tiered files into one."),
		mergedSegments: c("strata_tier_merged_segments_total", "Tiered files replaced by merges."),
		orphansDeleted: c("strata_tier_orphans_deleted_total", "Objects deleted because no manifest entry names them."),
		rolls:          c("strata_tier_segment_rolls_total", "Active segments rolled because they were older than strata.tier.max.lag.ms."),
	}
}

func (m *metrics) register(reg prometheus.Registerer, t *Tier) {
	if reg == nil {
		return
	}
	reg.MustRegister(m.uploadedBytes, m.uploadedLogBytes, m.uploadedSegments, m.uploadErrors, m.tableSyncErrors, m.uploadSeconds,
		m.coldFetchBytes, m.coldFetchSeconds, m.coldFetchErrors, m.coldReadBytes, m.coldGets, m.coldLoadSeconds,
		m.cacheHits, m.cacheMisses, m.remoteDeleted, m.remoteDelBytes, m.merges, m.mergedSegments,
		m.orphansDeleted, m.rolls,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_tier_upload_lag_offsets", Help: "Offsets of led partitions not yet in the cold tier (high watermark minus tiered end).",
		}, func() float64 { return float64(t.lagTotals().offsets) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_tier_untiered_sealed_bytes", Help: "Bytes of sealed local segments waiting to be tiered: grows while uploads fail.",
		}, func() float64 { return float64(t.lagTotals().sealedBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_tier_row_group_cache_bytes", Help: "Bytes of row groups held by the cold-read cache.",
		}, func() float64 { return float64(t.cache.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_tier_store_healthy", Help: "1 when the last object-store operation of the tierer worked.",
		}, func() float64 {
			if t.StoreError() != nil {
				return 0
			}
			return 1
		}),
	)
}

// The metrics are the cold reader's coldfile.Observer.

func (m *metrics) ObjectGet() { m.coldGets.Inc() }
func (m *metrics) CacheHit()  { m.cacheHits.Inc() }
func (m *metrics) CacheMiss() { m.cacheMisses.Inc() }
func (m *metrics) RowGroupLoaded(n int64, d time.Duration) {
	m.coldLoadSeconds.Observe(d.Seconds())
	m.coldReadBytes.Add(float64(n))
}
