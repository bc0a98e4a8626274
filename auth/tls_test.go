package auth

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTLSReload: a renewed certificate written over the old files is
// served at the next handshake after the reload check, without a restart;
// a broken renewal keeps the previous certificate.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca, err := OpenDevCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("broker", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewTLSServer(TLSFiles{CertFile: cert, KeyFile: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.Config(false))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool, err := LoadCertPool(ca.CertFile())
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	if _, _, err := ca.Issue("broker", []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for serial() == first {
		if time.Now().After(deadline) {
			t.Fatal("renewed certificate never served")
		}
		time.Sleep(200 * time.Millisecond)
	}
	renewed := serial()
	// A broken renewal: the previous certificate stays.
	if err := os.WriteFile(filepath.Join(dir, "broker.pem"), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	if got := serial(); got != renewed {
		t.Fatalf("serving %s after a broken renewal, want the previous %s", got, renewed)
	}
	if err := srv.Reload(); err == nil {
		t.Fatal("Reload of a broken certificate succeeded")
	}
}

// TestMutualTLSPrincipal: an SSL-style config requires a client
// certificate chaining to the CA; the principal is its subject.
func TestMutualTLSPrincipal(t *testing.T) {
	dir := t.TempDir()
	ca, _ := OpenDevCA(dir)
	cert, key, _ := ca.Issue("broker", []string{"127.0.0.1"})
	ccert, ckey, _ := ca.Issue("alice", nil)
	srv, err := NewTLSServer(TLSFiles{CertFile: cert, KeyFile: key, ClientCAFile: ca.CertFile(), MinVersion: "1.3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := tls.Listen("tcp", "127.0.0.1:0", srv.Config(true))
	defer ln.Close()
	principals := make(chan string, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if tc.Handshake() == nil {
				principals <- CertPrincipal(tc.ConnectionState().PeerCertificates[0])
			} else {
				principals <- ""
			}
			c.Close()
		}
	}()
	pool, _ := LoadCertPool(ca.CertFile())
	pair, _ := tls.LoadX509KeyPair(ccert, ckey)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if p := <-principals; p != "User:CN=alice" {
		t.Fatalf("principal %q, want User:CN=alice", p)
	}
	raw, _ := net.Dial("tcp", ln.Addr().String())
	nc := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	_ = nc.Handshake()
	buf := make([]byte, 1)
	_, _ = nc.Read(buf) // TLS 1.3: the refusal arrives after the client's handshake
	nc.Close()
	if p := <-principals; p != "" {
		t.Fatalf("a client without a certificate was accepted as %q", p)
	}
	if _, err := NewTLSServer(TLSFiles{CertFile: cert, KeyFile: key, CipherSuites: []string{"TLS_RSA_WITH_RC4_128_SHA"}}, nil); err == nil {
		t.Fatal("an insecure cipher suite was accepted")
	}
}
