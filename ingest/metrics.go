package ingest

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type serverMetrics struct {
	connections  prometheus.Gauge
	badFrames    prometheus.Counter
	panics       prometheus.Counter
	refused      prometheus.Counter
	authFailures prometheus.Counter
	// deniedReplicaFetches counts fetches that named a replica the
	// connection had not proved to be.
	deniedReplicaFetches prometheus.Counter
	// tlsFailures counts failed TLS handshakes; denied counts requests
	// (or parts of one) refused by the ACL authorizer.
	tlsFailures prometheus.Counter
	denied      prometheus.Counter
	requests    *prometheus.HistogramVec
}

func newServerMetrics(reg prometheus.Registerer) *serverMetrics {
	m := &serverMetrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_kafka_connections", Help: "Open Kafka client connections.",
		}),
		badFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_bad_requests_total", Help: "Malformed requests that closed their connection.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_request_panics_total", Help: "Requests whose handler panicked; each closed its connection.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_connections_refused_total", Help: "Connections closed at once because max connections were open.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_sasl_authentication_failures_total", Help: "Failed SASL authentications; each closed its connection.",
		}),
		deniedReplicaFetches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_replica_fetches_denied_total", Help: "Fetches naming a replica id from a connection not authenticated as that broker; refused.",
		}),
		tlsFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_tls_handshake_failures_total", Help: "Failed TLS handshakes on the Kafka listeners; each closed its connection.",
		}),
		denied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_authorization_denied_total", Help: "Authorization checks the ACL authorizer denied.",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_kafka_request_seconds",
			Help:    "Time to answer Kafka requests, by API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}, []string{"api"}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.badFrames, m.panics, m.refused, m.authFailures, m.deniedReplicaFetches, m.tlsFailures, m.denied, m.requests)
	}
	return m
}

func (m *serverMetrics) observe(key int16, d time.Duration) {
	name := kmsg.NameForKey(key)
	if name == "" {
		name = strconv.Itoa(int(key))
	}
	m.requests.WithLabelValues(name).Observe(d.Seconds())
}
