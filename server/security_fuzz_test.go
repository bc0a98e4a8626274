package server

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzSecureHandshakes attacks a live broker's TLS and SASL handshakes:
// mode 0 sends the bytes as they are to the SASL_SSL port (a garbage or
// truncated ClientHello, plaintext Kafka on a TLS port); mode 1 completes
// TLS, names SCRAM-SHA-512 and sends the bytes as the client-first
// message, then again as the client-final one; mode 2 does the same with
// PLAIN; mode 3 completes TLS and sends the bytes as they are (garbage
// frames: SaslHandshake, SaslAuthenticate or anything, of any size);
// mode 4 names SCRAM-SHA-256 with SaslHandshake v0 and sends the bytes as
// bare SASL frames (the pre-KIP-152 framing). Each connection may fail, but the broker must stay up, keep
// serving an authenticated client, authenticate no one with fuzzed bytes,
// and no handler may panic.
func FuzzSecureHandshakes(f *testing.F) {
	sb := startSecureBroker(f)
	f.Add(uint8(0), []byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"))
	f.Add(uint8(0), []byte("\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00"))
	f.Add(uint8(1), []byte("n,,n=admin,r=0123456789abcdef"))
	f.Add(uint8(1), []byte("c=biws,r=x,p=AAAA"))
	f.Add(uint8(2), []byte("\x00admin\x00wrong"))
	f.Add(uint8(3), []byte("\x00\x00\x00\x10\x00\x11\x00\x01\x00\x00\x00\x01\x00\x00\x00\x03\xff\xff"))
	f.Add(uint8(3), []byte("\x00\x00\x00\x08\x00\x24\x00\x02\x00\x00\x00\x01"))
	f.Add(uint8(4), []byte("\x00\x00\x00\x05n,,n="))
	f.Add(uint8(4), []byte("\x7f\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		addr := sb.srv.ListenerAddr("SASL_SSL")
		raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("broker not accepting: %v", err)
		}
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
		// Garbage may leave the broker waiting for more: the answer, if
		// any, is read briefly (what is checked is the broker afterwards).
		briefly := func() { _ = raw.SetReadDeadline(time.Now().Add(200 * time.Millisecond)) }
		switch mode % 5 {
		case 0:
			_, _ = raw.Write(data)
			briefly()
			_, _ = raw.Read(make([]byte, 512))
		case 3, 4:
			cfg := sb.tlsConfig(t, "")
			cfg.ServerName = "127.0.0.1"
			c := tls.Client(raw, cfg)
			if err := c.Handshake(); err != nil {
				t.Fatalf("TLS handshake: %v", err)
			}
			if mode%5 == 4 {
				rc := &rawConn{t: t, conn: c}
				hs := kmsg.NewPtrSASLHandshakeRequest()
				hs.Version, hs.Mechanism = 0, "SCRAM-SHA-256"
				rc.send(hs)
				rc.recv(kmsg.NewPtrSASLHandshakeResponse(), 17)
			}
			_, _ = c.Write(data)
			briefly()
			_, _ = c.Read(make([]byte, 512))
		default:
			cfg := sb.tlsConfig(t, "")
			cfg.ServerName = "127.0.0.1"
			c := tls.Client(raw, cfg)
			if err := c.Handshake(); err != nil {
				t.Fatalf("TLS handshake: %v", err)
			}
			rc := &rawConn{t: t, conn: c}
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version, hs.Mechanism = 1, "SCRAM-SHA-512"
			if mode%5 == 2 {
				hs.Mechanism = "PLAIN"
			}
			rc.send(hs)
			hr := kmsg.NewPtrSASLHandshakeResponse()
			hr.Version = 1
			rc.recv(hr, 17)
			for range 2 {
				a := kmsg.NewPtrSASLAuthenticateRequest()
				a.Version, a.SASLAuthBytes = 2, data
				if _, err := c.Write(rc.frame(a)); err != nil {
					break
				}
				resp := kmsg.NewPtrSASLAuthenticateResponse()
				resp.Version = 2
				if !rc.tryRecv(resp, 36) || resp.ErrorCode != 0 {
					break
				}
			}
			// Whatever happened, no request is served on this connection
			// unless it authenticated, which fuzzed bytes cannot.
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 1
			mr := kmsg.NewPtrMetadataResponse()
			mr.Version = 1
			if _, err := c.Write(rc.frame(md)); err == nil && rc.tryRecv(mr, 3) {
				t.Fatalf("metadata served after fuzzed SASL %q", data)
			}
		}
		if err := sb.saslSSL(t, scram512("admin", "admin-secret")).Ping(t.Context()); err != nil {
			t.Fatalf("broker no longer serves: %v", err)
		}
		if n := gathered(t, sb.srv.registry, "strata_kafka_request_panics_total"); n != 0 {
			t.Fatalf("a handler panicked (%v so far)", n)
		}
	})
}

// frame encodes req with the next correlation id.
func (rc *rawConn) frame(req kmsg.Request) []byte {
	rc.corr++
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, rc.corr)
}

// tryRecv is recv that reports a closed connection or bad response.
func (rc *rawConn) tryRecv(resp kmsg.Response, key int16) bool {
	body, err := rc.readFrame()
	if err != nil || len(body) < 4 {
		return false
	}
	body = body[4:]
	if resp.IsFlexible() && key != 18 && len(body) > 0 {
		body = body[1:]
	}
	return resp.ReadFrom(body) == nil
}
