package broker

import (
	"os"

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
	openErrors      prometheus.Counter

	cleanerRuns           prometheus.Counter
	cleanerErrors         prometheus.Counter
	cleanerBytesRead      prometheus.Counter
	cleanerBytesWritten   prometheus.Counter
	cleanerRecordsRemoved prometheus.Counter
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
		openErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_partition_open_errors_total", Help: "Attempts to open a hosted partition's log that failed (the partition stays offline and is retried).",
		}),
		elections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_leader_elections_total", Help: "Partition leaders elected by this broker as controller.",
		}),
		cleanerRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_cleaner_runs_total", Help: "Cleans of compacted partitions run by the log cleaner.",
		}),
		cleanerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_cleaner_errors_total", Help: "Cleans that failed (the partition's log is left as it was).",
		}),
		cleanerBytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_cleaner_bytes_read_total", Help: "Segment bytes the log cleaner read (offset map and rewrite).",
		}),
		cleanerBytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_cleaner_bytes_written_total", Help: "Cleaned segment bytes the log cleaner wrote.",
		}),
		cleanerRecordsRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_log_cleaner_records_removed_total", Help: "Superseded records and expired tombstones the log cleaner removed.",
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.cleanerRuns, m.cleanerErrors, m.cleanerBytesRead, m.cleanerBytesWritten, m.cleanerRecordsRemoved, newCleanerCollector(b))
	reg.MustRegister(m.appendedBytes, m.appendedRecords, m.appendErrors, m.fetchedBytes,
		m.flushSeconds, m.flushErrors, m.segmentsDeleted, m.isrChanges, m.elections, m.openErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_under_replicated_partitions", Help: "Led partitions whose ISR is smaller than their replica set.",
		}, func() float64 { return float64(b.underReplicated()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_partitions_led", Help: "Partitions this broker leads.",
		}, func() float64 { return float64(len(b.localPartitions())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_log_open_files", Help: "Segment files (.log, .index, .timeindex) open now; idle ones beyond --log-max-open-files are closed.",
		}, func() float64 { return float64(b.files.Open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_log_dir_offline", Help: "1 once an fsync failed and the log dir went offline: this broker serves no partition until restarted.",
		}, func() float64 {
			if b.LogDirError() != nil {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_offline_partitions", Help: "Partitions this broker hosts but could not open (see `strata partition offline`).",
		}, func() float64 { return float64(len(b.OfflinePartitions())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_quarantined_partitions", Help: "Partition directories moved aside into the quarantine folder because they did not match etcd (see `strata partition quarantine list`).",
		}, func() float64 {
			des, _ := os.ReadDir(b.cfg.QuarantineDir)
			return float64(len(des))
		}),
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
