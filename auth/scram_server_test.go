package auth

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// rfc7677 is the SCRAM-SHA-256 example of RFC 7677 section 3: user
// "user", password "pencil".
var rfc7677 = struct {
	salt, clientFirst, serverNonce, serverFirst, clientFinal, serverFinal string
	iterations                                                            int
}{
	salt:        "W22ZaJ0SNY7soEsUEjb6gQ==",
	iterations:  4096,
	clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
}

func rfc7677Credential(t testing.TB) ScramCredential {
	salt, _ := base64.StdEncoding.DecodeString(rfc7677.salt)
	salted, err := pbkdf2.Key(sha256.New, "pencil", salt, rfc7677.iterations, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ScramCredentialFromSalted(ScramSHA256, salt, salted, rfc7677.iterations)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rfc7677Server(t testing.TB) *ScramServer {
	cred := rfc7677Credential(t)
	s, err := NewScramServer(ScramSHA256, func(user string) (ScramCredential, error) {
		if user != "user" {
			return ScramCredential{}, errors.New("no such user")
		}
		return cred, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Nonce = func() string { return rfc7677.serverNonce }
	return s
}

// TestScramServerRFC7677 replays RFC 7677's exchange: the server's first
// and final messages are the RFC's, byte for byte.
func TestScramServerRFC7677(t *testing.T) {
	s := rfc7677Server(t)
	first, err := s.Step(rfc7677.clientFirst)
	if err != nil || first != rfc7677.serverFirst {
		t.Fatalf("server-first %q, %v; want %q", first, err, rfc7677.serverFirst)
	}
	final, err := s.Step(rfc7677.clientFinal)
	if err != nil || final != rfc7677.serverFinal || !s.Done() || s.User() != "user" {
		t.Fatalf("server-final %q, %v (done %v, user %q); want %q", final, err, s.Done(), s.User(), rfc7677.serverFinal)
	}
	if _, err := s.Step(rfc7677.clientFinal); !errors.Is(err, ErrScramExchange) {
		t.Fatalf("a third message: %v", err)
	}
}

// TestScramServerMalformed: client messages the server refuses, each with
// ErrScramExchange and never a panic.
func TestScramServerMalformed(t *testing.T) {
	for _, c := range []struct{ name, first, final, want string }{
		{"no gs2 header", "n=user,r=abc", "", "gs2"},
		{"channel binding asked", "p=tls-unique,,n=user,r=abc", "", "channel binding"},
		{"bad cbind flag", "x,,n=user,r=abc", "", "flag"},
		{"unterminated gs2", "n,a=user", "", "unterminated"},
		{"bad authzid", "n,z=user,n=user,r=abc", "", "authzid"},
		{"mandatory extension", "n,,m=x,n=user,r=abc", "", "mandatory"},
		{"no nonce", "n,,n=user", "", "want n=user,r=nonce"},
		{"order", "n,,r=abc,n=user", "", "want n=user,r=nonce"},
		{"bad escape", "n,,n=us=er,r=abc", "", "2C or 3D"},
		{"empty user", "n,,n=,r=abc", "", "empty user"},
		{"empty nonce", "n,,n=user,r=", "", "empty client nonce"},
		{"nonce with a space", "n,,n=user,r=a b", "", "byte 0x20"},
		{"unknown user", "n,,n=mallory,r=abc", "", "no such user"},
		{"no proof", rfc7677.clientFirst, "c=biws,r=" + "rOprNGfwEbeRWgbNEkqO" + rfc7677.serverNonce, "without a proof"},
		{"proof not base64", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO" + rfc7677.serverNonce + ",p=!!", "client proof"},
		{"short proof", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO" + rfc7677.serverNonce + ",p=AAAA", "client proof of 3 bytes"},
		{"no binding", rfc7677.clientFirst, "r=x,p=AAAA", "want c=binding"},
		{"wrong nonce", rfc7677.clientFirst, strings.Replace(rfc7677.clientFinal, "k0,", "k1,", 1), "nonce received"},
		{"forged proof", rfc7677.clientFirst, strings.Replace(rfc7677.clientFinal, "p=dH", "p=dX", 1), "invalid proof"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := rfc7677Server(t)
			_, err := s.Step(c.first)
			if err == nil && c.final != "" {
				_, err = s.Step(c.final)
			}
			if !errors.Is(err, ErrScramExchange) || !strings.Contains(err.Error(), c.want) || s.Done() {
				t.Fatalf("%v (done %v), want ErrScramExchange with %q", err, s.Done(), c.want)
			}
		})
	}
}

// FuzzScramServer: arbitrary client messages never panic and never
// complete the exchange unless the RFC's proof is among them unchanged.
func FuzzScramServer(f *testing.F) {
	f.Add(rfc7677.clientFirst, rfc7677.clientFinal)
	f.Add("n,a=us=2Cer,n=user,r=x,ext=1", "c=,r=,p=")
	f.Add("y,,n=user,r=rOprNGfwEbeRWgbNEkqO", "c=eSws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AA==")
	f.Fuzz(func(t *testing.T, first, final string) {
		s := rfc7677Server(t)
		if _, err := s.Step(first); err != nil {
			return
		}
		if _, err := s.Step(final); err == nil && (!s.Done() || !strings.Contains(final, "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")) {
			t.Fatalf("completed from %q, %q", first, final)
		}
	})
}
