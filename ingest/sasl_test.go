package ingest

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// plainUsers is a PlainChecker over a fixed map.
type plainUsers map[string]string

func (u plainUsers) CheckPlain(_ context.Context, user, password string) error {
	want, ok := u[user]
	if !ok {
		return ErrUnknownUser
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return ErrWrongPassword
	}
	return nil
}

var testUsers = plainUsers{"alice": "alice-secret", "broker-2": "broker-2-secret"}

// saslServer serves the fake backend with PLAIN over testUsers on a
// loopback listener admitting as opts say; it returns the address.
func saslServer(t *testing.T, f *fake, opts ListenerOptions) string {
	t.Helper()
	s := NewServer(Config{Logger: quiet, SASLMechanisms: []SASLMechanism{NewPlainMechanism(testUsers)}}, f.backend(false))
	return serveListenerTest(t, s, opts)
}

func saslCall(t *testing.T, c net.Conn, req kmsg.Request) kmsg.Response {
	t.Helper()
	resp, err := call(c, req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func requireClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if !closedByServer(c) {
		t.Fatal("the server left the connection open")
	}
}

func handshake(version int16, mechanism string) *kmsg.SASLHandshakeRequest {
	r := kmsg.NewPtrSASLHandshakeRequest()
	r.Version, r.Mechanism = version, mechanism
	return r
}

func authenticate(version int16, msg string) *kmsg.SASLAuthenticateRequest {
	r := kmsg.NewPtrSASLAuthenticateRequest()
	r.Version, r.SASLAuthBytes = version, []byte(msg)
	return r
}

func metadata() *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.Version = 9
	return r
}

// replicaFetch fetches partition 0 of t as broker id.
func replicaFetch(id int32) kmsg.Request {
	return fetch(12, func(r *kmsg.FetchRequest) { r.ReplicaID = id }, 0)()
}

// authenticatedV1 runs SaslHandshake v1 and SaslAuthenticate version v
// with msg and returns the authenticate response.
func authenticatedV1(t *testing.T, c net.Conn, v int16, msg string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	hs := saslCall(t, c, handshake(1, "PLAIN")).(*kmsg.SASLHandshakeResponse)
	if hs.ErrorCode != 0 || strings.Join(hs.SupportedMechanisms, ",") != "PLAIN" {
		t.Fatalf("handshake: %v, mechanisms %v", kerr.ErrorForCode(hs.ErrorCode), hs.SupportedMechanisms)
	}
	return saslCall(t, c, authenticate(v, msg)).(*kmsg.SASLAuthenticateResponse)
}

