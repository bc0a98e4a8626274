package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Run measures the references and the broker, writes the report to
// cfg.Stdout (Markdown), cfg.Out (JSON), cfg.Chart and cfg.CPUProfile, and
// returns it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.preset()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	dataDir := cfg.DataDir
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "strata-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		dataDir = dir
	} else if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	r := &runner{cfg: &cfg, dataDir: dataDir, runID: strconv.FormatInt(time.Now().UnixMilli()%1e8, 36)}
	rep := &Report{
		Started: time.Now().UTC().Truncate(time.Second),
		Preset:  cfg.presetName(),
		Machine: machine(dataDir),
		Settings: Settings{
			Producers:             cfg.Producers,
			ProduceSeconds:        cfg.Duration.Seconds(),
			LatencySeconds:        cfg.LatencyDuration.Seconds(),
			LatencyRateOfMaxPct:   100 * cfg.LatencyShare,
			ReferenceSeconds:      cfg.RefDuration.Seconds(),
			DiskFsyncChunkBytes:   fsyncChunk,
			DiskSmallFsyncBytes:   smallFsyncChunk,
			LoopbackTCPWriteBytes: tcpChunk,
			MatrixCells:           len(cfg.RecordSizes) * len(cfg.Partitions) * len(cfg.Acks),
		},
	}
	r.rep = rep
	start := time.Now()
	if err := r.run(ctx); err != nil {
		return rep, err
	}
	rep.DurationSeconds = time.Since(start).Seconds()
	computeRatios(rep)
	return rep, r.output()
}

type runner struct {
	cfg     *Config
	dataDir string
	runID   string
	rep     *Report
	tgt     *target
	adm     *kadm.Client
	prof    *profiler
}

func (r *runner) logf(format string, args ...any) {
	r.cfg.Logger.Info(fmt.Sprintf(format, args...))
}

func (r *runner) skip(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.rep.Skipped = append(r.rep.Skipped, msg)
	r.logf("skipped: %s", msg)
}

