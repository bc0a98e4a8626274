package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/fileutil"
	"github.com/stratalog/strata/group"
	"github.com/stratalog/strata/iceberg"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/quota"
	"github.com/stratalog/strata/tiering"
	"github.com/stratalog/strata/txn"
)

// Config is everything `strata serve` can be told.
type Config struct {
	DataDir       string
	Listen        string // Kafka listener, host:port
	Advertise     string // host:port clients should use; default derived from Listen
	BrokerID      int32
	Rack          string
	Cluster       string
	EtcdEndpoints []string // empty: embedded etcd in EtcdDataDir
	EtcdDataDir   string   // embedded etcd's directory; default <DataDir>/etcd
	// EtcdInitialCluster makes the embedded etcd one member of a cluster
	// formed by several brokers: "1=http://h1:2380,2=http://h2:2380,..."
	// keyed by broker id. EtcdClientURL is this member's client URL
	// (default: its peer URL with the port minus one, etcd's convention).
	EtcdInitialCluster string
	EtcdClientURL      string
	// EtcdSecurity: TLS and credentials to reach an external etcd.
	EtcdSecurity      meta.EtcdSecurity
	MetricsListen     string // empty: no HTTP endpoint
	AutoCreateTopics  bool
	DefaultPartitions int32
	// RetentionCheckInterval is Kafka's log.retention.check.interval.ms.
	RetentionCheckInterval time.Duration
	// BrokerTTL is the lease of the broker's registration in etcd: how
	// long a dead broker keeps its partitions before the controller moves
	// them (and the controller election's lease).
	BrokerTTL time.Duration
	// ReplicaLagMax is Kafka's replica.lag.time.max.ms.
	ReplicaLagMax time.Duration
	// LogMaxOpenFiles caps the idle open segment files of all partitions
	// (0: hotlog.DefaultMaxOpenFiles).
	LogMaxOpenFiles int
	// The log cleaner of compacted topics: Kafka's log.cleaner.backoff.ms,
	// log.cleaner.dedupe.buffer.size and
	// log.cleaner.io.max.bytes.per.second (zero values: the defaults,
	// 15 s, 128 MiB, unlimited).
	LogCleanerBackoff           time.Duration
	LogCleanerDedupeBufferBytes int64
	LogCleanerIOBytesPerSecond  float64
	// Groups configures the consumer-group coordinator (offsets retention,
	// initial rebalance delay, session timeout bounds); BrokerID, Brokers,
	// Logger and Registerer are filled in here.
	Groups group.Config
	// Transactions configures the transaction coordinator (maximum
	// transaction timeout, transactional id expiration); BrokerID,
	// Brokers and Logger are filled in here.
	Transactions txn.Config
	Logger       *slog.Logger
	// LogLevel, if set, is Logger's level, which the dynamic broker
	// config log.level and the BROKER_LOGGER root logger change live.
	LogLevel *slog.LevelVar

	// Cold tier. ObjectStore is s3://bucket/prefix or file:///path; ""
	// means file://<DataDir>/objects. S3 credentials come from
	// S3CredentialsFile (AWS shared-credentials format) or else
	// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
	ObjectStore       string
	S3Endpoint        string
	S3Region          string
	S3CredentialsFile string
	// Tierer knobs; zero values take the tiering defaults.
	TierUploadConcurrency int
	TierCacheBytes        int64
	TierRowGroupBytes     int64
	TierOrphanGrace       time.Duration
	TierHooks             *tiering.Hooks // fault injection, for tests
	// SyncFile replaces the fsync of segment files (fault injection, for
	// tests: a disk whose fsync fails); nil: the real one.
	SyncFile func(*os.File) error
	// Request bounds of the Kafka listener, named as Kafka's
	// (socket.request.max.bytes, max.connections, connections.max.idle.ms,
	// fetch.max.bytes); zero values take ingest's defaults, Kafka's.
	SocketRequestMaxBytes int32
	MaxConnections        int
	ConnectionsMaxIdle    time.Duration
	FetchMaxBytes         int
	// RequestTimeout bounds how long a request waits on etcd (topic
	// creation and deletion, producer ids, group offsets); a request's own
	// shorter timeout wins. Zero takes ingest's default (30 s).
	RequestTimeout time.Duration
	// QuotaWindowSamples and QuotaWindow are Kafka's quota.window.num and
	// quota.window.size.seconds: client quotas are measured over that
	// many samples of that length (zero: 11 and 1 s).
	QuotaWindowSamples int
	QuotaWindow        time.Duration
	// FlightListen is the Arrow Flight endpoint (query.FlightService);
	// empty: off.
	FlightListen string
	// SchemaRegistryListen is the schema registry's HTTP endpoint
	// (package schemareg, Confluent's REST API over etcd); empty: off.
	SchemaRegistryListen string
	// SASLPlainUsersFile lists the users that may authenticate with SASL
	// PLAIN on the Kafka listener (loadPlainUsers: user:password lines or
	// a JSON object); read once at start. Empty: only the brokers
	// themselves authenticate. SASL is optional on the listener either way.
	SASLPlainUsersFile string

	// Listeners (listeners.go): Kafka's listeners, advertised.listeners,
	// listener.security.protocol.map and inter.broker.listener.name.
	// Empty Listeners: Listen is one PLAINTEXT listener, advertised as
	// Advertise says.
	Listeners                   string
	AdvertisedListeners         string
	ListenerSecurityProtocolMap string
	InterBrokerListenerName     string
	// TLS of the SSL and SASL_SSL listeners (certificate, key, client CAs
	// for mutual TLS, min version, cipher suites); reloaded when the files
	// change or on Reload (SIGHUP). TLSCAFile is what brokers trust when
	// they dial each other over TLS (default TLS.ClientCAFile).
	TLS       auth.TLSFiles
	TLSCAFile string
	// SASLMechanisms offered (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512,
	// OAUTHBEARER); empty: PLAIN.
	SASLMechanisms []string
	// ReauthMax is connections.max.reauth.ms (0: sessions never expire).
	ReauthMax time.Duration
	// Authorizer "acl" turns on the ACL authorizer (ACLs in etcd); "" is
	// none: every request is allowed. SuperUsers are principals that may
	// do anything ("User:admin;User:other"); brokers always may.
	// AllowEveryoneIfNoACL is allow.everyone.if.no.acl.found.
	Authorizer           string
	SuperUsers           string
	AllowEveryoneIfNoACL bool
	// OAuth configures OAUTHBEARER (oauth.go).
	OAuth OAuthConfig
	// Pprof serves /debug/pprof on the HTTP endpoint (off by default).
	// HTTPToken, when set, is the bearer token every HTTP request but
	// /healthz must carry; HTTPTLSCertFile and HTTPTLSKeyFile serve the
	// endpoint over TLS.
	Pprof           bool
	HTTPToken       string
	HTTPTLSCertFile string
	HTTPTLSKeyFile  string
	// IcebergRESTListen serves the Iceberg REST catalog of the cluster's
	// tables (iceberg/rest), e.g. 127.0.0.1:8181; empty: off. Tables are
	// committed whether or not it is served.
	IcebergRESTListen string
	// IcebergNamespace is the namespace of the tables (default: the
	// cluster name).
	IcebergNamespace string
	// IcebergHooks are for tests.
	IcebergHooks *iceberg.Hooks
}

