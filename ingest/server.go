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

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/meta"
)

// Cluster is what the protocol layer needs from the broker.
type Cluster interface {
	ID() int32
	ClusterID() string
	ControllerID() int32
	Brokers() []meta.BrokerInfo
	Topics() []broker.TopicInfo
	Topic(name string) (broker.TopicInfo, bool)
	TopicByID(id [16]byte) (broker.TopicInfo, bool)
	EnsureTopic(ctx context.Context, name string) (broker.TopicInfo, error)
	CreateTopic(ctx context.Context, req broker.CreateTopicRequest) (broker.TopicInfo, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error
	DescribeTopicConfigs(name string) ([]broker.ConfigEntry, error)
	BrokerConfigs() []broker.ConfigEntry
	AlterTopicConfigs(ctx context.Context, name string, changes []broker.ConfigChange, replace, validateOnly bool) error
	Partition(topic string, partition int32) (*broker.Partition, error)
	NewProducerID(ctx context.Context) (int64, error)
	Reassign(ctx context.Context, topic string, partition int32, replicas []int32) error
	Reassignments(ctx context.Context, topics []string) ([]meta.PartitionState, error)
	ElectLeader(ctx context.Context, topic string, partition int32, unclean bool) error
}

// Config configures the protocol server.
type Config struct {
	// AdvertisedHost and AdvertisedPort are how clients reach this broker;
	// FindCoordinator answers with them.
	AdvertisedHost string
	AdvertisedPort int32
	// MaxRequestBytes bounds one request frame (Kafka's
	// socket.request.max.bytes, default 100 MiB); larger frames close the
	// connection.
	MaxRequestBytes int32
	// Groups coordinates consumer groups; nil answers the group APIs with
	// COORDINATOR_NOT_AVAILABLE.
	Groups     Groups
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server accepts Kafka connections and answers their requests.
type Server struct {
	cfg     Config
	cluster Cluster
	log     *slog.Logger
	metrics *serverMetrics

	ctx    context.Context
	cancel context.CancelFunc

	coldReads chan struct{} // bounds concurrent cold-tier reads of fetches

	mu    sync.Mutex
	lns   []net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewServer returns a server for cluster; call Serve with a listener.
func NewServer(cfg Config, cluster Cluster) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:     cfg,
		cluster: cluster,
		log:     cfg.Logger,
		metrics: newServerMetrics(cfg.Registerer),
		ctx:     ctx,
		cancel:  cancel,
		// Object-store GETs of cold fetches, across all connections.
		coldReads: make(chan struct{}, 16),
		conns:     map[net.Conn]struct{}{},
	}
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
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
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
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

func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	s.metrics.connections.Inc()
	defer s.metrics.connections.Dec()
	cc := &clientConn{s: s, conn: c, log: s.log.With("remote", c.RemoteAddr().String())}
	// serve only returns when the connection ends; EOF is the usual reason.
	if err := cc.serve(s.ctx); s.ctx.Err() == nil {
		cc.log.Debug("connection closed", "err", err)
	}
}

func (s *Server) String() string {
	return fmt.Sprintf("kafka server %s:%d", s.cfg.AdvertisedHost, s.cfg.AdvertisedPort)
}
