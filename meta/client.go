package meta

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"

	"github.com/stratalog/strata/meta/internal/zapslog"
)

// DefaultCluster is the cluster name used when none is given.
const DefaultCluster = "default"

// dialTimeout bounds Dial: connecting and the first read.
const dialTimeout = 5 * time.Second

// maxCASAttempts bounds the read-modify-write loops (UpdateTopic, AddPartitions).
const maxCASAttempts = 20

var (
	ErrTopicExists   = errors.New("topic already exists")
	ErrTopicNotFound = errors.New("topic not found")
	ErrConflict      = errors.New("concurrent metadata update") // CAS lost after retries
	ErrFenced        = errors.New("stale leader epoch")         // fenced write refused
	ErrBrokerIDInUse = errors.New("broker id already registered")
	// ErrInvalid is wrapped by every argument check (bad topic name, partition
	// list that does not match the count, ...).
	ErrInvalid = errors.New("invalid metadata request")
)

// Client reads and writes Strata's metadata in etcd, under one cluster's root.
// It is safe for concurrent use.
type Client struct {
	cli   *clientv3.Client
	keys  Keys
	owned bool // Dial created cli, so Close closes it
	log   *slog.Logger

	stepHook func(step int) error // tests: stop a write in steps (pending.go)
}

// New wraps an existing etcd client. cluster "" means DefaultCluster. Close
// does not close cli.
func New(cli *clientv3.Client, cluster string) *Client {
	if cluster == "" {
		cluster = DefaultCluster
	}
	return &Client{cli: cli, keys: newKeys(cluster), log: slog.Default()}
}

// Dial connects to etcd and checks, within 5 seconds, that it answers a
// linearizable read (so a dead endpoint or a cluster without quorum fails here,
// with the endpoints in the error). cluster "" means DefaultCluster.
func Dial(ctx context.Context, endpoints []string, cluster string) (*Client, error) {
	return DialSecure(ctx, endpoints, cluster, EtcdSecurity{})
}

// EtcdSecurity is how the client authenticates to etcd: TLS (a CA bundle
// to verify etcd with, a client certificate and key for etcd's
// --client-cert-auth) and etcd's own user and password. The zero value is
// plaintext and anonymous.
type EtcdSecurity struct {
	CAFile, CertFile, KeyFile string
	Username, Password        string
}

func (s EtcdSecurity) tlsConfig() (*tls.Config, error) {
	if s.CAFile == "" && s.CertFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("meta: etcd CA file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("meta: etcd CA file %s: no PEM certificate", s.CAFile)
		}
	}
	if s.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("meta: etcd client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// DialSecure is Dial with TLS and credentials (endpoints are then
// https://).
func DialSecure(ctx context.Context, endpoints []string, cluster string, sec EtcdSecurity) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("meta: dial etcd: no endpoints: %w", ErrInvalid)
	}
	tlsCfg, err := sec.tlsConfig()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		TLS:         tlsCfg,
		Username:    sec.Username,
		Password:    sec.Password,
		// The client logs retries at warn level; keep errors only, through slog.
		Logger: zapslog.New(slog.Default(), zapcore.ErrorLevel, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("meta: dial etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	c := New(cli, cluster)
	c.owned = true
	cctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, c.keys.ClusterID(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("meta: etcd %s not reachable within %s: %w", strings.Join(endpoints, ","), dialTimeout, err)
		}
		return nil, fmt.Errorf("meta: etcd %s not reachable: %w", strings.Join(endpoints, ","), err)
	}
	return c, nil
}

// Keys returns the key builders of this client's cluster.
func (c *Client) Keys() Keys { return c.keys }

// Close closes the etcd client if Dial created it; otherwise it does nothing.
func (c *Client) Close() error {
	if !c.owned {
		return nil
	}
	return c.cli.Close()
}

// etcdErr wraps an etcd error with what was being done, and explains the
// limits every request stays within (pending.go) when etcd runs with lower
// ones.
func etcdErr(what string, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("meta: %s: %w (Strata needs etcd's default --max-txn-ops of %d or more)", what, err, maxTxnOps)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("meta: %s: %w (Strata needs etcd's default --max-request-bytes of 1.5 MiB or more)", what, err)
	}
	return fmt.Errorf("meta: %s: %w", what, err)
}

// casBackoff sleeps before CAS attempt n (n >= 1): jittered, growing from ~2ms
// to 100ms. It returns ctx's error if ctx ends first.
func casBackoff(ctx context.Context, n int) error {
	d := min(2*time.Millisecond<<min(n, 10), 100*time.Millisecond)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
