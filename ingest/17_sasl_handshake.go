package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake names the mechanism a connection authenticates with and
// lists the offered ones. v1 is followed by SaslAuthenticate requests, v0
// by bare SASL frames (sasl.go). An unknown mechanism is answered and
// then closes the connection, as in Kafka. A second handshake on an
// authenticated connection is a re-authentication (KIP-368): v1, the same
// mechanism, and it must end as the same principal.
func (cc *clientConn) handleSaslHandshake(_ context.Context, req *kmsg.SASLHandshakeRequest) (*kmsg.SASLHandshakeResponse, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = []string{}
	for _, m := range cc.s.cfg.SASLMechanisms {
		resp.SupportedMechanisms = append(resp.SupportedMechanisms, m.Name())
	}
	reauth := cc.sasl == saslDone && req.Version >= 1 && cc.mechName != ""
	if cc.sasl != saslNone && !reauth {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		cc.closeAfter = fmt.Errorf("%w: SaslHandshake once authenticated", errIllegalSASLState)
		return resp, nil
	}
	if reauth && req.Mechanism != cc.mechName {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		cc.closeAfter = fmt.Errorf("%w: re-authentication with %s, not %s", errIllegalSASLState, req.Mechanism, cc.mechName)
		return resp, nil
	}
	cc.reauth = reauth
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
