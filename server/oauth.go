package server

import (
	"context"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/ingest"
)

// OAuthConfig configures OAUTHBEARER: the JWKS that signs tokens (a URL,
// refreshed, or a file), the audiences and issuer a token must name, and
// the claim that names the principal (default sub).
type OAuthConfig struct {
	JWKSURL          string
	JWKSFile         string
	ExpectedAudience []string
	ExpectedIssuer   string
	SubClaim         string
}

// oauthMechanism builds OAUTHBEARER; the JWKS refresh runs until the
// server closes.
func (s *Server) oauthMechanism() (ingest.SASLMechanism, error) {
	o := s.cfg.OAuth
	ctx, cancel := context.WithCancel(context.Background())
	s.oauthCancel = cancel
	v, err := auth.NewOAuthValidator(ctx, auth.OAuthOptions{JWKSURL: o.JWKSURL, JWKSFile: o.JWKSFile,
		Audience: o.ExpectedAudience, Issuer: o.ExpectedIssuer, SubClaim: o.SubClaim})
	if err != nil {
		return nil, err
	}
	s.oauth = v // bearer JWTs on Flight and the REST catalog too
	return ingest.NewOAuthBearerMechanism(v), nil
}
