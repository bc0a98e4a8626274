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

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/quota"
	"github.com/stratalog/strata/server"
	"github.com/stratalog/strata/txn"
)

func newServeCmd() *cobra.Command {
	var (
		cfg      server.Config
		logLevel string
		brokerID int32
		idleMs   int64
		reqMs    int64
		txnMaxMs int64
		txnExpMs int64
		reauthMs int64
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a Strata broker. With no --etcd-endpoints it starts an embedded etcd in
<data-dir>/etcd, so one command gives a working single-node cluster.
Every flag can also be set with STRATA_<FLAG>, e.g. STRATA_DATA_DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, level, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.LogLevel = level
			cfg.BrokerID = brokerID
			cfg.ConnectionsMaxIdle = time.Duration(idleMs) * time.Millisecond
			cfg.RequestTimeout = time.Duration(reqMs) * time.Millisecond
			if txnMaxMs <= 0 || txnExpMs <= 0 {
				return fmt.Errorf("--transaction-max-timeout-ms and --transactional-id-expiration-ms must be positive")
			}
			cfg.Transactions.MaxTimeout = time.Duration(txnMaxMs) * time.Millisecond
			cfg.Transactions.IDExpiration = time.Duration(txnExpMs) * time.Millisecond
			cfg.ReauthMax = time.Duration(reauthMs) * time.Millisecond
			if cfg.Groups.InitialRebalanceDelay == 0 {
				cfg.Groups.InitialRebalanceDelay = -1 // group.Config: negative is "no delay", 0 the default
			}
			cfg.Logger = logger
			raiseFileLimit(logger, cfg.LogMaxOpenFiles)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
			srv, err := server.Start(startCtx, cfg)
			cancel()
			if err != nil {
				return err
			}
			// SIGHUP reads the TLS certificate and key again (they are
			// also reloaded when their files change).
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
		wait:
			for {
				select {
				case <-ctx.Done():
					break wait
				case <-hup:
					if err := srv.ReloadTLS(); err != nil {
						logger.Error("SIGHUP: TLS reload failed; the previous certificate stays", "err", err)
					} else {
						logger.Info("SIGHUP: TLS files reloaded")
					}
				}
			}
			logger.Info("shutting down")
			return srv.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "./strata-data", "directory for partition logs and the embedded etcd")
	f.StringVar(&cfg.Listen, "listen", ":9092", "Kafka listener address: one PLAINTEXT listener (shorthand for --listeners PLAINTEXT://ADDR)")
	f.StringVar(&cfg.Listeners, "listeners", "", "Kafka listeners, comma separated: PROTOCOL://host:port (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) or NAME://host:port with --listener-security-protocol-map; replaces --listen")
	f.StringVar(&cfg.AdvertisedListeners, "advertised-listeners", "", "addresses clients are given, per listener: NAME://host:port,... (default: each listener's bound address)")
	f.StringVar(&cfg.ListenerSecurityProtocolMap, "listener-security-protocol-map", "", "security protocol of named listeners: NAME:PROTOCOL,... (e.g. CLIENT:SASL_SSL,REPL:SSL)")
	f.StringVar(&cfg.InterBrokerListenerName, "inter-broker-listener-name", "", "listener followers dial (default: the first of --listeners)")
	f.StringVar(&cfg.TLS.CertFile, "tls-cert-file", "", "PEM certificate (chain) of the SSL and SASL_SSL listeners; reloaded when it changes or on SIGHUP")
	f.StringVar(&cfg.TLS.KeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	f.StringVar(&cfg.TLS.ClientCAFile, "tls-client-ca-file", "", "PEM CA bundle for client certificates: mutual TLS, required on SSL listeners (principal User:<subject DN>), verified if given on SASL_SSL")
	f.StringVar(&cfg.TLSCAFile, "tls-ca-file", "", "PEM CA bundle brokers trust when they dial each other over TLS (default --tls-client-ca-file, else the system roots)")
	f.StringVar(&cfg.TLS.MinVersion, "tls-min-version", "1.2", "lowest TLS version: 1.2 or 1.3")
	f.StringSliceVar(&cfg.TLS.CipherSuites, "tls-cipher-suites", nil, "TLS 1.2 cipher suites by Go name, comma separated (default Go's secure list)")
	f.StringSliceVar(&cfg.SASLMechanisms, "sasl-mechanisms", []string{"PLAIN"}, "SASL mechanisms offered: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (PLAIN stays offered to brokers)")
	f.Int64Var(&reauthMs, "connections-max-reauth-ms", 0, "longest SASL session before the client must re-authenticate on its connection (KIP-368); a session past it is closed (0: never)")
	f.StringVar(&cfg.Authorizer, "authorizer", "", "authorizer: acl (Kafka's ACLs, kept in etcd); empty: every request is allowed")
	f.StringVar(&cfg.SuperUsers, "super-users", "", "principals allowed everything by the acl authorizer, separated by semicolons: User:admin;User:other")
	f.BoolVar(&cfg.AllowEveryoneIfNoACL, "allow-everyone-if-no-acl-found", false, "with --authorizer acl: allow a request on a resource no ACL names (Kafka's allow.everyone.if.no.acl.found)")
	f.StringVar(&cfg.OAuth.JWKSURL, "sasl-oauthbearer-jwks-url", "", "OAUTHBEARER: URL of the JWKS that signs tokens (refreshed periodically)")
	f.StringVar(&cfg.OAuth.JWKSFile, "sasl-oauthbearer-jwks-file", "", "OAUTHBEARER: JWKS file that signs tokens")
	f.StringSliceVar(&cfg.OAuth.ExpectedAudience, "sasl-oauthbearer-expected-audience", nil, "OAUTHBEARER: audiences a token must name one of (empty: not checked)")
	f.StringVar(&cfg.OAuth.ExpectedIssuer, "sasl-oauthbearer-expected-issuer", "", "OAUTHBEARER: issuer a token must name (empty: not checked)")
	f.StringVar(&cfg.OAuth.SubClaim, "sasl-oauthbearer-sub-claim-name", "sub", "OAUTHBEARER: claim that names the principal (User:<claim>)")
	f.BoolVar(&cfg.Pprof, "pprof", false, "serve /debug/pprof on the HTTP endpoint")
	f.StringVar(&cfg.HTTPToken, "http-token", "", "bearer token required on the HTTP endpoint (all but /healthz); empty: none")
	f.StringVar(&cfg.HTTPTLSCertFile, "http-tls-cert-file", "", "PEM certificate to serve the HTTP endpoint over TLS")
	f.StringVar(&cfg.HTTPTLSKeyFile, "http-tls-key-file", "", "PEM key of --http-tls-cert-file")
	f.StringVar(&cfg.Advertise, "advertise", "", "address clients use to reach this broker (default: the listen address, localhost when unspecified)")
	f.Int32Var(&brokerID, "broker-id", 1, "broker id, unique in the cluster")
	f.StringVar(&cfg.Rack, "rack", "", "rack of this broker")
	f.StringVar(&cfg.Cluster, "cluster", "default", "cluster name: the etcd key prefix /strata/<cluster>/")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "etcd endpoints, comma separated (empty: embedded etcd in the data dir)")
	f.StringVar(&cfg.EtcdInitialCluster, "etcd-initial-cluster", "", "form one etcd cluster from the brokers' embedded etcds: 1=http://h1:2380,2=http://h2:2380,... (keys are broker ids)")
	f.StringVar(&cfg.EtcdClientURL, "etcd-listen-client", "", "client URL of this broker's embedded etcd member (default: its peer port minus one)")
	registerEtcdSecurity(f, &cfg.EtcdSecurity)
	f.StringVar(&cfg.EtcdDataDir, "etcd-data-dir", "", "directory of the embedded etcd (default <data-dir>/etcd)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "localhost:9644", "HTTP address for /metrics, /healthz, /readyz (and /debug/pprof with --pprof); localhost unless told otherwise (empty: off)")
	f.BoolVar(&cfg.AutoCreateTopics, "auto-create-topics", true, "create unknown topics on produce and metadata requests")
	f.Int32Var(&cfg.DefaultPartitions, "default-partitions", 1, "partitions of auto-created topics (Kafka's num.partitions)")
	f.DurationVar(&cfg.RetentionCheckInterval, "retention-check-interval", 30*time.Second, "how often retention runs (Kafka's log.retention.check.interval.ms)")
	f.DurationVar(&cfg.Groups.OffsetsRetention, "offsets-retention", 7*24*time.Hour, "how long committed offsets of an empty consumer group are kept (Kafka's offsets.retention.minutes)")
	f.DurationVar(&cfg.Groups.InitialRebalanceDelay, "group-initial-rebalance-delay", 3*time.Second, "how long the first rebalance of an empty group waits for more members (Kafka's group.initial.rebalance.delay.ms; 0: none)")
	f.DurationVar(&cfg.Groups.ConsumerSessionTimeout, "group-consumer-session-timeout", 45*time.Second, "how long a member of a KIP-848 consumer group may go without a heartbeat (Kafka's group.consumer.session.timeout.ms)")
	f.DurationVar(&cfg.Groups.ConsumerHeartbeatInterval, "group-consumer-heartbeat-interval", 5*time.Second, "the heartbeat interval members of KIP-848 consumer groups are told (Kafka's group.consumer.heartbeat.interval.ms)")
	f.Int64Var(&txnMaxMs, "transaction-max-timeout-ms", int64(txn.DefaultMaxTimeout/time.Millisecond), "longest transaction.timeout.ms a transactional producer may ask for; longer ones get INVALID_TRANSACTION_TIMEOUT (Kafka's transaction.max.timeout.ms)")
	f.Int64Var(&txnExpMs, "transactional-id-expiration-ms", int64(txn.DefaultIDExpiration/time.Millisecond), "a transactional id with no transaction open and no request for this long is removed (Kafka's transactional.id.expiration.ms)")
	f.StringVar(&cfg.ObjectStore, "object-store", "", "cold tier: s3://bucket/prefix or file:///path (default file://<data-dir>/objects)")
	f.StringVar(&cfg.S3Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL for s3:// object stores, e.g. http://127.0.0.1:9000 (default AWS S3)")
	f.StringVar(&cfg.S3Region, "s3-region", "", "S3 region (default: discovered)")
	f.StringVar(&cfg.S3CredentialsFile, "s3-credentials-file", "", "AWS shared-credentials file for the object store (default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
	f.IntVar(&cfg.TierUploadConcurrency, "tier-upload-concurrency", 2, "partitions tiered to the object store at once")
	f.Int64Var(&cfg.TierCacheBytes, "tier-cache-bytes", 128<<20, "memory for row groups of recent cold reads")
	f.DurationVar(&cfg.BrokerTTL, "broker-ttl", 10*time.Second, "lease of the broker's etcd registration: a dead broker's partitions move after this long")
	f.DurationVar(&cfg.ReplicaLagMax, "replica-lag-max", 30*time.Second, "a follower not caught up for this long leaves the ISR (Kafka's replica.lag.time.max.ms)")
	f.IntVar(&cfg.LogMaxOpenFiles, "log-max-open-files", hotlog.DefaultMaxOpenFiles, "segment files (.log, .index, .timeindex of all partitions) kept open when idle; the rest are opened on use, so descriptors do not grow with partitions and segments")
	f.DurationVar(&cfg.LogCleanerBackoff, "log-cleaner-backoff", broker.DefaultCleanerBackoff, "how often the log cleaner looks for a compacted partition to clean (Kafka's log.cleaner.backoff.ms)")
	f.Int64Var(&cfg.LogCleanerDedupeBufferBytes, "log-cleaner-dedupe-buffer-size", hotlog.DefaultDedupeBufferBytes, "memory of the log cleaner's key -> offset map, 24 bytes a key (Kafka's log.cleaner.dedupe.buffer.size); a partition with more dirty keys is cleaned in several passes")
	f.Float64Var(&cfg.LogCleanerIOBytesPerSecond, "log-cleaner-io-max-bytes-per-second", 0, "cap on the bytes the log cleaner reads plus writes per second; 0 = unlimited (Kafka's log.cleaner.io.max.bytes.per.second)")
	f.StringVar(&cfg.IcebergRESTListen, "iceberg-rest-listen", "", "Iceberg REST catalog of the cluster's tables (every tiered topic), HOST:PORT, e.g. 127.0.0.1:8181 (empty: off; tables are committed either way); HTTPS with --tls-cert-file, authenticated and authorized with --authorizer acl")
	f.StringVar(&cfg.IcebergNamespace, "iceberg-namespace", "", "namespace of the Iceberg tables (default: the --cluster name)")
	f.StringVar(&cfg.SchemaRegistryListen, "schema-registry-listen", "", "schema registry endpoint (Confluent Schema Registry REST API, schemas in etcd), e.g. :8081 (empty: off)")
	f.StringVar(&cfg.FlightListen, "flight-listen", "", "Arrow Flight endpoint serving topic ranges (hot and cold) as Arrow, e.g. :8815 (empty: off); TLS with --tls-cert-file, authenticated and authorized with --authorizer acl")
	f.Int32Var(&cfg.SocketRequestMaxBytes, "socket-request-max-bytes", ingest.DefaultMaxRequestBytes, "largest Kafka request frame; a larger one closes its connection (Kafka's socket.request.max.bytes)")
	f.IntVar(&cfg.MaxConnections, "max-connections", 0, "open Kafka connections at most; past it new ones are closed at once (Kafka's max.connections; 0: unlimited)")
	f.Int64Var(&idleMs, "connections-max-idle-ms", int64(ingest.DefaultConnectionsMaxIdle/time.Millisecond), "close a Kafka connection idle for this long (Kafka's connections.max.idle.ms)")
	f.IntVar(&cfg.FetchMaxBytes, "fetch-max-bytes", ingest.DefaultFetchMaxBytes, "most record bytes in one fetch response, whatever the client asks (Kafka's fetch.max.bytes)")
	f.Int64Var(&reqMs, "request-timeout-ms", int64(ingest.DefaultRequestTimeout/time.Millisecond), "longest a Kafka request waits on etcd (topic creation and deletion, producer ids, group offsets); a request's own shorter timeout wins")
	f.StringVar(&cfg.SASLPlainUsersFile, "sasl-plain-users-file", "", "users who may authenticate with SASL PLAIN on the Kafka listener: lines user:password, or a JSON object {\"user\": \"password\"}; read at start. SASL stays optional: clients without it are served as User:ANONYMOUS")
	f.IntVar(&cfg.QuotaWindowSamples, "quota-window-num", quota.DefaultWindowSamples, "samples client quotas are measured over (Kafka's quota.window.num)")
	f.DurationVar(&cfg.QuotaWindow, "quota-window-size", quota.DefaultWindow, "length of one quota sample (Kafka's quota.window.size.seconds)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// newLogger is the broker's logger at level; the level can change while
// it runs (the dynamic broker config log.level, BROKER_LOGGER).
func newLogger(level string) (*slog.Logger, *slog.LevelVar, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	lv := new(slog.LevelVar)
	lv.Set(l)
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})), lv, nil
}
