package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestSessionLifetime (KIP-368): with connections.max.reauth.ms the
// SaslAuthenticate answer carries the session lifetime; a request after
// it without a re-authentication closes the connection; re-authenticating
// in time keeps it.
func TestSessionLifetime(t *testing.T) {
	f := newFake()
	s := NewServer(Config{Logger: quiet, ReauthMax: 400 * time.Millisecond,
		SASLMechanisms: []SASLMechanism{NewPlainMechanism(testUsers)}}, f.backend(false))
	addr := serveListenerTest(t, s, ListenerOptions{RequireSASL: true})

	c := dialTest(t, addr)
	r := authenticatedV1(t, c, 1, "\x00alice\x00alice-secret")
	if r.ErrorCode != 0 || r.SessionLifetimeMillis <= 0 || r.SessionLifetimeMillis > 400 {
		t.Fatalf("authenticate: %v, session lifetime %d ms, want (0, 400]", kerr.ErrorForCode(r.ErrorCode), r.SessionLifetimeMillis)
	}
	time.Sleep(250 * time.Millisecond)
	if r := authenticatedV1(t, c, 1, "\x00alice\x00alice-secret"); r.ErrorCode != 0 {
		t.Fatalf("re-authentication: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	time.Sleep(250 * time.Millisecond) // past the first session, within the second
	saslCall(t, c, metadata())
	time.Sleep(500 * time.Millisecond)
	if _, err := call(c, metadata()); err == nil {
		t.Fatal("a request after the session expired was answered")
	}
	requireClosed(t, c)
}

// tokens is a TokenValidator over fixed tokens.
type tokens map[string]time.Time

func (ts tokens) Validate(_ context.Context, tok string) (string, time.Time, error) {
	exp, ok := ts[tok]
	if !ok {
		return "", time.Time{}, errors.New("unknown token")
	}
	name, _, _ := strings.Cut(tok, ".")
	return "User:" + name, exp, nil
}

// TestOAuthBearerExchange: the client message's grammar, the principal
// and the session bounded by the token's expiry.
func TestOAuthBearerExchange(t *testing.T) {
	v := tokens{"olivia.good": time.Now().Add(time.Hour), "olivia.old": time.Now().Add(-time.Second)}
	for _, tc := range []struct {
		msg, principal, err string
	}{
		{"n,,\x01auth=Bearer olivia.good\x01\x01", "User:olivia", ""},
		{"n,a=olivia,\x01host=h\x01auth=Bearer olivia.good\x01port=9\x01\x01", "User:olivia", ""},
		{"n,a=mallory,\x01auth=Bearer olivia.good\x01\x01", "", "authorization id"},
		{"n,,\x01auth=Bearer olivia.old\x01\x01", "", "expired"},
		{"n,,\x01auth=Bearer nobody.x\x01\x01", "", "invalid token"},
		{"n,,\x01auth=Bearer olivia.good\x01", "", "not terminated"},
		{"p=tls-unique,,\x01auth=Bearer olivia.good\x01\x01", "", "GS2 header"},
		{"n,,\x01auth=Basic x\x01\x01", "", "Bearer"},
		{"n,,\x01\x01", "", "Invalid OAUTHBEARER"},
		{"", "", "no ^A"},
	} {
		ex := NewOAuthBearerMechanism(v).Start()
		_, p, err := ex.Next(context.Background(), []byte(tc.msg))
		if tc.err == "" {
			if err != nil || p != tc.principal {
				t.Errorf("%q: %q, %v; want %q", tc.msg, p, err, tc.principal)
			}
			if e := ex.(SASLExpiry).Expiry(); e.IsZero() {
				t.Errorf("%q: no session expiry", tc.msg)
			}
			continue
		}
		var se *SASLError
		if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want a SASLError with %q", tc.msg, err, tc.err)
		}
	}
}
