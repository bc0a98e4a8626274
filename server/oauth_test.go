package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// testIssuer signs JWTs with an RSA key whose JWKS an httptest server
// serves, as an identity provider would.
type testIssuer struct {
	key  *rsa.PrivateKey
	jwks *httptest.Server
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "test-key", "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	return &testIssuer{key: key, jwks: srv}
}

func (ti *testIssuer) token(t *testing.T, sub, aud string, exp time.Time, key *rsa.PrivateKey) string {
	t.Helper()
	if key == nil {
		key = ti.key
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": sub, "aud": aud, "iss": "test-issuer", "exp": exp.Unix(), "iat": time.Now().Unix(),
	})
	tok.Header["kid"] = "test-key"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOAuthBearer: franz-go authenticates with JWTs checked against a JWKS
// served over HTTP (audience, issuer, signature, expiry); the session
// lasts as long as the token, and the client re-authenticates on the same
// connection with a fresh one (KIP-368) and goes on working; expired,
// foreign-audience and foreign-key tokens fail with
// SASL_AUTHENTICATION_FAILED and the broker serves on.
func TestOAuthBearer(t *testing.T) {
	ti := newTestIssuer(t)
	tb := startBroker(t, func(c *Config) {
		c.Listeners = "SASL_PLAINTEXT://127.0.0.1:0"
		c.SASLMechanisms = []string{"OAUTHBEARER", "SCRAM-SHA-512"}
		c.OAuth = OAuthConfig{JWKSURL: ti.jwks.URL, ExpectedAudience: []string{"strata"}, ExpectedIssuer: "test-issuer"}
	})
	ctx := testCtx(t)
	addr := tb.srv.ListenerAddr("SASL_PLAINTEXT")
	var tokens atomic.Int32
	client := func(tok func() string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(5*time.Second), kgo.RequestRetries(1), kgo.AllowAutoTopicCreation(),
			kgo.SASL(oauth.Oauth(func(context.Context) (oauth.Auth, error) {
				tokens.Add(1)
				return oauth.Auth{Token: tok()}, nil
			})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}

	// Tokens valid for 3 s: the client must re-authenticate to go on.
	cl := client(func() string { return ti.token(t, "olivia", "strata", time.Now().Add(3*time.Second), nil) })
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(7 * time.Second)
	for time.Now().Before(deadline) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "oauth", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce as olivia after %d tokens: %v", tokens.Load(), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := tokens.Load(); n < 3 {
		t.Fatalf("%d tokens fetched in 7 s of 3 s sessions: the client did not re-authenticate", n)
	}
	if _, err := adm.ListTopics(ctx); err != nil {
		t.Fatal(err)
	}

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, tok := range map[string]string{
		"expired":        ti.token(t, "olivia", "strata", time.Now().Add(-time.Minute), nil),
		"other audience": ti.token(t, "olivia", "elsewhere", time.Now().Add(time.Hour), nil),
		"other key":      ti.token(t, "olivia", "strata", time.Now().Add(time.Hour), other),
		"not a JWT":      "garbage",
	} {
		t.Run(name, func(t *testing.T) {
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := kadm.NewClient(client(func() string { return tok })).ListTopics(fctx)
			if err == nil || !strings.Contains(err.Error(), "SASL_AUTHENTICATION_FAILED") {
				t.Fatalf("error %v, want SASL_AUTHENTICATION_FAILED", err)
			}
			if _, err := adm.ListTopics(ctx); err != nil {
				t.Fatalf("broker no longer serves: %v", err)
			}
		})
	}
}
