package bench

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Config is everything `strata bench` can be told. Zero values take the
// preset's (full, or quick with Quick set).
type Config struct {
	// Brokers bootstraps an external broker; empty starts one.
	Brokers []string
	// BrokerMetrics is an external broker's HTTP address (host:port of
	// --metrics-listen): its /metrics give CPU and RSS, its pprof the
	// profile, its tier status the tiering figures. Ignored without Brokers.
	BrokerMetrics string
	// StrataBin, when no Brokers are given, is the strata binary whose
	// `serve` is started as a child process; empty starts the broker in
	// this process instead.
	StrataBin string
	// DataDir holds the broker's data, the fsync reference's file and the
	// NATS store (so all write to the same disk); empty: a temporary
	// directory, removed at the end.
	DataDir string

	Quick       bool
	RecordSizes []int    // bytes per record value, each >= 8 (the latency timestamp)
	Partitions  []int    // partitions per topic
	Acks        []string // "1" and/or "all"
	Producers   int      // producer clients per cell
	// Duration is each maximum-rate produce phase; LatencyDuration each
	// fixed-rate latency phase.
	Duration        time.Duration
	LatencyDuration time.Duration
	// LatencyShare is the latency phases' rate as a share of the cell's
	// measured maximum; default 0.5.
	LatencyShare float64
	// RefDuration is each disk and TCP reference's measurement.
	RefDuration time.Duration
	// TierBytes is how much is produced for the tiering figures, in
	// segments of TierSegmentBytes.
	TierBytes        int64
	TierSegmentBytes int64
	NoNATS           bool
	NoTiering        bool

	Out        string // JSON report path ("" none)
	Chart      string // chart path, .png or .svg ("" none)
	CPUProfile string // broker CPU profile path ("" none)

	Stdout io.Writer    // the Markdown report; default io.Discard
	Logger *slog.Logger // progress; default discards
}

// preset fills what the caller left zero.
func (c *Config) preset() {
	quick := c.Quick
	pick := func(full, q time.Duration) time.Duration {
		if quick {
			return q
		}
		return full
	}
	if len(c.RecordSizes) == 0 {
		c.RecordSizes = []int{100, 1024, 16384}
		if quick {
			c.RecordSizes = []int{1024}
		}
	}
	if len(c.Partitions) == 0 {
		c.Partitions = []int{1, 16, 256}
		if quick {
			c.Partitions = []int{1, 16}
		}
	}
	if len(c.Acks) == 0 {
		c.Acks = []string{"1", "all"}
	}
	if c.Producers <= 0 {
		c.Producers = 4
	}
	if c.Duration <= 0 {
		c.Duration = pick(4*time.Second, 1500*time.Millisecond)
	}
	if c.LatencyDuration <= 0 {
		c.LatencyDuration = pick(4*time.Second, 1500*time.Millisecond)
	}
	if c.LatencyShare <= 0 {
		c.LatencyShare = 0.5
	}
	if c.RefDuration <= 0 {
		c.RefDuration = pick(2*time.Second, 500*time.Millisecond)
	}
	if c.TierBytes <= 0 {
		c.TierBytes = 128 << 20
		if quick {
			c.TierBytes = 8 << 20
		}
	}
	if c.TierSegmentBytes <= 0 {
		c.TierSegmentBytes = 16 << 20
		if quick {
			c.TierSegmentBytes = 1 << 20
		}
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) check() error {
	for _, s := range c.RecordSizes {
		if s < 8 || s > 1<<20 {
			return fmt.Errorf("record size %d: want 8 bytes to 1 MiB", s)
		}
	}
	for _, p := range c.Partitions {
		if p < 1 || p > 4096 {
			return fmt.Errorf("partitions %d: want 1 to 4096", p)
		}
	}
	if c.LatencyShare > 1 {
		return fmt.Errorf("latency rate %.0f %% of the maximum: want at most 100 %%", 100*c.LatencyShare)
	}
	for _, a := range c.Acks {
		if a != "1" && a != "all" {
			return fmt.Errorf("acks %q: want 1 or all", a)
		}
	}
	return nil
}

// presetName names the matrix in the report.
func (c *Config) presetName() string {
	if c.Quick {
		return "quick"
	}
	return "full"
}