// Server is a running broker process.
type Server struct {
	cfg      Config
	log      *slog.Logger
	lock     *fileutil.Lock
	embedded *embedetcd.Server
	meta     *meta.Client
	reg      atomic.Pointer[meta.Registration]
	broker   *broker.Broker
	tier     *tiering.Tier
	bucket   objstore.Bucket // the cold tier's store
	flight   *flightEndpoint
	tables   *iceberg.Tables
	catalog  *http.Server
	catLn    net.Listener
	schemas  *http.Server
	schemaLn net.Listener
	registry *prometheus.Registry
	groups   *group.Coordinator
	txns     *txn.Coordinator
	kafka    *ingest.Server
	kafkaLns []net.Listener
	specs    []listenerSpec
	tlsSrv   *auth.TLSServer // nil: no TLS listener nor --tls-cert-file
	// The security the non-Kafka endpoints share (endpoint_auth.go).
	acls      *aclAuthorizer       // nil: no --authorizer
	passwords plainCredentials     // PLAIN's: the users file, SCRAM credentials in etcd
	oauth     *auth.OAuthValidator // nil: no OAUTHBEARER
	http      *http.Server
	httpLn    net.Listener

	cancel      context.CancelFunc
	oauthCancel context.CancelFunc // the JWKS refresh (oauth.go)
	wg          sync.WaitGroup
}