// TestSASLPlainExchange walks the connection state machine with raw
// frames: which requests a connection may send before, during and after
// authentication, what a failure answers, and that a failure closes.
func TestSASLPlainExchange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		require bool
		run     func(t *testing.T, f *fake, c net.Conn)
	}{
		{"required: ApiVersions is answered before authenticating", true, func(t *testing.T, _ *fake, c net.Conn) {
			av := kmsg.NewPtrApiVersionsRequest()
			av.Version = 3
			if r := saslCall(t, c, av).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
				t.Fatalf("api versions: %v", kerr.ErrorForCode(r.ErrorCode))
			}
			if r := authenticatedV1(t, c, 2, "\x00alice\x00alice-secret"); r.ErrorCode != 0 {
				t.Fatalf("authenticate: %v", kerr.ErrorForCode(r.ErrorCode))
			}
			saslCall(t, c, metadata())
		}},
		{"required: another request before authenticating closes", true, func(t *testing.T, _ *fake, c net.Conn) {
			if _, err := call(c, metadata()); err == nil {
				t.Fatal("metadata answered before authentication")
			}
		}},
		{"required: another request between handshake and authenticate closes", true, func(t *testing.T, _ *fake, c net.Conn) {
			saslCall(t, c, handshake(1, "PLAIN"))
			if _, err := call(c, metadata()); err == nil {
				t.Fatal("metadata answered during the exchange")
			}
		}},
		{"required: a frame over the SASL receive bound closes", true, func(t *testing.T, _ *fake, c net.Conn) {
			var size [4]byte
			binary.BigEndian.PutUint32(size[:], saslMaxReceive+1)
			if _, err := c.Write(size[:]); err != nil {
				t.Fatal(err)
			}
			requireClosed(t, c)
		}},
		{"wrong password: SASL_AUTHENTICATION_FAILED, then closed", true, func(t *testing.T, _ *fake, c net.Conn) {
			r := authenticatedV1(t, c, 1, "\x00alice\x00guess")
			if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil || *r.ErrorMessage != "Authentication failed: Invalid username or password" {
				t.Fatalf("answered %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
			}
			requireClosed(t, c)
		}},
		{"unknown user: the same failure", false, func(t *testing.T, _ *fake, c net.Conn) {
			r := authenticatedV1(t, c, 0, "\x00mallory\x00alice-secret")
			if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || *r.ErrorMessage != "Authentication failed: Invalid username or password" {
				t.Fatalf("answered %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
			}
			requireClosed(t, c)
		}},
		{"another user's authorization id fails", false, func(t *testing.T, _ *fake, c net.Conn) {
			if r := authenticatedV1(t, c, 2, "broker-2\x00alice\x00alice-secret"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
				t.Fatalf("answered %v", kerr.ErrorForCode(r.ErrorCode))
			}
			requireClosed(t, c)
		}},
		{"unsupported mechanism lists ours, then closed", false, func(t *testing.T, _ *fake, c net.Conn) {
			r := saslCall(t, c, handshake(1, "SCRAM-SHA-512")).(*kmsg.SASLHandshakeResponse)
			if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(r.SupportedMechanisms, ",") != "PLAIN" {
				t.Fatalf("answered %v, mechanisms %v", kerr.ErrorForCode(r.ErrorCode), r.SupportedMechanisms)
			}
			requireClosed(t, c)
		}},
		{"a second handshake with another mechanism is refused", false, func(t *testing.T, _ *fake, c net.Conn) {
			authenticatedV1(t, c, 2, "\x00alice\x00alice-secret")
			if r := saslCall(t, c, handshake(1, "SCRAM-SHA-512")).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
				t.Fatalf("answered %v", kerr.ErrorForCode(r.ErrorCode))
			}
			requireClosed(t, c)
		}},
		{"re-authentication as the same user (KIP-368)", false, func(t *testing.T, f *fake, c net.Conn) {
			authenticatedV1(t, c, 2, "\x00alice\x00alice-secret")
			if r := authenticatedV1(t, c, 2, "\x00alice\x00alice-secret"); r.ErrorCode != 0 {
				t.Fatalf("re-authentication answered %v", kerr.ErrorForCode(r.ErrorCode))
			}
			if r := saslCall(t, c, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse); len(r.Brokers) == 0 {
				t.Fatal("no metadata after re-authentication")
			}
		}},
		{"re-authentication as another user closes", false, func(t *testing.T, _ *fake, c net.Conn) {
			authenticatedV1(t, c, 2, "\x00alice\x00alice-secret")
			if r := authenticatedV1(t, c, 2, "\x00broker-2\x00broker-2-secret"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
				t.Fatalf("re-authentication as another principal answered %v", kerr.ErrorForCode(r.ErrorCode))
			}
			requireClosed(t, c)
		}},
		{"handshake v0: bare SASL frames", true, func(t *testing.T, f *fake, c net.Conn) {
			saslCall(t, c, handshake(0, "PLAIN"))
			if reply := rawSASLFrame(t, c, "\x00broker-2\x00broker-2-secret"); len(reply) != 0 {
				t.Fatalf("PLAIN reply %q, want empty", reply)
			}
			if p := saslCall(t, c, replicaFetch(2)).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || f.replicated != 1 {
				t.Fatalf("replica fetch as the authenticated broker: %v, %d reads", kerr.ErrorForCode(p.ErrorCode), f.replicated)
			}
		}},
		{"handshake v0: a wrong password closes without an answer", true, func(t *testing.T, _ *fake, c net.Conn) {
			saslCall(t, c, handshake(0, "PLAIN"))
			const msg = "\x00alice\x00guess"
			if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)); err != nil {
				t.Fatal(err)
			}
			requireClosed(t, c)
		}},
		{"optional: anonymous clients are served, not as replicas", false, func(t *testing.T, f *fake, c net.Conn) {
			saslCall(t, c, metadata())
			p := saslCall(t, c, replicaFetch(2)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
			if p.ErrorCode != kerr.TopicAuthorizationFailed.Code || f.replicated != 0 {
				t.Fatalf("anonymous replica fetch: %v, %d reads", kerr.ErrorForCode(p.ErrorCode), f.replicated)
			}
		}},
		{"optional: an authenticated broker fetches as itself only", false, func(t *testing.T, f *fake, c net.Conn) {
			if r := authenticatedV1(t, c, 2, "broker-2\x00broker-2\x00broker-2-secret"); r.ErrorCode != 0 {
				t.Fatalf("authenticate: %v", kerr.ErrorForCode(r.ErrorCode))
			}
			if p := saslCall(t, c, replicaFetch(3)).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.TopicAuthorizationFailed.Code {
				t.Fatalf("broker 2 fetching as broker 3: %v", kerr.ErrorForCode(p.ErrorCode))
			}
			if p := saslCall(t, c, replicaFetch(2)).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || f.replicated != 1 {
				t.Fatalf("broker 2 fetching as itself: %v, %d reads", kerr.ErrorForCode(p.ErrorCode), f.replicated)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.brokers = append(f.brokers, BrokerInfo{ID: 3, Host: "b3", Port: 9092})
			c := dialTest(t, saslServer(t, f, ListenerOptions{RequireSASL: tc.require}))
			tc.run(t, f, c)
		})
	}
}

