package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate carries one message of the exchange that SaslHandshake
// v1 began. A failed authentication is answered with
// SASL_AUTHENTICATION_FAILED and its message, then the connection closes;
// SaslAuthenticate outside an exchange is ILLEGAL_SASL_STATE. The last
// message's answer (v1) carries the session lifetime (KIP-368, sasl.go):
// 0 when sessions do not expire.
func (cc *clientConn) handleSaslAuthenticate(ctx context.Context, req *kmsg.SASLAuthenticateRequest) (*kmsg.SASLAuthenticateResponse, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if cc.sasl != saslHandshake {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate without a SaslHandshake v1 under way")
		cc.closeAfter = fmt.Errorf("%w: SaslAuthenticate outside an exchange", errIllegalSASLState)
		return resp, nil
	}
	reply, failure, ok := cc.saslStep(ctx, req.SASLAuthBytes)
	if !ok {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = &failure
		cc.closeAfter = fmt.Errorf("SASL: %s", failure)
		return resp, nil
	}
	resp.SASLAuthBytes = reply
	if cc.sasl == saslDone && !cc.sessionEnd.IsZero() {
		resp.SessionLifetimeMillis = max(time.Until(cc.sessionEnd).Milliseconds(), 1)
	}
	return resp, nil
}
