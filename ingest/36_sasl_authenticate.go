package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate carries one message of the exchange that SaslHandshake
// v1 began. A failed authentication is answered with
// SASL_AUTHENTICATION_FAILED and its message, then the connection closes;
// SaslAuthenticate outside an exchange is ILLEGAL_SASL_STATE. The session
// lifetime (v1) is 0: the broker does not expire sessions, so clients do
// not re-authenticate (KIP-368).
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
	return resp, nil
}
