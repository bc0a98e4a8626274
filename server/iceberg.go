package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/stratalog/strata/iceberg"
	"github.com/stratalog/strata/iceberg/rest"
	"github.com/stratalog/strata/objstore"
)

// openTables builds the cluster's Iceberg tables on the cold tier's store
// (root: the --object-store URL the tier's keys are relative to).
func (s *Server) openTables(bucket objstore.Bucket, root string) (*iceberg.Tables, error) {
	ns := s.cfg.IcebergNamespace
	if ns == "" {
		ns = s.cfg.Cluster
	}
	t, err := iceberg.New(iceberg.Config{
		Meta: s.meta, Bucket: bucket, Root: root, Namespace: ns,
		Logger: s.log, Registerer: s.registry, Hooks: s.cfg.IcebergHooks,
	})
	if err != nil {
		return nil, fmt.Errorf("iceberg tables: %w", err)
	}
	return t, nil
}

// CatalogDefaults are the catalog properties the REST catalog hands its
// clients so that they reach the object store as the brokers do (no
// credentials: readers bring their own).
func CatalogDefaults(s3Endpoint, s3Region string) map[string]string {
	d := map[string]string{}
	if s3Endpoint != "" {
		d["s3.endpoint"] = s3Endpoint
		d["s3.path-style-access"] = "true"
		d["s3.force-virtual-addressing"] = "false"
	}
	if s3Region != "" {
		d["s3.region"] = s3Region
		d["client.region"] = s3Region
	}
	return d
}

func (s *Server) startCatalog() error {
	if s.cfg.IcebergRESTListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.IcebergRESTListen)
	if err != nil {
		return fmt.Errorf("iceberg rest listener: %w", err)
	}
	rc := rest.Config{Source: s.tables, Defaults: CatalogDefaults(s.cfg.S3Endpoint, s.cfg.S3Region), Logger: s.log}
	if a := s.endpointAuth("iceberg-rest"); a != nil {
		rc.Auth = a
	}
	h := rest.New(rc)
	tlsCfg := s.endpointTLS("http/1.1")
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.catLn = ln
	s.catalog = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.catalog.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("iceberg rest listener stopped", "err", err)
		}
	}()
	s.log.Info("iceberg rest catalog serving", "addr", ln.Addr().String(), "namespace", s.tables.Namespace(),
		"tls", tlsCfg != nil, "authenticated", rc.Auth != nil)
	return nil
}

func (s *Server) closeCatalog() {
	if s.catalog != nil {
		s.catalog.Close()
		s.catalog = nil
	}
}

// CatalogAddr is the address of the Iceberg REST catalog, empty if none.
func (s *Server) CatalogAddr() string {
	if s.catLn == nil {
		return ""
	}
	return s.catLn.Addr().String()
}

// Tables exposes the Iceberg tables for tests and status commands.
func (s *Server) Tables() *iceberg.Tables { return s.tables }