// Start brings a broker up and returns once it serves Kafka requests.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "default"
	}
	if cfg.BrokerTTL <= 0 {
		cfg.BrokerTTL = 10 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	var users map[string]string
	if cfg.SASLPlainUsersFile != "" {
		if users, err = loadPlainUsers(cfg.SASLPlainUsersFile); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if s.lock, err = fileutil.LockDir(cfg.DataDir); err != nil {
		return nil, err
	}

	endpoints := cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		dir := cfg.EtcdDataDir
		if dir == "" {
			dir = filepath.Join(cfg.DataDir, "etcd")
		}
		ec := embedetcd.Config{Dir: dir, Name: fmt.Sprintf("strata-%d", cfg.BrokerID)}
		if cfg.EtcdInitialCluster != "" {
			if ec, err = memberConfig(dir, cfg.BrokerID, cfg.EtcdInitialCluster, cfg.EtcdClientURL); err != nil {
				return nil, err
			}
		}
		s.embedded, err = embedetcd.Start(ctx, ec, s.log.With("component", "etcd"))
		if err != nil {
			return nil, fmt.Errorf("embedded etcd: %w", err)
		}
		endpoints = s.embedded.Endpoints()
	}
	if s.meta, err = meta.DialSecure(ctx, endpoints, cfg.Cluster, cfg.EtcdSecurity); err != nil {
		return nil, fmt.Errorf("etcd %v: %w", endpoints, err)
	}

	if s.specs, err = parseListeners(cfg); err != nil {
		return nil, err
	}
	var bound []string
	for _, l := range s.specs {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return nil, fmt.Errorf("kafka listener %s: %w", l.Name, err)
		}
		s.kafkaLns = append(s.kafkaLns, ln)
		bound = append(bound, ln.Addr().String())
		if l.tls() && s.tlsSrv == nil {
			if s.tlsSrv, err = auth.NewTLSServer(cfg.TLS, s.log); err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}
	}
	if s.tlsSrv == nil && cfg.TLS.CertFile != "" && (cfg.FlightListen != "" || cfg.IcebergRESTListen != "") {
		// Flight and the REST catalog serve TLS with the listeners' files.
		if s.tlsSrv, err = auth.NewTLSServer(cfg.TLS, s.log); err != nil {
			return nil, fmt.Errorf("flight / iceberg rest TLS: %w", err)
		}
	}
	if err := advertiseListeners(cfg, s.specs, bound); err != nil {
		return nil, err
	}
	ib, err := interBroker(cfg, s.specs)
	if err != nil {
		return nil, err
	}
	host, port := ib.Host, ib.Port
	var peerTLSCfg *tls.Config
	if ib.tls() {
		if peerTLSCfg, err = peerTLS(cfg, s.tlsSrv); err != nil {
			return nil, err
		}
	}
	var acls *aclAuthorizer
	if cfg.Authorizer != "" {
		if cfg.Authorizer != "acl" {
			return nil, fmt.Errorf("--authorizer %q: the only authorizer is acl", cfg.Authorizer)
		}
		supers, err := auth.ParseSuperUsers(cfg.SuperUsers)
		if err != nil {
			return nil, fmt.Errorf("--super-users: %w", err)
		}
		if acls, err = newACLAuthorizer(ctx, s.meta, supers, cfg.AllowEveryoneIfNoACL, s.log); err != nil {
			return nil, err
		}
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.registry = registry
	if s.tier, err = s.openTier(ctx); err != nil {
		return nil, err
	}

	incarnation, err := dataDirID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	info := meta.BrokerInfo{ID: cfg.BrokerID, Host: host, Port: port, Rack: cfg.Rack, Incarnation: incarnation,
		Listeners: metaListeners(s.specs)}
	clusterID, err := s.meta.ClusterID(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster id: %w", err)
	}
	secret, err := s.meta.ClusterSecret(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	marker := storeMarker{ClusterID: clusterID, BrokerID: cfg.BrokerID, Incarnation: incarnation}
	if err := s.verifyStoreShared(ctx, marker, func() error {
		reg, err := s.meta.RegisterBroker(ctx, info, cfg.BrokerTTL)
		if err != nil {
			return fmt.Errorf("register broker %d: %w", cfg.BrokerID, err)
		}
		s.reg.Store(reg)
		return nil
	}); err != nil {
		return nil, err
	}
	s.broker, err = broker.Open(ctx, broker.Config{
		BrokerID:               cfg.BrokerID,
		LogDir:                 filepath.Join(cfg.DataDir, "logs"),
		LogLevel:               cfg.LogLevel,
		AutoCreateTopics:       cfg.AutoCreateTopics,
		DefaultPartitions:      cfg.DefaultPartitions,
		RetentionCheckInterval: cfg.RetentionCheckInterval,
		ReplicaLagMax:          cfg.ReplicaLagMax,
		MaxOpenFiles:           cfg.LogMaxOpenFiles,
		ControllerTTL:          cfg.BrokerTTL,
		Logger:                 s.log,
		Cold:                   s.tier,
		ClusterSecret:          secret,
		PeerTLS:                peerTLSCfg,
		SyncFile:               cfg.SyncFile,

		CleanerBackoff:           cfg.LogCleanerBackoff,
		CleanerDedupeBufferBytes: cfg.LogCleanerDedupeBufferBytes,
		CleanerIOBytesPerSecond:  cfg.LogCleanerIOBytesPerSecond,
	}, s.meta, registry)
	if err != nil {
		return nil, err
	}
	s.startTier()
	gcfg := cfg.Groups
	gcfg.BrokerID, gcfg.Logger, gcfg.Brokers, gcfg.Registerer = cfg.BrokerID, s.log, s.liveBrokerIDs, registry
	s.groups = group.New(gcfg, s.meta)
	tcfg := cfg.Transactions
	tcfg.BrokerID, tcfg.Logger, tcfg.Brokers = cfg.BrokerID, s.log, s.liveBrokerIDs
	s.txns = txn.New(tcfg, s.meta, s.broker, txnMarkers{s.broker})
	mechs, err := s.saslMechanisms(secret, users)
	if err != nil {
		return nil, err
	}
	backend := kafkaBackend(s.broker, s.groups, s.txns)
	backend.Scram = scramStore{s.meta}
	quotas := quota.New(quota.Config{WindowSamples: cfg.QuotaWindowSamples, Window: cfg.QuotaWindow, Registerer: registry})
	backend.Quotas, backend.QuotaAdmin = quotas, s.meta
	if acls != nil {
		backend.ACLs = acls
	}
	s.acls, s.passwords = acls, plainCredentials{secret: secret, users: users, scram: scramStore{s.meta}}
	s.kafka = ingest.NewServer(ingest.Config{
		AdvertisedHost:     host,
		AdvertisedPort:     port,
		Listeners:          ingestEndpoints(info.Listeners),
		ReauthMax:          cfg.ReauthMax,
		MaxRequestBytes:    cfg.SocketRequestMaxBytes,
		MaxConnections:     cfg.MaxConnections,
		ConnectionsMaxIdle: cfg.ConnectionsMaxIdle,
		FetchMaxBytes:      cfg.FetchMaxBytes,
		RequestTimeout:     cfg.RequestTimeout,
		SASLMechanisms:     mechs,
		Logger:             s.log,
		Registerer:         registry,
	}, backend)

	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for i, l := range s.specs {
		ln := s.kafkaLns[i]
		if l.tls() {
			ln = tls.NewListener(ln, s.tlsSrv.Config(l.Protocol == protoSSL))
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.kafka.ServeListener(ln, ingest.ListenerOptions{Name: l.Name, RequireSASL: l.sasl()}); err != nil {
				s.log.Error("kafka listener stopped", "listener", l.Name, "err", err)
			}
		}()
	}
	if acls != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			acls.watch(bg)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.meta.WatchClientQuotas(bg, quotas.Set)
	}()
	s.wg.Add(1)
	go s.keepRegistered(bg, info)
	if err := s.startFlight(secret, peerTLSCfg); err != nil {
		return nil, err
	}
	if err := s.startCatalog(); err != nil {
		return nil, err
	}
	if err := s.startSchemaRegistry(); err != nil {
		return nil, err
	}

	if cfg.MetricsListen != "" {
		if s.httpLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
		s.http = &http.Server{Handler: s.httpHandler(registry), ReadHeaderTimeout: 10 * time.Second}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			var err error
			if cfg.HTTPTLSCertFile != "" {
				err = s.http.ServeTLS(s.httpLn, cfg.HTTPTLSCertFile, cfg.HTTPTLSKeyFile)
			} else {
				err = s.http.Serve(s.httpLn)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("metrics listener stopped", "err", err)
			}
		}()
	}
	var served []string
	for i, l := range s.specs {
		served = append(served, l.Name+"://"+s.kafkaLns[i].Addr().String())
	}
	s.log.Info("strata broker serving", "broker_id", cfg.BrokerID, "kafka", strings.Join(served, ","),
		"advertised", net.JoinHostPort(host, strconv.Itoa(int(port))), "inter_broker_listener", ib.Name,
		"authorizer", cfg.Authorizer, "etcd", endpoints, "data_dir", cfg.DataDir)
	return s, nil
}

