package ingest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
)

// OAUTHBEARER (RFC 7628, Kafka's KIP-255): the client's one message is
//
//	gs2-header ^A auth=Bearer <token> ^A [key=value ^A]... ^A
//
// with gs2-header "n,," or "n,a=<authzid>,"; the other key=value pairs are
// SASL extensions (ignored). The token is checked by a TokenValidator
// (auth.OAuthValidator: a JWT against a JWKS, audience and issuer); the
// session lasts no longer than the token (SASLExpiry), so a client must
// re-authenticate with a fresh token (KIP-368) before it expires. A
// refused token fails at once with SASL_AUTHENTICATION_FAILED and the
// reason, which franz-go and librdkafka report.

// TokenValidator checks a bearer token.
type TokenValidator interface {
	Validate(ctx context.Context, token string) (principal string, expiry time.Time, err error)
}

// NewOAuthBearerMechanism offers OAUTHBEARER checking tokens with v.
func NewOAuthBearerMechanism(v TokenValidator) SASLMechanism { return oauthMechanism{v} }

type oauthMechanism struct{ v TokenValidator }

func (oauthMechanism) Name() string { return "OAUTHBEARER" }

func (m oauthMechanism) Start() SASLExchange { return &oauthExchange{v: m.v} }

type oauthExchange struct {
	v      TokenValidator
	done   bool
	expiry time.Time
}

func (e *oauthExchange) Expiry() time.Time { return e.expiry }

func (e *oauthExchange) Next(ctx context.Context, msg []byte) ([]byte, string, error) {
	if e.done {
		return nil, "", &SASLError{"OAUTHBEARER takes one message"}
	}
	e.done = true
	authzid, token, err := parseOAuthBearer(msg)
	if err != nil {
		return nil, "", err
	}
	principal, expiry, err := e.v.Validate(ctx, token)
	if err != nil {
		return nil, "", &SASLError{fmt.Sprintf("invalid token: %v", err)}
	}
	if !time.Now().Before(expiry) {
		return nil, "", &SASLError{"invalid token: expired"}
	}
	if authzid != "" && "User:"+authzid != principal {
		return nil, "", &SASLError{"authorization id differs from the token's principal"}
	}
	e.expiry = expiry
	return []byte{}, principal, nil
}

// parseOAuthBearer returns the authorization id and the bearer token of a
// client's OAUTHBEARER message.
func parseOAuthBearer(msg []byte) (authzid, token string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", &SASLError{"Invalid OAUTHBEARER client message: " + why}
	}
	header, rest, ok := bytes.Cut(msg, []byte{1})
	if !ok {
		return bad("no ^A after the GS2 header")
	}
	h := string(header)
	switch {
	case h == "n,,":
	case strings.HasPrefix(h, "n,a=") && strings.HasSuffix(h, ","):
		authzid = strings.TrimSuffix(strings.TrimPrefix(h, "n,a="), ",")
		if authzid == "" || strings.Contains(authzid, ",") {
			return bad("bad authorization id")
		}
	default:
		return bad("GS2 header must be n,, or n,a=<authzid>, (no channel binding)")
	}
	// Each pair ends with ^A, and the list with one more.
	if !bytes.HasSuffix(rest, []byte{1, 1}) {
		return bad("not terminated by ^A^A")
	}
	for _, kv := range bytes.Split(rest[:len(rest)-2], []byte{1}) {
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok || len(k) == 0 {
			return bad("key=value expected")
		}
		if string(k) == "auth" {
			t, ok := strings.CutPrefix(string(v), "Bearer ")
			if !ok || t == "" || token != "" {
				return bad("auth must be one Bearer token")
			}
			token = t
		}
	}
	if token == "" {
		return bad("no auth=Bearer token")
	}
	return authzid, token, nil
}
