package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/stratalog/strata/iceberg"
	"github.com/stratalog/strata/iceberg/rest"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore/storeurl"
)

// CatalogConfig configures a REST catalog served apart from a broker
// (`strata catalog serve`): it reads the cluster's table pointers from
// etcd and the metadata files from the object store, and commits nothing.
type CatalogConfig struct {
	EtcdEndpoints     []string
	Cluster           string
	ObjectStore       string // the brokers' --object-store URL
	S3Endpoint        string
	S3Region          string
	S3CredentialsFile string
	Namespace         string // default: Cluster
	Listen            string
	Logger            *slog.Logger
}

// Catalog is a running stand-alone REST catalog.
type Catalog struct {
	meta *meta.Client
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// ServeCatalog starts a stand-alone REST catalog.
func ServeCatalog(ctx context.Context, cfg CatalogConfig) (*Catalog, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "default"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = cfg.Cluster
	}
	if len(cfg.EtcdEndpoints) == 0 || cfg.ObjectStore == "" {
		return nil, errors.New("catalog: --etcd-endpoints and --object-store are required (the brokers' own)")
	}
	store, err := storeurl.Open(storeurl.Options{URL: cfg.ObjectStore, S3Endpoint: cfg.S3Endpoint, S3Region: cfg.S3Region, CredentialsFile: cfg.S3CredentialsFile})
	if err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	m, err := meta.Dial(ctx, cfg.EtcdEndpoints, cfg.Cluster)
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", cfg.EtcdEndpoints, err)
	}
	tables, err := iceberg.New(iceberg.Config{Meta: m, Bucket: store.Bucket, Root: cfg.ObjectStore, Namespace: cfg.Namespace, Logger: cfg.Logger})
	if err != nil {
		m.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("catalog listener: %w", err)
	}
	c := &Catalog{meta: m, ln: ln, done: make(chan struct{})}
	c.srv = &http.Server{Handler: rest.New(rest.Config{Source: tables, Defaults: CatalogDefaults(cfg.S3Endpoint, cfg.S3Region), Logger: cfg.Logger}),
		ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(c.done)
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("catalog listener stopped", "err", err)
		}
	}()
	cfg.Logger.Info("iceberg rest catalog serving", "addr", ln.Addr().String(), "namespace", cfg.Namespace, "object_store", cfg.ObjectStore)
	return c, nil
}

// Addr is the listener's address.
func (c *Catalog) Addr() string { return c.ln.Addr().String() }

// Done is closed when the listener stops.
func (c *Catalog) Done() <-chan struct{} { return c.done }

// Close stops the catalog.
func (c *Catalog) Close() error {
	err := c.srv.Close()
	<-c.done
	return errors.Join(err, c.meta.Close())
}
