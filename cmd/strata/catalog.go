package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/server"
)

func newCatalogCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "The Iceberg REST catalog of the cluster's tables"}
	var cfg server.CatalogConfig
	var logLevel string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Iceberg REST catalog apart from a broker (read-only)",
		Long: `Serves the Iceberg REST catalog of a cluster's tables (every tiered topic is one)
from its etcd and object store, without running a broker: the same API as
strata serve --iceberg-rest-listen (docs/iceberg.md). It commits nothing.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			logger, _, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			c, err := server.ServeCatalog(sctx, cfg)
			cancel()
			if err != nil {
				return err
			}
			select {
			case <-ctx.Done():
			case <-c.Done():
			}
			return c.Close()
		},
	}
	f := serve.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8181", "HOST:PORT of the REST catalog")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "the cluster's etcd endpoints, comma separated")
	f.StringVar(&cfg.Cluster, "cluster", "default", "cluster name (the etcd key prefix)")
	f.StringVar(&cfg.ObjectStore, "object-store", "", "the brokers' --object-store URL (s3://bucket/prefix or file:///path)")
	f.StringVar(&cfg.S3Endpoint, "s3-endpoint", "", "S3-compatible endpoint, e.g. http://127.0.0.1:9000 (empty: AWS)")
	f.StringVar(&cfg.S3Region, "s3-region", "", "S3 region")
	f.StringVar(&cfg.S3CredentialsFile, "s3-credentials-file", "", "AWS shared-credentials file (default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
	f.StringVar(&cfg.Namespace, "namespace", "", "namespace of the tables (default: the cluster name)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.AddCommand(serve)
	return cmd
}
