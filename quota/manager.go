package quota

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Kafka's quota.window.num and quota.window.size.seconds.
const (
	DefaultWindowSamples = 11
	DefaultWindow        = time.Second
)

// idleSensor is how long a client's sensor is kept without traffic
// (Kafka expires quota sensors after an hour of inactivity).
const idleSensor = time.Hour

// Config configures a Manager.
type Config struct {
	WindowSamples int           // quota.window.num (default 11)
	Window        time.Duration // quota.window.size.seconds (default 1 s)
	Registerer    prometheus.Registerer
}

// Manager enforces the quotas on one broker's traffic. Set gives it the
// configured quotas (from etcd); Record measures a request and answers
// how long its client is throttled.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	quotas  map[string]Values // entity key -> values
	keys    map[string]bool   // the quota keys some entity sets (Any)
	sensors map[sensorKey]*sensor
	swept   time.Time

	throttleSeconds *prometheus.CounterVec
	throttled       *prometheus.CounterVec
}

// sensorKey is what one measured rate is shared by: the quota key and
// the user and/or client id of the entity that governs the client (a
// quota on user=alice is shared by all of alice's clients; a default
// user quota gives each user their own).
type sensorKey struct {
	quota, user, client string
	hasUser, hasClient  bool
}

type sensor struct {
	rate   *rate
	bucket tokenBucket
	used   time.Time
}

// New returns a manager with no quotas.
func New(cfg Config) *Manager {
	if cfg.WindowSamples < 2 {
		cfg.WindowSamples = DefaultWindowSamples
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	m := &Manager{cfg: cfg, quotas: map[string]Values{}, sensors: map[sensorKey]*sensor{},
		throttleSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_quota_throttle_seconds_total",
			Help: "Time clients were throttled for, by quota and by the user and client id the quota is measured for."},
			[]string{"quota", "user", "client_id"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_quota_throttled_requests_total",
			Help: "Requests answered with a throttle time, by quota."}, []string{"quota"}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(m.throttleSeconds, m.throttled)
	}
	return m
}

// Set replaces the configured quotas (entity key -> values).
func (m *Manager) Set(all map[string]Values) {
	cp := make(map[string]Values, len(all))
	keys := map[string]bool{}
	for k, v := range all {
		cp[k] = v
		for key := range v {
			keys[key] = true
		}
	}
	m.mu.Lock()
	m.quotas, m.keys = cp, keys
	m.mu.Unlock()
}

// Any reports whether a quota of key is configured for anyone (so
// callers skip measuring what no quota governs): one lookup, as it is
// asked on every request.
func (m *Manager) Any(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[key]
}

// resolve finds the quota of key for user and client in Kafka's order of
// precedence: user and client id, user and default client, user, default
// user and client id, default user and default client, default user,
// client id, default client. Caller holds m.mu.
func (m *Manager) resolve(key, user, client string) (float64, sensorKey, bool) {
	u := func(def bool) Component { return Component{Type: TypeUser, Name: user, Default: def} }
	c := func(def bool) Component { return Component{Type: TypeClientID, Name: client, Default: def} }
	for _, e := range []Entity{
		{u(false), c(false)}, {u(false), c(true)}, {u(false)},
		{u(true), c(false)}, {u(true), c(true)}, {u(true)},
		{c(false)}, {c(true)},
	} {
		v, ok := m.quotas[e.Key()][key]
		if !ok {
			continue
		}
		sk := sensorKey{quota: key}
		if _, ok := e.component(TypeUser); ok {
			sk.user, sk.hasUser = user, true
		}
		if _, ok := e.component(TypeClientID); ok {
			sk.client, sk.hasClient = client, true
		}
		return v, sk, true
	}
	return 0, sensorKey{}, false
}

// Quota returns the quota of key that governs user and client.
func (m *Manager) Quota(key, user, client string) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, _, ok := m.resolve(key, user, client)
	return v, ok
}

func (m *Manager) sensor(sk sensorKey, now time.Time) *sensor {
	if now.Sub(m.swept) > time.Minute {
		m.swept = now
		for k, s := range m.sensors {
			if now.Sub(s.used) > idleSensor {
				delete(m.sensors, k)
			}
		}
	}
	s := m.sensors[sk]
	if s == nil {
		s = &sensor{rate: newRate(m.cfg.WindowSamples, m.cfg.Window)}
		m.sensors[sk] = s
	}
	s.used = now
	return s
}

// Record measures v (bytes, or percent-seconds of handler time) of
// quota key for user and client at now, and returns how long the client
// is throttled: 0 without a quota or within it.
func (m *Manager) Record(key, user, client string, v float64, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound, sk, ok := m.resolve(key, user, client)
	if !ok {
		return 0
	}
	s := m.sensor(sk, now)
	s.rate.record(v, now)
	t := s.rate.throttle(bound, now)
	if t > 0 {
		m.count(sk, t)
	}
	return t
}

// Unrecord takes back a value Record counted (a fetch response that is
// dropped because its client is throttled, as Kafka does).
func (m *Manager) Unrecord(key, user, client string, v float64, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, sk, ok := m.resolve(key, user, client); ok {
		m.sensor(sk, now).rate.record(-v, now)
	}
}

// Mutations checks and spends n partition mutations (topic creation,
// deletion, partitions added) against the controller mutation quota: if
// the bucket is in debt the request is refused with the throttle time
// (THROTTLING_QUOTA_EXCEEDED); otherwise n is spent, and the throttle
// time it leads to is returned with ok true.
func (m *Manager) Mutations(user, client string, n int, now time.Time) (throttle time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound, sk, found := m.resolve(ControllerMutationRate, user, client)
	if !found {
		return 0, true
	}
	s := m.sensor(sk, now)
	burst := bound * float64(m.cfg.WindowSamples) * m.cfg.Window.Seconds()
	s.bucket.refill(bound, burst, now)
	debt := func() time.Duration {
		if s.bucket.tokens >= 0 {
			return 0
		}
		return time.Duration(-s.bucket.tokens / bound * float64(time.Second))
	}
	if t := debt(); t > 0 {
		m.count(sk, t)
		return t, false
	}
	s.bucket.tokens -= float64(n)
	t := debt()
	if t > 0 {
		m.count(sk, t)
	}
	return t, true
}

func (m *Manager) count(sk sensorKey, t time.Duration) {
	m.throttleSeconds.WithLabelValues(sk.quota, sk.user, sk.client).Add(t.Seconds())
	m.throttled.WithLabelValues(sk.quota).Inc()
}

// Millis is a throttle time as a response's throttle_time_ms.
func Millis(t time.Duration) int32 {
	return int32(min(t.Milliseconds()+boolInt(t%time.Millisecond > 0), math.MaxInt32))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// FormatValue writes a quota value as Kafka's tools show it.
func FormatValue(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
