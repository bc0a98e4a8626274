package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/stratalog/strata/schemareg"
)

// startSchemaRegistry serves the schema registry (--schema-registry-listen)
// over this broker's etcd client: every broker of a cluster serves the
// same registry.
func (s *Server) startSchemaRegistry() error {
	if s.cfg.SchemaRegistryListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.SchemaRegistryListen)
	if err != nil {
		return fmt.Errorf("schema registry listener: %w", err)
	}
	s.schemaLn = ln
	s.schemas = &http.Server{Handler: schemareg.New(s.meta), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.schemas.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("schema registry stopped", "err", err)
		}
	}()
	s.log.Info("schema registry serving", "addr", ln.Addr().String())
	return nil
}

func (s *Server) closeSchemaRegistry() {
	if s.schemas == nil {
		if s.schemaLn != nil {
			s.schemaLn.Close()
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	s.schemas.Shutdown(ctx)
	cancel()
	s.schemas = nil
}

// SchemaRegistryAddr is the schema registry's address, empty if none.
func (s *Server) SchemaRegistryAddr() string {
	if s.schemaLn == nil {
		return ""
	}
	return s.schemaLn.Addr().String()
}
