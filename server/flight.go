package server

import (
	"crypto/tls"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/query"
)

// flightEndpoint is the Arrow Flight endpoint (--flight-listen): ranges
// are read like `strata export` reads them, the cold part straight from
// this broker's object store (files named by the etcd manifest), the rest
// over the Kafka protocol from the cluster, starting at this broker. The
// endpoint serves TLS when --tls-cert-file is set and authenticates and
// authorizes its callers as the Kafka listeners do (endpointAuth); its
// own Kafka client dials the inter-broker listener as this broker, so
// what a caller may read is decided at the endpoint, on the caller's
// principal.
type flightEndpoint struct {
	cl  *kgo.Client
	srv *query.FlightServer
}

// selfClientOpts are the options of a Kafka client of this broker's own
// (Flight's reads): the inter-broker listener, with this broker's TLS and
// SASL identity when the listener asks for them.
func (s *Server) selfClientOpts(secret []byte, peerTLS *tls.Config) ([]kgo.Opt, error) {
	ib, err := interBroker(s.cfg, s.specs)
	if err != nil {
		return nil, err
	}
	addr := s.ListenerAddr(ib.Name)
	id := s.cfg.BrokerID
	// PLAIN with the inter-broker credential is offered on every
	// listener, so the client authenticates whatever the protocol.
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID(fmt.Sprintf("strata-flight-%d", id)),
		kgo.SASL(plain.Auth{User: broker.InterBrokerUser(id), Pass: broker.InterBrokerPassword(secret, id)}.AsMechanism())}
	if ib.tls() && peerTLS != nil {
		opts = append(opts, kgo.DialTLSConfig(peerTLS.Clone()))
	}
	return opts, nil
}

func (s *Server) startFlight(secret []byte, peerTLS *tls.Config) error {
	if s.cfg.FlightListen == "" {
		return nil
	}
	opts, err := s.selfClientOpts(secret, peerTLS)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("flight: kafka client: %w", err)
	}
	qc := query.Config{Client: cl, Bucket: s.tier.Bucket(), Cold: query.ManifestSource{Meta: s.meta}}
	if s.tables != nil {
		qc.Snapshots = s.tables.Snapshot // the etcd pointer, never behind the version hint
	}
	q := query.NewPlanner(qc)
	o := query.FlightOptions{TLS: s.endpointTLS("h2")}
	if a := s.endpointAuth("flight"); a != nil {
		o.Auth = a
	}
	srv, err := query.ServeFlight(s.cfg.FlightListen, q, o)
	if err != nil {
		cl.Close()
		return err
	}
	s.flight = &flightEndpoint{cl: cl, srv: srv}
	s.log.Info("arrow flight serving", "addr", srv.Addr().String(), "tls", o.TLS != nil, "authenticated", o.Auth != nil)
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