// rawSASLFrame sends msg as a bare size-prefixed SASL frame (after
// SaslHandshake v0) and returns the server's bare reply.
func rawSASLFrame(t *testing.T, c net.Conn, msg string) []byte {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("no reply to a bare SASL frame: %v", err)
	}
	reply := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatal(err)
	}
	return reply
}

// TestSASLPlainFranzGo: a real client (franz-go's SASL PLAIN) against a
// listener that requires SASL, with right and wrong credentials.
func TestSASLPlainFranzGo(t *testing.T) {
	f := newFake()
	addr := saslServer(t, f, ListenerOptions{RequireSASL: true})
	for _, tc := range []struct {
		name, user, pass string
		want             error
	}{
		{"right password", "alice", "alice-secret", nil},
		{"wrong password", "alice", "alice-secre", kerr.SaslAuthenticationFailed},
		{"unknown user", "bob", "alice-secret", kerr.SaslAuthenticationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(plain.Auth{User: tc.user, Pass: tc.pass}.AsMechanism()),
				kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = metadata().RequestWith(ctx, cl)
			if !errors.Is(err, tc.want) {
				t.Fatalf("metadata: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParsePlain(t *testing.T) {
	for _, tc := range []struct {
		msg                   string
		authzid, user, passwd string
		ok                    bool
	}{
		{"\x00alice\x00pw", "", "alice", "pw", true},
		{"alice\x00alice\x00pw", "alice", "alice", "pw", true},
		{"\x00alice\x00p\xc3\xa4ss", "", "alice", "päss", true},
		{"\x00alice\x00", "", "", "", false},   // no password
		{"\x00\x00pw", "", "", "", false},      // no user
		{"alice\x00pw", "", "", "", false},     // two fields
		{"\x00a\x00b\x00c", "", "", "", false}, // four fields
		{"\x00al\xffice\x00pw", "", "", "", false},
		{"", "", "", "", false},
	} {
		z, u, p, err := parsePlain([]byte(tc.msg))
		if (err == nil) != tc.ok || z != tc.authzid || u != tc.user || p != tc.passwd {
			t.Errorf("parsePlain(%q) = %q, %q, %q, %v", tc.msg, z, u, p, err)
		}
	}
}
