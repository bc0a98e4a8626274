package server

import (
	"errors"

	"github.com/stratalog/strata/ingest"
)

// OAuthConfig configures OAUTHBEARER.
type OAuthConfig struct {
	JWKSURL          string
	JWKSFile         string
	ExpectedAudience []string
	ExpectedIssuer   string
	SubClaim         string // default "sub"
}

func (s *Server) oauthMechanism() (ingest.SASLMechanism, error) {
	return nil, errors.New("OAUTHBEARER: not implemented")
}
