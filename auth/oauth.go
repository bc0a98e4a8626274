package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// OAUTHBEARER token validation (KIP-255, RFC 7628): a token is a JWT
// signed by a key of a JWKS (a file, or a URL fetched and refreshed by
// keyfunc), with an expiry, and, when configured, the expected issuer and
// one of the expected audiences. The principal is User:<subject> (or
// another claim), and the session may last no longer than the token.

// OAuthValidator checks bearer tokens.
type OAuthValidator struct {
	kf       keyfunc.Keyfunc
	parser   *jwt.Parser
	subClaim string
}

// OAuthOptions configure an OAuthValidator: JWKSURL or JWKSFile (one),
// Audience (any of them must be named), Issuer, SubClaim (default sub).
type OAuthOptions struct {
	JWKSURL, JWKSFile string
	Audience          []string
	Issuer            string
	SubClaim          string
	// Now replaces the clock (tests).
	Now func() time.Time
}

// ErrInvalidToken is wrapped by every refused token.
var ErrInvalidToken = errors.New("invalid OAUTHBEARER token")

// NewOAuthValidator loads the JWKS (ctx bounds the first fetch of a URL
// and the refreshes run until it ends).
func NewOAuthValidator(ctx context.Context, o OAuthOptions) (*OAuthValidator, error) {
	var kf keyfunc.Keyfunc
	var err error
	switch {
	case o.JWKSURL != "" && o.JWKSFile != "":
		return nil, errors.New("OAUTHBEARER: a JWKS URL or a JWKS file, not both")
	case o.JWKSURL != "":
		kf, err = keyfunc.NewDefaultCtx(ctx, []string{o.JWKSURL})
	case o.JWKSFile != "":
		var raw []byte
		if raw, err = os.ReadFile(o.JWKSFile); err == nil {
			kf, err = keyfunc.NewJWKSetJSON(raw)
		}
	default:
		return nil, errors.New("OAUTHBEARER needs --sasl-oauthbearer-jwks-url or --sasl-oauthbearer-jwks-file")
	}
	if err != nil {
		return nil, fmt.Errorf("OAUTHBEARER JWKS: %w", err)
	}
	opts := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithLeeway(5 * time.Second),
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})}
	if len(o.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(o.Audience...))
	}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(o.Now))
	}
	sub := o.SubClaim
	if sub == "" {
		sub = "sub"
	}
	return &OAuthValidator{kf: kf, parser: jwt.NewParser(opts...), subClaim: sub}, nil
}

// Validate checks token and returns its principal and expiry.
func (v *OAuthValidator) Validate(ctx context.Context, token string) (principal string, expiry time.Time, err error) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.kf.KeyfuncCtx(ctx)); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	name, ok := claims[v.subClaim].(string)
	if !ok || name == "" {
		return "", time.Time{}, fmt.Errorf("%w: no %q claim", ErrInvalidToken, v.subClaim)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return "", time.Time{}, fmt.Errorf("%w: no expiry", ErrInvalidToken)
	}
	return "User:" + name, exp.Time, nil
}
