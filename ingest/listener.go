package ingest

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/stratalog/strata/auth"
)

// Listeners, as Kafka configures them: a broker serves several (PLAINTEXT,
// SSL, SASL_PLAINTEXT, SASL_SSL, each under a name), each advertised at its
// own address. Metadata, FindCoordinator and DescribeCluster answer a
// client with the addresses of the listener it connected to, so that a
// client that came in over TLS is sent to TLS ports. TLS is the
// listener's (server wraps it with crypto/tls); here a TLS connection's
// handshake is completed with a deadline and its client certificate, if
// any, gives the connection its principal (auth.CertPrincipal).

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Listener string // its name: PLAINTEXT, SASL_SSL, or a name of the protocol map
	Host     string
	Port     int32
}

// endpoint is where a client of this connection's listener reaches b;
// false when b has no such listener (Kafka leaves it out of Metadata).
func (cc *clientConn) endpoint(b BrokerInfo) (string, int32, bool) {
	if cc.listener == "" || len(b.Listeners) == 0 {
		return b.Host, b.Port, true
	}
	for _, e := range b.Listeners {
		if e.Listener == cc.listener {
			return e.Host, e.Port, true
		}
	}
	return "", 0, false
}

// selfEndpoint is this broker's address on the connection's listener.
func (cc *clientConn) selfEndpoint() (string, int32) {
	for _, e := range cc.s.cfg.Listeners {
		if e.Listener == cc.listener {
			return e.Host, e.Port
		}
	}
	return cc.s.cfg.AdvertisedHost, cc.s.cfg.AdvertisedPort
}

// tlsHandshakeTimeout bounds a TLS handshake: a client that connects to
// a TLS port and sends nothing (or garbage) costs a goroutine this long.
const tlsHandshakeTimeout = 10 * time.Second

// startTLS completes the handshake of a TLS connection and takes the
// principal of its client certificate. Not a TLS connection: nothing to
// do.
func (cc *clientConn) startTLS() error {
	tc, ok := cc.conn.(*tls.Conn)
	if !ok {
		return nil
	}
	if err := tc.SetDeadline(time.Now().Add(tlsHandshakeTimeout)); err != nil {
		return err
	}
	if err := tc.Handshake(); err != nil {
		cc.s.metrics.tlsFailures.Inc()
		return fmt.Errorf("TLS handshake: %w", err)
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		return err
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		cc.principal = auth.CertPrincipal(certs[0])
		cc.log = cc.log.With("principal", cc.principal)
	}
	return nil
}

// remoteHost is the client's IP, as ACL hosts name it.
func remoteHost(c net.Conn) string {
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		return host
	}
	return c.RemoteAddr().String()
}