func (r *runner) run(ctx context.Context) error {
	cfg, rep := r.cfg, r.rep

	// References first, on a machine the broker does not load yet.
	r.logf("reference: sequential writes with fsync in %s", r.dataDir)
	disk, err := diskRef(ctx, r.dataDir, cfg.RefDuration)
	if err != nil {
		return err
	}
	rep.References.Disk = disk
	r.logf("reference: loopback TCP")
	if rep.References.LoopbackTCP, err = tcpRef(ctx, cfg.RefDuration); err != nil {
		return err
	}
	if cfg.NoNATS {
		r.skip("NATS JetStream reference: --no-nats")
	} else {
		rep.Settings.NATSServerVersion = natsserver.VERSION
		for _, acks := range cfg.Acks {
			res, err := natsRun(ctx, cfg, filepath.Join(r.dataDir, "nats-acks-"+acks), acks, r.logf)
			if err != nil {
				return err
			}
			rep.References.NATS = append(rep.References.NATS, res...)
		}
	}

	r.logf("starting the broker")
	tgt, err := startTarget(ctx, cfg, r.dataDir)
	if err != nil {
		return err
	}
	r.tgt = tgt
	defer func() {
		if err := tgt.close(); err != nil {
			r.logf("broker: %v", err)
		}
	}()
	rep.Broker = BrokerInfo{Mode: tgt.mode, ResourceScope: tgt.scope, Metrics: tgt.metrics}
	if tgt.meter == nil {
		r.skip("broker CPU and RSS: an external broker without --broker-metrics")
	}
	if tgt.metrics != "" {
		r.logf("broker pprof: http://%s/debug/pprof/", tgt.metrics)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(tgt.brokers...), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	r.adm = kadm.NewClient(cl)
	if cfg.CPUProfile != "" {
		metrics := tgt.metrics
		if tgt.mode == "in process" {
			metrics = ""
		}
		if tgt.mode == "external" && metrics == "" {
			r.skip("CPU profile: an external broker without --broker-metrics")
		} else {
			r.prof = &profiler{metrics: metrics, logf: r.logf}
		}
	}

	for _, size := range cfg.RecordSizes {
		for _, parts := range cfg.Partitions {
			for _, acks := range cfg.Acks {
				c, err := r.cell(ctx, size, parts, acks)
				if err != nil {
					return fmt.Errorf("strata %d B x %d partitions acks=%s: %w", size, parts, acks, err)
				}
				rep.Strata = append(rep.Strata, c)
			}
		}
	}

	switch {
	case cfg.NoTiering:
		r.skip("cold tier: --no-tiering")
	case tgt.metrics == "":
		r.skip("cold tier: an external broker without --broker-metrics (the tier status is read there)")
	default:
		rep.Settings.TierSegmentBytes, rep.Settings.TierRecordBytes = cfg.TierSegmentBytes, tierRecordBytes
		tctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		t, err := tierRun(tctx, cfg, tgt, r.adm, "bench-tier-"+r.runID, r.logf)
		cancel()
		if err != nil {
			r.skip("cold tier: %v", err)
		} else {
			rep.Tiering = t
		}
	}

	if r.prof != nil {
		p, err := r.prof.write(cfg.CPUProfile)
		if err != nil {
			r.skip("CPU profile: %v", err)
		} else {
			rep.Profile = p
		}
	}
	return nil
}

// cell measures Strata at one point of the matrix on a topic of its own.
func (r *runner) cell(ctx context.Context, size, parts int, acks string) (Cell, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cfg, tgt := r.cfg, r.tgt
	c := Cell{RecordBytes: size, Partitions: parts, Acks: acks}
	topic := fmt.Sprintf("bench-%d-%dp-acks-%s-%s", size, parts, acks, r.runID)
	r.logf("strata: %d B records, %d partitions, acks=%s", size, parts, acks)
	if err := createTopic(ctx, r.adm, topic, parts, map[string]string{"remote.storage.enable": "false"}); err != nil {
		return c, err
	}
	defer func() {
		if err := deleteTopic(context.WithoutCancel(ctx), r.adm, topic); err != nil {
			r.logf("%v", err)
		}
	}()
	m := tgt.meter
	cpu := func() float64 {
		if m == nil {
			return 0
		}
		s, err := m.cpuSeconds()
		if err != nil {
			r.logf("broker CPU: %v", err)
		}
		return s
	}
	if m != nil {
		m.resetPeak()
	}

	cpu0 := cpu()
	r.prof.start()
	prod, total, err := produceMax(ctx, tgt.brokers, topic, size, acks, cfg.Producers, cfg.Duration, 0, false)
	r.prof.stop()
	if err != nil {
		return c, err
	}
	c.Produce = prod
	cpu1 := cpu()
	r.prof.start()
	c.Consume, err = consumeAll(ctx, tgt.brokers, topic, total, size)
	r.prof.stop()
	if err != nil {
		return c, err
	}
	cpu2 := cpu()
	if m != nil {
		c.CPUSecondsPerGBProduce = (cpu1 - cpu0) / (float64(prod.Records) * float64(size) / 1e9)
		c.CPUSecondsPerGBConsume = (cpu2 - cpu1) / (float64(total) * float64(size) / 1e9)
	}

	r.prof.start()
	c.Latency, err = latencyRun(ctx, tgt.brokers, r.adm, topic, size, acks, cfg.Producers, cfg.LatencyShare*prod.RecordsPerSec, cfg.LatencyDuration)
	r.prof.stop()
	if err != nil {
		return c, fmt.Errorf("latency: %w", err)
	}
	if m != nil {
		if rss, err := m.peakRSS(); err == nil {
			c.PeakRSSMB = float64(rss) / 1e6
		} else {
			r.logf("broker RSS: %v", err)
		}
	}
	r.logf("  produce %.1f MB/s, consume %.1f MB/s, p99 %.2f ms", c.Produce.MBps, c.Consume.MBps, c.Latency.P99)
	return c, nil
}

// computeRatios puts each cell beside each reference.
func computeRatios(rep *Report) {
	refs := rep.References
	for i := range rep.Strata {
		c := &rep.Strata[i]
		c.Ratios = Ratios{
			ProduceVsDiskFsync:   ratio(c.Produce.MBps, refs.Disk.FsyncMBps),
			ProduceVsLoopbackTCP: ratio(c.Produce.MBps, refs.LoopbackTCP.MBps),
			ConsumeVsLoopbackTCP: ratio(c.Consume.MBps, refs.LoopbackTCP.MBps),
		}
		if n := natsFor(refs.NATS, c.RecordBytes, c.Acks); n != nil {
			c.Ratios.ProduceVsNATS = ratio(c.Produce.MBps, n.Produce.MBps)
			c.Ratios.ConsumeVsNATS = ratio(c.Consume.MBps, n.Consume.MBps)
			c.Ratios.P50VsNATS = ratio(c.Latency.P50, n.Latency.P50)
			c.Ratios.P99VsNATS = ratio(c.Latency.P99, n.Latency.P99)
			c.Ratios.P999VsNATS = ratio(c.Latency.P999, n.Latency.P999)
		}
	}
}

func natsFor(ns []NATSResult, size int, acks string) *NATSResult {
	for i := range ns {
		if ns[i].RecordBytes == size && ns[i].Acks == acks {
			return &ns[i]
		}
	}
	return nil
}

func (r *runner) output() error {
	cfg, rep := r.cfg, r.rep
	if cfg.Out != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.Out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	if cfg.Chart != "" {
		if err := writeChart(rep, cfg.Chart); err != nil {
			return fmt.Errorf("--chart: %w", err)
		}
	}
	return writeMarkdown(cfg.Stdout, rep)
}

// machine describes this machine from /proc.
func machine(dataDir string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), CPUModel: "unknown", Kernel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	m.DataDisk = mountOf(dataDir)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	return m
}

// mountOf names the device and file system type holding dir.
func mountOf(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		abs = p
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	best, bestLen := "", -1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > bestLen {
			best, bestLen = f[0]+" ("+f[2]+")", len(mp)
		}
	}
	return best
}
