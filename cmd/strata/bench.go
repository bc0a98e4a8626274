package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg        bench.Config
		acks       []string
		inProcess  bool
		latencyPct float64
		logLevel   string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a broker against references measured in the same run",
		Long: `Drive a broker with franz-go producers and consumers on loopback over a matrix
of record sizes, partition counts and acks, and print each figure beside the
same run's references: sequential writes with fsync on the data directory's
disk, loopback TCP, and NATS JetStream in this process at the same record
sizes and durability. Writes a Markdown table to stdout, and with --out,
--chart and --cpuprofile a JSON report, a chart (.png or .svg) and the
broker's CPU profile.

With no --brokers it starts "strata serve" (this binary) as a child process,
so the broker's CPU time and peak RSS are its own; --in-process runs the
broker in this process instead. --quick is a small matrix for CI (under a
minute); the default full matrix takes under 10 minutes on two cores.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			cfg.Stdout = cmd.OutOrStdout()
			cfg.Acks = acks
			if latencyPct <= 0 || latencyPct > 100 {
				return fmt.Errorf("--latency-rate %v: want a percentage in (0, 100]", latencyPct)
			}
			cfg.LatencyShare = latencyPct / 100
			if len(cfg.Brokers) == 0 && !inProcess {
				bin, err := os.Executable()
				if err != nil {
					return fmt.Errorf("find the strata binary to start: %w (or use --in-process)", err)
				}
				cfg.StrataBin = bin
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			_, err := bench.Run(ctx, cfg)
			return err
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Brokers, "brokers", nil, "measure this running broker (bootstrap addresses) instead of starting one")
	f.StringVar(&cfg.BrokerMetrics, "broker-metrics", "", "with --brokers: the broker's HTTP address (its --metrics-listen) for CPU, RSS, pprof and tier status")
	f.BoolVar(&inProcess, "in-process", false, "run the broker in this process (CPU and RSS then include the clients)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the broker's data, the fsync reference and the NATS store (default: a temporary directory, removed after)")
	f.BoolVar(&cfg.Quick, "quick", false, "a small matrix for CI smoke runs (under a minute)")
	f.IntSliceVar(&cfg.RecordSizes, "sizes", nil, "record value sizes in bytes (default 100,1024,16384; quick: 1024)")
	f.IntSliceVar(&cfg.Partitions, "partitions", nil, "partitions per topic (default 1,16,256; quick: 1,16)")
	f.StringSliceVar(&acks, "acks", nil, "acks settings: 1, all (default both)")
	f.IntVar(&cfg.Producers, "producers", 0, "producer clients (default 4)")
	f.DurationVar(&cfg.Duration, "duration", 0, "full-speed produce phase per cell (default 4s; quick: 1.5s)")
	f.DurationVar(&cfg.LatencyDuration, "latency-duration", 0, "fixed-rate latency phase per cell (default 4s; quick: 1.5s)")
	f.Float64Var(&latencyPct, "latency-rate", 50, "rate of the latency phases, in percent of each cell's measured maximum")
	f.BoolVar(&cfg.NoNATS, "no-nats", false, "skip the NATS JetStream reference")
	f.BoolVar(&cfg.NoTiering, "no-tiering", false, "skip the cold-tier figures")
	f.StringVar(&cfg.Out, "out", "", "write the JSON report here")
	f.StringVar(&cfg.Chart, "chart", "", "write a chart of throughput and latency here (.png or .svg)")
	f.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write the broker's CPU profile over the measured phases here (pprof format; with --in-process the whole process's)")
	f.StringVar(&logLevel, "log-level", "info", "progress on stderr: debug, info, warn or error")
	return cmd
}
