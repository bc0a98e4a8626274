package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake names the mechanism a connection authenticates with and
// lists the offered ones. v1 is followed by SaslAuthenticate requests, v0
// by bare SASL frames (sasl.go). An unknown mechanism, or a second
// handshake (re-authentication, KIP-368, is not offered: SaslAuthenticate
// answers a session lifetime of 0), is answered and then closes the
// connection, as in Kafka.
func (cc *clientConn) handleSaslHandshake(_ context.Context, req *kmsg.SASLHandshakeRequest) (*kmsg.SASLHandshakeResponse, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = []string{}
	for _, m := range cc.s.cfg.SASLMechanisms {
		resp.SupportedMechanisms = append(resp.SupportedMechanisms, m.Name())
	}
	if cc.sasl != saslNone {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		cc.closeAfter = fmt.Errorf("%w: SaslHandshake once authenticated", errIllegalSASLState)
		return resp, nil
	}
	m := cc.mechanism(req.Mechanism)
	if m == nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		cc.closeAfter = fmt.Errorf("SASL mechanism %q not offered", req.Mechanism)
		return resp, nil
	}
	cc.exchange, cc.mechName, cc.sasl = m.Start(), m.Name(), saslHandshake
	if req.Version == 0 {
		cc.sasl = saslRaw
	}
	return resp, nil
}
