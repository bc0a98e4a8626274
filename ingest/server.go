package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the protocol server.
type Config struct {
	// AdvertisedHost and AdvertisedPort are how clients reach this broker;
	// FindCoordinator answers with them.
	AdvertisedHost string
	AdvertisedPort int32
	// Listeners are this broker's advertised listeners by name; a
	// connection to listener N is told the address of N
	// (ListenerOptions.Name). Empty: AdvertisedHost and AdvertisedPort.
	Listeners []Endpoint
	// ReauthMax is Kafka's connections.max.reauth.ms: an authenticated
	// SASL session lasts at most this long (less if its credential
	// expires first, an OAUTHBEARER token), the client is told so in
	// SaslAuthenticate (v1+, KIP-368) and must authenticate again on the
	// same connection before then; a request after expiry closes the
	// connection. 0: sessions do not expire.
	ReauthMax time.Duration
	// MaxRequestBytes bounds one request frame (Kafka's
	// socket.request.max.bytes, default 100 MiB); larger frames close the
	// connection.
	MaxRequestBytes int32
	// MaxConnections bounds the open client connections (Kafka's
	// max.connections); past it new connections are closed at once. 0:
	// unlimited.
	MaxConnections int
	// ConnectionsMaxIdle closes a connection that sends no request for
	// this long (Kafka's connections.max.idle.ms, default 10 minutes); it
	// also bounds how long one request may take to arrive and one
	// response to be taken.
	ConnectionsMaxIdle time.Duration
	// FetchMaxBytes bounds the records of one fetch response, whatever
	// the client asks (Kafka's fetch.max.bytes, default 55 MiB).
	FetchMaxBytes int
	// RequestTimeout bounds how long a request waits on the layer below
	// for metadata work (topic creation and deletion, producer ids, group
	// offsets, reassignments): a hung etcd slows such requests, never
	// hangs them. A request's own shorter timeout wins. Default 30 s.
	RequestTimeout time.Duration
	// SASLMechanisms are offered to clients in this order (SaslHandshake
	// lists them); none: every SaslHandshake is refused, and only
	// anonymous connections exist.
	SASLMechanisms []SASLMechanism
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
}

// Defaults of the request bounds, Kafka's.
const (
	DefaultMaxRequestBytes    = 100 << 20        // socket.request.max.bytes
	DefaultFetchMaxBytes      = 55 << 20         // fetch.max.bytes
	DefaultConnectionsMaxIdle = 10 * time.Minute // connections.max.idle.ms
	DefaultRequestTimeout     = 30 * time.Second // request.timeout.ms
)

// Server accepts Kafka connections and answers their requests.
type Server struct {
	cfg     Config
	b       Backend
	log     *slog.Logger
	metrics *serverMetrics

	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	lns   []net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewServer returns a server answering from b; call Serve with a
// listener.
func NewServer(cfg Config, b Backend) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.ConnectionsMaxIdle <= 0 {
		cfg.ConnectionsMaxIdle = DefaultConnectionsMaxIdle
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:     cfg,
		b:       b,
		log:     cfg.Logger,
		metrics: newServerMetrics(cfg.Registerer),
		ctx:     ctx,
		cancel:  cancel,
		conns:   map[net.Conn]struct{}{},
	}
}

// Serve accepts connections on ln until Close; SASL is optional on them.
func (s *Server) Serve(ln net.Listener) error { return s.ServeListener(ln, ListenerOptions{}) }

// ServeListener accepts connections on ln, admitted as opts say, until
// Close.
func (s *Server) ServeListener(ln net.Listener, opts ListenerOptions) error {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and similar: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		if limit := s.cfg.MaxConnections; limit > 0 && len(s.conns) >= limit {
			s.mu.Unlock()
			s.metrics.refused.Inc()
			s.log.Debug("connection refused: max connections open", "remote", c.RemoteAddr().String(), "max_connections", limit)
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c, opts)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection and waits for the
// handlers to return.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) serveConn(c net.Conn, opts ListenerOptions) {
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	s.metrics.connections.Inc()
	defer s.metrics.connections.Dec()
	cc := &clientConn{s: s, conn: c, log: s.log.With("remote", c.RemoteAddr().String()),
		requireSASL: opts.RequireSASL, principal: Anonymous, listener: opts.Name, host: remoteHost(c)}
	if err := cc.startTLS(); err != nil {
		cc.log.Info("closing connection: TLS handshake failed", "err", err)
		return
	}
	// serve only returns when the connection ends; EOF is the usual reason.
	if err := cc.serve(s.ctx); s.ctx.Err() == nil {
		cc.log.Debug("connection closed", "err", err)
	}
}

func (s *Server) String() string {
	return fmt.Sprintf("kafka server %s:%d", s.cfg.AdvertisedHost, s.cfg.AdvertisedPort)
}
