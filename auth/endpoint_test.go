package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakeTokens struct{}

func (fakeTokens) Validate(_ context.Context, token string) (string, time.Time, error) {
	if token == "jwt-of-olga" {
		return "User:olga", time.Now().Add(time.Hour), nil
	}
	return "", time.Time{}, errors.New("token signature is invalid")
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestEndpointAuthenticate: every credential an endpoint caller can
// present, and what it proves.
func TestEndpointAuthenticate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	e := &EndpointAuth{Endpoint: "test", Tokens: fakeTokens{}, Now: func() time.Time { return now },
		Passwords: func(_ context.Context, user, password string) error {
			if user == "paula" && password == "pw:with:colons" {
				return nil
			}
			return errors.New("wrong password")
		}}
	ctx := context.Background()
	token, principal, err := e.Login(ctx, "paula", "pw:with:colons")
	if err != nil || principal != "User:paula" || len(token) != 64 {
		t.Fatalf("Login: %q %q %v", token, principal, err)
	}
	if _, _, err := e.Login(ctx, "paula", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("Login with a wrong password: %v", err)
	}
	dir := t.TempDir()
	ca, err := OpenDevCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, _, err := ca.Issue("carol", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(certFile)
	block, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, authz string
		cert        *x509.Certificate
		want        string // "" : ErrBadCredentials
	}{
		{"nothing", "", nil, Anonymous},
		{"client certificate", "", cert, CertPrincipal(cert)},
		{"credential over certificate", basicHeader("paula", "pw:with:colons"), cert, "User:paula"},
		{"basic", basicHeader("paula", "pw:with:colons"), nil, "User:paula"},
		{"basic unpadded", "basic " + base64.RawStdEncoding.EncodeToString([]byte("paula:pw:with:colons")), nil, "User:paula"},
		{"basic wrong password", basicHeader("paula", "nope"), nil, ""},
		{"basic unknown user", basicHeader("mallory", "pw:with:colons"), nil, ""},
		{"basic empty user", basicHeader("", "pw:with:colons"), nil, ""},
		{"basic not base64", "Basic !!!", nil, ""},
		{"basic without colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("paula")), nil, ""},
		{"session token", "Bearer " + token, nil, "User:paula"},
		{"jwt", "Bearer jwt-of-olga", nil, "User:olga"},
		{"forged token", "Bearer forged", nil, ""},
		{"empty bearer", "Bearer ", nil, ""},
		{"other scheme", "Digest x", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := e.Authenticate(ctx, c.authz, c.cert)
			if c.want == "" {
				if !errors.Is(err, ErrBadCredentials) {
					t.Fatalf("%q, %v; want ErrBadCredentials", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("%q, %v; want %q", got, err, c.want)
			}
		})
	}
	now = now.Add(SessionTTL + time.Second)
	if _, err := e.Authenticate(ctx, "Bearer "+token, nil); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("expired session token: %v", err)
	}
}

// TestEndpointAllowAudits: a denial writes one audit line naming the
// principal, host, call, operation and resource; Visible writes none.
func TestEndpointAllowAudits(t *testing.T) {
	var buf bytes.Buffer
	e := &EndpointAuth{Endpoint: "flight", Log: slog.New(slog.NewJSONHandler(&buf, nil)),
		Authorize: func(p, _ string, op Operation, _ ResourceType, name string) bool {
			return p == "User:paula" && op == kmsg.ACLOperationRead && strings.HasPrefix(name, "open-")
		}}
	if !e.Allow("User:paula", "10.0.0.1", "DoGet", kmsg.ACLOperationRead, Topic, "open-t") || buf.Len() != 0 {
		t.Fatalf("allowed read logged %q", buf.String())
	}
	if e.Visible("User:paula", "10.0.0.1", kmsg.ACLOperationRead, Topic, "secret") || buf.Len() != 0 {
		t.Fatalf("Visible logged %q", buf.String())
	}
	if e.Allow("User:paula", "10.0.0.1", "DoGet", kmsg.ACLOperationRead, Topic, "secret") {
		t.Fatal("denied read allowed")
	}
	line := buf.String()
	for _, want := range []string{`"msg":"authorization denied"`, `"audit":true`, `"endpoint":"flight"`, `"principal":"User:paula"`,
		`"host":"10.0.0.1"`, `"api":"DoGet"`, `"operation":"READ"`, `"resource_type":"TOPIC"`, `"resource_name":"secret"`} {
		if !strings.Contains(line, want) {
			t.Errorf("audit line %s lacks %s", line, want)
		}
	}
	if open := (&EndpointAuth{}); !open.Allow("User:x", "", "DoGet", kmsg.ACLOperationRead, Topic, "t") {
		t.Fatal("no authorizer: denied")
	}
}

// FuzzEndpointAuthenticate: any Authorization header proves at most
// what its credential proves.
func FuzzEndpointAuthenticate(f *testing.F) {
	e := &EndpointAuth{Tokens: fakeTokens{}, Passwords: func(_ context.Context, user, password string) error {
		if user == "paula" && password == "pw" {
			return nil
		}
		return errors.New("wrong")
	}}
	for _, s := range []string{"", basicHeader("paula", "pw"), "Bearer jwt-of-olga", "Basic ====", "bearer  x", "Basic Og=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, authz string) {
		p, err := e.Authenticate(context.Background(), authz, nil)
		if err != nil {
			return
		}
		switch p {
		case Anonymous:
			if authz != "" {
				t.Fatalf("%q: anonymous", authz)
			}
		case "User:paula", "User:olga":
		default:
			t.Fatalf("%q proved %q", authz, p)
		}
	})
}
