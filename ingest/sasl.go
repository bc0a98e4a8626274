package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// SASL, as Kafka speaks it (KIP-43, KIP-152): a client names a mechanism
// with SaslHandshake, then sends the mechanism's messages in
// SaslAuthenticate requests (handshake v1) or, for clients older than
// Kafka 1.0, as bare size-prefixed frames with no request header
// (handshake v0). A mechanism (one file each, sasl_<name>.go) only turns
// client messages into server replies and, at the end, a principal; the
// connection state machine below decides what may be sent when.

// SASLMechanism is one server-side SASL mechanism.
type SASLMechanism interface {
	// Name is the mechanism as SaslHandshake names it ("PLAIN").
	Name() string
	// Start begins one authentication exchange for one connection.
	Start() SASLExchange
}

// SASLExchange is one authentication in progress.
type SASLExchange interface {
	// Next takes the client's next message and returns the reply to send
	// and, once the exchange is complete, the authenticated principal
	// ("User:alice"); an empty principal means another client message is
	// expected. An error fails the authentication: the client is told
	// SASL_AUTHENTICATION_FAILED with the error's SASLError message (or a
	// generic one) and the connection closes.
	Next(ctx context.Context, msg []byte) (reply []byte, principal string, err error)
}

// SASLError is an authentication failure with the message the client may
// see; other errors reach the client as a generic failure, so that a
// credential store's internals never leak to it.
type SASLError struct{ Msg string }

func (e *SASLError) Error() string { return e.Msg }

// Anonymous is the principal of a connection that has not authenticated,
// as Kafka names it.
const Anonymous = auth.Anonymous

// ListenerOptions say how a listener admits its connections.
type ListenerOptions struct {
	// Name is the listener's name (PLAINTEXT, SASL_SSL, ...): Metadata
	// answers with the brokers' addresses on the listener of that name
	// (Config.Listeners, BrokerInfo.Listeners). Empty: the advertised
	// host and port.
	Name string
	// RequireSASL makes a connection authenticate before any request but
	// ApiVersions, as on Kafka's SASL_PLAINTEXT listeners: anything else
	// first closes it. Without it SASL is optional: a client may
	// authenticate (brokers do, to fetch as replicas) or stay anonymous.
	RequireSASL bool
}

// saslState is where a connection is in its authentication.
type saslState uint8

const (
	saslNone      saslState = iota // no SaslHandshake yet
	saslHandshake                  // SaslHandshake v1 done: SaslAuthenticate requests expected
	saslRaw                        // SaslHandshake v0 done: bare SASL frames expected
	saslDone                       // authenticated
)

// saslMaxReceive bounds a frame of a connection that has not authenticated
// on a listener that requires it, and a bare SASL frame (Kafka's
// sasl.server.max.receive.size): an anonymous client cannot make the broker
// allocate a full request's worth.
const saslMaxReceive = 512 << 10

// errIllegalSASLState closes a connection that sent a request out of turn
// during authentication.
var errIllegalSASLState = errors.New("request out of turn during SASL authentication")

// saslKeys are the request keys a connection that must authenticate may
// send before it has.
func saslKey(key int16) bool { return key == apiVersionsKey || key == saslHandshakeKey }

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// SASLExpiry is implemented by an exchange whose credential expires (an
// OAUTHBEARER token): the session ends then at the latest.
type SASLExpiry interface {
	Expiry() time.Time
}

// errSessionExpired closes a connection whose session expired without a
// re-authentication (KIP-368).
var errSessionExpired = errors.New("SASL session expired; the client did not re-authenticate")

// admit decides whether a request may be handled in the connection's
// authentication state; an error closes the connection, as Kafka's
// SaslServerAuthenticator does (IllegalSaslStateException). Once a
// session has expired only a re-authentication is admitted.
func (cc *clientConn) admit(key int16) error {
	switch {
	case !cc.sessionEnd.IsZero() && key != saslHandshakeKey && key != saslAuthenticateKey && time.Now().After(cc.sessionEnd):
		return errSessionExpired
	case cc.sasl == saslHandshake && key != saslAuthenticateKey:
		return fmt.Errorf("%w: %s after SaslHandshake", errIllegalSASLState, kmsg.NameForKey(key))
	case cc.requireSASL && cc.sasl == saslNone && !saslKey(key):
		return fmt.Errorf("%w: %s before authenticating", errIllegalSASLState, kmsg.NameForKey(key))
	}
	return nil
}

// maxFrame is the largest frame the connection accepts next.
func (cc *clientConn) maxFrame() int32 {
	if cc.sasl == saslRaw || (cc.requireSASL && cc.sasl != saslDone) {
		return min(cc.s.cfg.MaxRequestBytes, saslMaxReceive)
	}
	return cc.s.cfg.MaxRequestBytes
}

// mechanism finds an offered mechanism by name.
func (cc *clientConn) mechanism(name string) SASLMechanism {
	for _, m := range cc.s.cfg.SASLMechanisms {
		if m.Name() == name {
			return m
		}
	}
	return nil
}

// saslStep feeds one client message to the exchange under way. On success
// it returns the reply and, when the exchange completed, records the
// principal on the connection. A failure is logged (Kafka logs every
// failed authentication) and its client-facing message returned.
func (cc *clientConn) saslStep(ctx context.Context, msg []byte) (reply []byte, failure string, ok bool) {
	reply, principal, err := cc.exchange.Next(ctx, msg)
	if err != nil {
		cc.s.metrics.authFailures.Inc()
		cc.sasl, cc.exchange = saslNone, nil
		var se *SASLError
		failure = "Authentication failed"
		if errors.As(err, &se) {
			failure = "Authentication failed: " + se.Msg
		}
		cc.log.Info("failed SASL authentication", "mechanism", cc.mechName, "err", err)
		return nil, failure, false
	}
	if principal != "" {
		if cc.reauth && principal != cc.principal {
			cc.s.metrics.authFailures.Inc()
			cc.sasl, cc.exchange = saslNone, nil
			cc.log.Info("failed SASL re-authentication: another principal", "mechanism", cc.mechName, "new_principal", principal)
			return nil, "Authentication failed: re-authentication as a different principal", false
		}
		cc.sessionEnd = time.Time{}
		if d := cc.s.cfg.ReauthMax; d > 0 {
			cc.sessionEnd = time.Now().Add(d)
		}
		if ex, ok := cc.exchange.(SASLExpiry); ok {
			if end := ex.Expiry(); !end.IsZero() && (cc.sessionEnd.IsZero() || end.Before(cc.sessionEnd)) {
				cc.sessionEnd = end
			}
		}
		if !cc.reauth {
			cc.log = cc.log.With("principal", principal)
		}
		cc.sasl, cc.exchange, cc.principal, cc.reauth = saslDone, nil, principal, false
		cc.log.Debug("SASL authentication succeeded", "mechanism", cc.mechName, "session_end", cc.sessionEnd)
	}
	return reply, "", true
}

// rawSASL answers one bare SASL frame (after SaslHandshake v0): the reply
// goes back size-prefixed, with no response header. Such a client has no
// way to read an error, so a failure closes the connection, as in Kafka.
func (cc *clientConn) rawSASL(ctx context.Context, frame []byte) ([]byte, error) {
	reply, failure, ok := cc.saslStep(ctx, frame)
	if !ok {
		return nil, fmt.Errorf("SASL (handshake v0): %s", failure)
	}
	out := make([]byte, 4, 4+len(reply))
	out[0], out[1], out[2], out[3] = byte(len(reply)>>24), byte(len(reply)>>16), byte(len(reply)>>8), byte(len(reply))
	return append(out, reply...), nil
}