// liveBrokerIDs is the broker list the group coordinator places groups on.
func (s *Server) liveBrokerIDs() []int32 {
	var ids []int32
	for _, b := range s.broker.Brokers() {
		ids = append(ids, b.ID)
	}
	return ids
}

// KafkaAddr is the address the first Kafka listener is bound to.
func (s *Server) KafkaAddr() string { return s.kafkaLns[0].Addr().String() }

// ListenerAddr is the bound address of the listener named name, "" if
// there is none.
func (s *Server) ListenerAddr(name string) string {
	for i, l := range s.specs {
		if l.Name == name {
			return s.kafkaLns[i].Addr().String()
		}
	}
	return ""
}

// ReloadTLS reads the TLS certificate, key and client CAs again (SIGHUP);
// on error the previous ones stay.
func (s *Server) ReloadTLS() error {
	if s.tlsSrv == nil {
		return nil
	}
	return s.tlsSrv.Reload()
}

// MetricsAddr is the address of the HTTP endpoint, empty if none.
func (s *Server) MetricsAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Broker exposes the broker for tests and maintenance commands.
func (s *Server) Broker() *broker.Broker { return s.broker }

// Close shuts down in the reverse order of Start: no new requests, then
// logs closed cleanly, then the registration, etcd, and the lock.
func (s *Server) Close() error {
	var errs []error
	if s.cancel != nil {
		s.cancel()
	}
	if s.oauthCancel != nil {
		s.oauthCancel()
	}
	s.closeFlight()
	s.closeCatalog()
	s.closeSchemaRegistry()
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, s.http.Shutdown(ctx))
		cancel()
	}
	if s.kafka != nil {
		errs = append(errs, s.kafka.Close())
	} else {
		for _, ln := range s.kafkaLns {
			ln.Close()
		}
	}
	s.wg.Wait()
	if s.tier != nil {
		errs = append(errs, s.tier.Close())
	}
	if s.txns != nil {
		errs = append(errs, s.txns.Close())
	}
	if s.groups != nil {
		errs = append(errs, s.groups.Close())
	}
	if s.broker != nil {
		errs = append(errs, s.broker.Close())
	}
	if reg := s.reg.Load(); reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = reg.Close(ctx) // the lease expires on its own if etcd is gone
		cancel()
	}
	if s.meta != nil {
		errs = append(errs, s.meta.Close())
	}
	if s.embedded != nil {
		errs = append(errs, s.embedded.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Unlock())
	}
	return errors.Join(errs...)
}

