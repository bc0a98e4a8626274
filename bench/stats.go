package bench

import (
	"encoding/binary"
	"slices"
	"time"
)

// stampBytes is the prefix of a latency record's value: the unix nanos at
// which the producer handed it to its client.
const stampBytes = 8

func stamp(v []byte, t time.Time) { binary.BigEndian.PutUint64(v, uint64(t.UnixNano())) }

func stamped(v []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(v))) }

// percentiles returns the p50, p99 and p99.9 of samples in milliseconds,
// sorting samples.
func percentiles(samples []time.Duration) (p50, p99, p999 float64) {
	if len(samples) == 0 {
		return 0, 0, 0
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		i := int(q * float64(len(samples)-1))
		return float64(samples[i]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99), at(0.999)
}

// rate returns MB/s and records/s of n records of size bytes in d.
func rate(n int64, size int, d time.Duration) Throughput {
	s := d.Seconds()
	if s <= 0 {
		return Throughput{Records: n}
	}
	return Throughput{
		MBps:          float64(n) * float64(size) / 1e6 / s,
		RecordsPerSec: float64(n) / s,
		Records:       n,
		Seconds:       s,
	}
}

// ratio is a/b, 0 when either is unknown.
func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

// pacer spreads n events evenly over time: due says how many should have
// happened by now.
type pacer struct {
	start time.Time
	rate  float64 // events per second
}

func (p pacer) due(now time.Time) int64 { return int64(now.Sub(p.start).Seconds() * p.rate) }

// maxSamples bounds the latency samples one phase keeps (the first ones).
const maxSamples = 8 << 20
