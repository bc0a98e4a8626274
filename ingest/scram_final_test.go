package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"strings"
	"testing"

	"github.com/stratalog/strata/auth"
)

// scramClientFinal is a SCRAM client's final message, computed by hand
// (RFC 5802 section 3) so that the test chooses what the client puts in
// it: the nonce it echoes and the channel binding it names.
func scramClientFinal(t *testing.T, mech, password, clientFirstBare, serverFirst, cbind, nonce string) string {
	t.Helper()
	h := sha256.New
	if mech == auth.ScramSHA512 {
		h = sha512.New
	}
	var salt []byte
	var iters int
	for _, attr := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(attr, "s="):
			var err error
			if salt, err = base64.StdEncoding.DecodeString(attr[2:]); err != nil {
				t.Fatalf("salt in %q: %v", serverFirst, err)
			}
		case strings.HasPrefix(attr, "i="):
			for _, d := range attr[2:] {
				iters = iters*10 + int(d-'0')
			}
		}
	}
	salted, err := pbkdf2.Key(h, password, salt, iters, h().Size())
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := func(f func() hash.Hash, b []byte) []byte { x := f(); x.Write(b); return x.Sum(nil) }(h, clientKey)
	withoutProof := "c=" + cbind + ",r=" + nonce
	sig := mac(stored, clientFirstBare+","+serverFirst+","+withoutProof)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

// TestScramClientFinalNonce: the nonce a client may echo in its final
// message. RFC 5802 wants the server-first nonce (client nonce + server
// nonce); librdkafka before 2.6.1 (Debian's 2.0.2 among them) prefixes its
// own nonce once more (confluentinc/librdkafka#4895), which Kafka accepts
// since 3.8.1, so it is accepted here too. Any other nonce, or a channel
// binding other than the client-first's gs2 header, fails; so does a
// proof made with another password. The librdkafka case failed before the
// SCRAM server was Strata's own (xdg-go/scram compares nonces strictly).
func TestScramClientFinalNonce(t *testing.T) {
	users := newScramUsers(t, "alice", "alice-secret")
	const cnonce = "JHwiTRa9xY]3gIlo<\\C9;7u\\GWMg2[\\." // librdkafka's printable range
	for _, mech := range []string{auth.ScramSHA256, auth.ScramSHA512} {
		for _, c := range []struct {
			name     string
			gs2      string
			cbind    string
			nonce    func(combined string) string
			password string
			ok       bool
		}{
			{"RFC 5802", "n,,", "biws", func(n string) string { return n }, "alice-secret", true},
			{"librdkafka before 2.6.1", "n,,", "biws", func(n string) string { return cnonce + n }, "alice-secret", true},
			{"client supports binding", "y,,", "eSws", func(n string) string { return n }, "alice-secret", true},
			{"authzid", "n,a=alice,", base64.StdEncoding.EncodeToString([]byte("n,a=alice,")), func(n string) string { return n }, "alice-secret", true},
			{"client nonce only", "n,,", "biws", func(string) string { return cnonce }, "alice-secret", false},
			{"server nonce twice", "n,,", "biws", func(n string) string { return n + n[len(cnonce):] }, "alice-secret", false},
			{"client nonce three times", "n,,", "biws", func(n string) string { return cnonce + cnonce + n }, "alice-secret", false},
			{"other channel binding", "n,,", "eSws", func(n string) string { return n }, "alice-secret", false},
			{"wrong password", "n,,", "biws", func(n string) string { return n }, "wrong", false},
		} {
			t.Run(mech+"/"+c.name, func(t *testing.T) {
				m, err := NewScramMechanism(mech, users)
				if err != nil {
					t.Fatal(err)
				}
				ex := m.Start()
				bare := "n=alice,r=" + cnonce
				reply, p, err := ex.Next(context.Background(), []byte(c.gs2+bare))
				if err != nil || p != "" {
					t.Fatalf("client-first: %q %q %v", reply, p, err)
				}
				serverFirst := string(reply)
				combined := strings.TrimPrefix(strings.Split(serverFirst, ",")[0], "r=")
				if !strings.HasPrefix(combined, cnonce) || len(combined) <= len(cnonce) {
					t.Fatalf("server-first nonce %q does not extend the client's", combined)
				}
				final := scramClientFinal(t, mech, c.password, bare, serverFirst, c.cbind, c.nonce(combined))
				reply, p, err = ex.Next(context.Background(), []byte(final))
				if !c.ok {
					if err == nil || !strings.Contains(err.Error(), "Invalid user credentials") {
						t.Fatalf("client-final %q: %q %q %v, want the credentials failure", final, reply, p, err)
					}
					return
				}
				if err != nil || p != "User:alice" || !strings.HasPrefix(string(reply), "v=") {
					t.Fatalf("client-final %q: %q %q %v", final, reply, p, err)
				}
			})
		}
	}
}
