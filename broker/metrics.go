package broker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Registerer is where the broker registers its metrics.
type Registerer = prometheus.Registerer

type metrics struct {
	appendedBytes   prometheus.Counter
	appendedRecords prometheus.Counter
	appendErrors    prometheus.Counter
	fetchedBytes    prometheus.Counter
	flushSeconds    prometheus.Histogram
	flushErrors     prometheus.Counter
	segmentsDeleted prometheus.Counter
	isrChanges      prometheus.Counter
	elections       prometheus.Counter
}

func newMetrics(reg Registerer, b *Broker) *metrics {
	m := &metrics{
		appendedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_appended_bytes_total", Help: "Record batch bytes appended to local logs.",
		}),
		appendedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_appended_records_total", Help: "Records appended to local logs.",
		}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_append_errors_total", Help: "Appends that failed in the log (storage errors).",
		}),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_fetched_bytes_total", Help: "Record batch bytes read from local logs for fetches.",
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_log_flush_seconds", Help: "Duration of fsyncs of partition logs.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_flush_errors_total", Help: "Failed fsyncs of partition logs.",
		}),
		segmentsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_segments_deleted_total", Help: "Segments deleted by local retention.",
		}),
		isrChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_isr_changes_total", Help: "ISR shrinks and expands written by this broker as leader.",
		}),
		elections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_leader_elections_total", Help: "Partition leaders elected by this broker as controller.",
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.appendedBytes, m.appendedRecords, m.appendErrors, m.fetchedBytes,
		m.flushSeconds, m.flushErrors, m.segmentsDeleted, m.isrChanges, m.elections,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_under_replicated_partitions", Help: "Led partitions whose ISR is smaller than their replica set.",
		}, func() float64 { return float64(b.underReplicated()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_partitions_led", Help: "Partitions this broker leads.",
		}, func() float64 { return float64(len(b.localPartitions())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_topics", Help: "Topics known to this broker.",
		}, func() float64 { return float64(len(b.Topics())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_metadata_healthy", Help: "1 when the last etcd access of a background loop worked.",
		}, func() float64 {
			if b.MetadataError() != nil {
				return 0
			}
			return 1
		}),
	)
	return m
}
