package iceberg

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	commits       *prometheus.CounterVec
	commitSeconds prometheus.Histogram
	failures      prometheus.Counter
	conflicts     prometheus.Counter
	deletedFiles  prometheus.Counter
	lag           prometheus.GaugeFunc
}

func newMetrics(t *Tables) *metrics {
	return &metrics{
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_iceberg_commits_total",
			Help: "Iceberg snapshots committed, by operation (append, replace, delete, overwrite)."}, []string{"operation"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strata_iceberg_commit_seconds",
			Help:    "Time to commit one Iceberg snapshot (manifest, manifest list, metadata file, etcd pointer), retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_iceberg_commit_failures_total",
			Help: "Iceberg commits that failed (retried on the partition's next tier pass)."}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_iceberg_commit_conflicts_total",
			Help: "Iceberg commits rebuilt because another partition's commit moved the table first."}),
		deletedFiles: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_iceberg_metadata_files_deleted_total",
			Help: "Metadata files, manifest lists and manifests deleted after snapshot expiry."}),
		lag: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_iceberg_snapshot_lag_offsets",
			Help: "Offsets tiered (in the tier manifest) but not yet in the Iceberg table, over this broker's partitions."},
			func() float64 { return float64(t.lagTotal()) }),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.commits, m.commitSeconds, m.failures, m.conflicts, m.deletedFiles, m.lag} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