// keepRegistered renews the broker registration whenever its lease is
// lost (etcd was unreachable for longer than the TTL).
func (s *Server) keepRegistered(ctx context.Context, info meta.BrokerInfo) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.broker.LogDirOffline():
			s.giveUpRegistration(info)
			return
		case <-s.reg.Load().Lost():
		}
		s.log.Error("broker registration lost; fencing partitions and re-registering", "broker_id", info.ID)
		s.broker.SetFenced(true)
		for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
			if s.broker.LogDirError() != nil {
				return // offline for good: never registered again
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			reg, err := s.meta.RegisterBroker(rctx, info, s.cfg.BrokerTTL)
			cancel()
			if err == nil {
				s.reg.Store(reg)
				s.broker.SetFenced(false)
				s.log.Info("broker registered again", "broker_id", info.ID)
				break
			}
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("re-registration failed", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}
}

// giveUpRegistration revokes the broker registration for good once the
// log dir is offline (broker/logdir.go): the controller then sees this
// broker gone and elects new leaders from the in-sync replicas.
func (s *Server) giveUpRegistration(info meta.BrokerInfo) {
	s.broker.SetFenced(true)
	s.log.Error("log dir offline: giving up the broker registration so that leadership moves to in-sync replicas", "broker_id", info.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.reg.Load().Close(ctx); err != nil {
		// The lease then expires within the TTL, with the same effect.
		s.log.Warn("cannot revoke the broker registration; it expires with its lease", "err", err)
	}
}

func (s *Server) httpHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle(tiering.StatusPath, s.tier.StatusHandler())
	mux.Handle(broker.OfflinePartitionsPath, s.broker.OfflineHandler())
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	}
	if s.cfg.HTTPToken == "" {
		return mux
	}
	// A bearer token guards everything but /healthz, which stays cheap
	// and open for liveness probes.
	want := []byte("Bearer " + s.cfg.HTTPToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="strata"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// ready reports whether this broker can serve: every partition it hosted
// at start-up was tried (each is open, or offline and listed at
// /v1/partitions/offline; the Kafka listener serves each partition as soon
// as it is open, before this), etcd answers and the registration is held.
func (s *Server) ready(ctx context.Context) error {
	if err := s.broker.LogDirError(); err != nil {
		return err
	}
	select {
	case <-s.broker.Loaded():
	default:
		return fmt.Errorf("opening partitions: %d still to open", s.broker.Loading())
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.meta.ClusterID(ctx); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	select {
	case <-s.reg.Load().Lost():
		return errors.New("broker registration lost")
	default:
	}
	if err := s.tier.StoreError(); err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	return nil
}

// advertised derives the address clients should use.
func advertised(advertise, bound string) (string, int32, error) {
	addr := advertise
	if addr == "" {
		addr = bound
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("advertised address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		if advertise != "" || err != nil {
			return "", 0, fmt.Errorf("advertised address %q: bad port", addr)
		}
	}
	if advertise == "" {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "localhost"
		}
	}
	return host, int32(port), nil
}

// memberConfig is the embedded etcd configuration of broker id in a
// cluster whose members are the brokers named in initialCluster.
func memberConfig(dir string, id int32, initialCluster, clientURL string) (embedetcd.Config, error) {
	name := strconv.Itoa(int(id))
	var peer string
	for _, m := range strings.Split(initialCluster, ",") {
		n, u, ok := strings.Cut(strings.TrimSpace(m), "=")
		if !ok {
			return embedetcd.Config{}, fmt.Errorf("--etcd-initial-cluster: %q is not id=peer-url", m)
		}
		if n == name {
			peer = u
		}
	}
	if peer == "" {
		return embedetcd.Config{}, fmt.Errorf("--etcd-initial-cluster names no member %s (this broker's id)", name)
	}
	if clientURL == "" {
		pu, err := url.Parse(peer)
		if err != nil {
			return embedetcd.Config{}, fmt.Errorf("--etcd-initial-cluster: peer URL %q: %w", peer, err)
		}
		port, err := strconv.Atoi(pu.Port())
		if err != nil {
			return embedetcd.Config{}, fmt.Errorf("--etcd-initial-cluster: peer URL %q has no port", peer)
		}
		pu.Host = net.JoinHostPort(pu.Hostname(), strconv.Itoa(port-1))
		clientURL = pu.String()
	}
	return embedetcd.Config{Dir: dir, Name: name, PeerURL: peer, ClientURL: clientURL, InitialCluster: initialCluster}, nil
}

// dataDirID returns the random id of the data directory, created on first
// use. It tells a restarted broker's registration from another broker
// that claims the same id.
func dataDirID(dir string) (string, error) {
	path := filepath.Join(dir, "strata.id")
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return string(b), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	if err := fileutil.WriteFile(path, []byte(id), 0o644); err != nil {
		return "", err
	}
	return id, nil
}
