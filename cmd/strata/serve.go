package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/server"
)

func newServeCmd() *cobra.Command {
	var (
		cfg      server.Config
		logLevel string
		brokerID int32
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a Strata broker. With no --etcd-endpoints it starts an embedded etcd in
<data-dir>/etcd, so one command gives a working single-node cluster.
Every flag can also be set with STRATA_<FLAG>, e.g. STRATA_DATA_DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.BrokerID = brokerID
			cfg.Logger = logger
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
			srv, err := server.Start(startCtx, cfg)
			cancel()
			if err != nil {
				return err
			}
			<-ctx.Done()
			logger.Info("shutting down")
			return srv.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "./strata-data", "directory for partition logs and the embedded etcd")
	f.StringVar(&cfg.Listen, "listen", ":9092", "Kafka listener address")
	f.StringVar(&cfg.Advertise, "advertise", "", "address clients use to reach this broker (default: the listen address, localhost when unspecified)")
	f.Int32Var(&brokerID, "broker-id", 1, "broker id, unique in the cluster")
	f.StringVar(&cfg.Rack, "rack", "", "rack of this broker")
	f.StringVar(&cfg.Cluster, "cluster", "default", "cluster name: the etcd key prefix /strata/<cluster>/")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "etcd endpoints, comma separated (empty: embedded etcd in the data dir)")
	f.StringVar(&cfg.EtcdDataDir, "etcd-data-dir", "", "directory of the embedded etcd (default <data-dir>/etcd)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", ":9644", "HTTP address for /metrics, /healthz, /readyz and /debug/pprof (empty: off)")
	f.BoolVar(&cfg.AutoCreateTopics, "auto-create-topics", true, "create unknown topics on produce and metadata requests")
	f.Int32Var(&cfg.DefaultPartitions, "default-partitions", 1, "partitions of auto-created topics (Kafka's num.partitions)")
	f.DurationVar(&cfg.RetentionCheckInterval, "retention-check-interval", 30*time.Second, "how often retention runs (Kafka's log.retention.check.interval.ms)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
