package server

import (
	"crypto/tls"

	"github.com/stratalog/strata/auth"
)

// endpointAuth is the security of a non-Kafka endpoint (Flight, the
// Iceberg REST catalog): Basic passwords as PLAIN checks them (the users
// file, then SCRAM credentials in etcd; the brokers' own credential
// too), bearer tokens as OAUTHBEARER validates them when it is offered,
// mTLS principals, and the ACL authorizer's decisions. nil when nothing
// is to be checked (no --authorizer): the endpoint stays open, as it was.
func (s *Server) endpointAuth(endpoint string) *auth.EndpointAuth {
	if s.acls == nil {
		return nil
	}
	a := &auth.EndpointAuth{Endpoint: endpoint, Passwords: s.passwords.CheckPlain, Authorize: s.acls.Authorize,
		Log: s.log.With("component", endpoint)}
	if s.oauth != nil {
		a.Tokens = s.oauth
	}
	return a
}

// endpointTLS is the TLS configuration of the non-Kafka endpoints: the
// listeners' certificate (reloaded with it) when --tls-cert-file is set,
// a client certificate verified if given (--tls-client-ca-file), and
// the endpoint's ALPN protocols (gRPC clients insist on h2).
func (s *Server) endpointTLS(alpn ...string) *tls.Config {
	if s.tlsSrv == nil {
		return nil
	}
	cfg := s.tlsSrv.Config(false)
	cfg.NextProtos = alpn
	current := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := current(hello)
		if err != nil {
			return nil, err
		}
		c = c.Clone()
		c.NextProtos = alpn
		return c, nil
	}
	return cfg
}
