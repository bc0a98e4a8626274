package server

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/query"
)

// flightEndpoint is the Arrow Flight endpoint (--flight-listen): ranges
// are read like `strata export` reads them, the cold part straight from
// this broker's object store (files named by the etcd manifest), the rest
// over the Kafka protocol from the cluster, starting at this broker.
type flightEndpoint struct {
	cl  *kgo.Client
	srv *query.FlightServer
}

func (s *Server) startFlight() error {
	if s.cfg.FlightListen == "" {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr()))
	if err != nil {
		return fmt.Errorf("flight: kafka client: %w", err)
	}
	qc := query.Config{Client: cl, Bucket: s.tier.Bucket(), Cold: query.ManifestSource{Meta: s.meta}}
	if s.tables != nil {
		qc.Snapshots = s.tables.Snapshot // the etcd pointer, never behind the version hint
	}
	q := query.NewPlanner(qc)
	srv, err := query.ServeFlight(s.cfg.FlightListen, q)
	if err != nil {
		cl.Close()
		return err
	}
	s.flight = &flightEndpoint{cl: cl, srv: srv}
	s.log.Info("arrow flight serving", "addr", srv.Addr().String())
	return nil
}

func (s *Server) closeFlight() {
	if s.flight == nil {
		return
	}
	s.flight.srv.Close()
	s.flight.cl.Close()
	s.flight = nil
}

// FlightAddr is the address of the Arrow Flight endpoint, empty if none.
func (s *Server) FlightAddr() string {
	if s.flight == nil {
		return ""
	}
	return s.flight.srv.Addr().String()
}
