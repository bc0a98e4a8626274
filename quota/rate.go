package quota

import "time"

// rate is a sampled rate as Kafka measures quotas: the sum of values
// over a window of samples (quota.window.num of quota.window.size.seconds
// each), divided by the time the window covers, which is at least all
// but one whole sample (so a client's first burst is measured over the
// full window, not over its first millisecond).
type rate struct {
	window  time.Duration // one sample's span
	starts  []time.Time   // sample i began at starts[i]; zero: unused
	values  []float64
	current int
}

func newRate(samples int, window time.Duration) *rate {
	return &rate{window: window, starts: make([]time.Time, samples), values: make([]float64, samples)}
}

// record adds v at now.
func (r *rate) record(v float64, now time.Time) {
	r.purge(now)
	if r.starts[r.current].IsZero() {
		r.starts[r.current] = now
	} else if !now.Before(r.starts[r.current].Add(r.window)) {
		r.current = (r.current + 1) % len(r.starts)
		r.starts[r.current], r.values[r.current] = now, 0
	}
	r.values[r.current] += v
}

// purge forgets samples that ended before the window.
func (r *rate) purge(now time.Time) {
	horizon := now.Add(-time.Duration(len(r.starts)) * r.window)
	for i, s := range r.starts {
		if !s.IsZero() && s.Before(horizon) {
			r.starts[i], r.values[i] = time.Time{}, 0
		}
	}
}

// elapsed is the time the window covers at now, Kafka's Rate.windowSize.
func (r *rate) elapsed(now time.Time) time.Duration {
	var oldest time.Time
	for _, s := range r.starts {
		if !s.IsZero() && (oldest.IsZero() || s.Before(oldest)) {
			oldest = s
		}
	}
	el := time.Duration(0)
	if !oldest.IsZero() {
		el = now.Sub(oldest)
	}
	minFull := time.Duration(len(r.starts)-1) * r.window
	if full := el / r.window * r.window; full < minFull {
		el += minFull - full
	}
	return max(el, r.window)
}

// perSecond is the rate at now.
func (r *rate) perSecond(now time.Time) float64 {
	r.purge(now)
	var sum float64
	for _, v := range r.values {
		sum += v
	}
	return sum / r.elapsed(now).Seconds()
}

// throttle is how long a client whose rate is over bound must wait for
// the window's rate to fall back to it (Kafka: (rate - bound) / bound *
// window), at most the whole window; 0 within the bound.
func (r *rate) throttle(bound float64, now time.Time) time.Duration {
	v := r.perSecond(now)
	if v <= bound {
		return 0
	}
	t := time.Duration((v - bound) / bound * float64(r.elapsed(now)))
	return min(t, time.Duration(len(r.starts))*r.window)
}

// tokenBucket is KIP-599's strict quota for partition mutations: a burst
// of quota × the window's length may be spent at once, tokens come back
// at quota per second, and a request that finds the bucket in debt is
// refused until it is out of it.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) refill(quota, burst float64, now time.Time) {
	if b.last.IsZero() {
		b.tokens, b.last = burst, now
		return
	}
	b.tokens = min(burst, b.tokens+quota*now.Sub(b.last).Seconds())
	b.last = now
}
