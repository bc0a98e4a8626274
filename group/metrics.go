package group

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	rebalances  prometheus.Counter
	commits     prometheus.Counter
	storeErrors prometheus.Counter
	expired     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, c *Coordinator) *metrics {
	m := &metrics{
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_rebalances_total", Help: "Join phases completed (new generations), by every group this broker coordinated.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_committed_offsets_total", Help: "Partition offsets committed to etcd.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_store_errors_total", Help: "Group reads and writes that etcd failed (clients got COORDINATOR_NOT_AVAILABLE).",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_expired_offsets_total", Help: "Committed offsets removed by offset retention.",
		}),
	}
	if reg != nil {
		loaded := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_groups_loaded", Help: "Consumer groups this broker coordinates and holds in memory.",
		}, func() float64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return float64(len(c.groups))
		})
		reg.MustRegister(m.rebalances, m.commits, m.storeErrors, m.expired, loaded)
	}
	return m
}
