package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// TLSFiles configures a TLS server: a PEM certificate chain and key, and,
// for mutual TLS, the CA bundle that client certificates must chain to.
// MinVersion is "1.2" or "1.3" (default 1.2); CipherSuites names Go's
// suites (tls.CipherSuites; TLS 1.3 suites are not configurable in Go).
type TLSFiles struct {
	CertFile, KeyFile string
	ClientCAFile      string
	MinVersion        string
	CipherSuites      []string
}

// ErrNoCertificate is returned when a TLS listener has no certificate.
var ErrNoCertificate = errors.New("TLS needs --tls-cert-file and --tls-key-file")

// reloadCheck is how often, at most, a handshake looks at the files'
// modification times.
const reloadCheck = time.Second

// TLSServer is a TLS server configuration whose certificate, key and
// client CAs are read again when their files change (checked at most once
// a second, at a handshake) or when Reload is called (SIGHUP): renewed
// certificates are served without a restart, and a renewal that does not
// parse keeps the previous one (logged).
type TLSServer struct {
	files TLSFiles
	base  *tls.Config
	log   *slog.Logger

	mu      sync.Mutex
	cur     *tls.Config
	stamps  string // modification times of the files cur was read from
	checked time.Time
}

// NewTLSServer reads the files and returns the configuration.
func NewTLSServer(files TLSFiles, log *slog.Logger) (*TLSServer, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, ErrNoCertificate
	}
	if log == nil {
		log = slog.Default()
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	switch files.MinVersion {
	case "", "1.2", "TLSv1.2":
	case "1.3", "TLSv1.3":
		base.MinVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("TLS min version %q: want 1.2 or 1.3", files.MinVersion)
	}
	if len(files.CipherSuites) > 0 {
		known := map[string]uint16{}
		for _, cs := range tls.CipherSuites() {
			known[cs.Name] = cs.ID
		}
		for _, name := range files.CipherSuites {
			id, ok := known[strings.TrimSpace(name)]
			if !ok {
				return nil, fmt.Errorf("TLS cipher suite %q: not one of Go's secure suites", name)
			}
			base.CipherSuites = append(base.CipherSuites, id)
		}
	}
	t := &TLSServer{files: files, base: base, log: log}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Config is the tls.Config to serve with; each handshake gets the current
// certificate. With client CAs, requireClientCert asks every client for a
// certificate chaining to them (an SSL listener, mutual TLS); without it a
// certificate is verified if given (SASL_SSL, where SASL authenticates).
func (t *TLSServer) Config(requireClientCert bool) *tls.Config {
	return &tls.Config{
		MinVersion: t.base.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg := t.current()
			if cfg.ClientCAs != nil && !requireClientCert {
				cfg = cfg.Clone()
				cfg.ClientAuth = tls.VerifyClientCertIfGiven
			}
			return cfg, nil
		},
	}
}

// Certificate is the current certificate (a broker's, presented as a
// client to its peers).
func (t *TLSServer) Certificate() *tls.Certificate {
	return &t.current().Certificates[0]
}

// MutualTLS reports whether client certificates are required.
func (t *TLSServer) MutualTLS() bool { return t.files.ClientCAFile != "" }

// Reload reads the files again; on error the previous configuration stays.
func (t *TLSServer) Reload() error {
	stamps := t.stampsNow()
	cfg, err := t.load()
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.cur, t.stamps, t.checked = cfg, stamps, time.Now()
	t.mu.Unlock()
	return nil
}

func (t *TLSServer) current() *tls.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.checked) < reloadCheck {
		return t.cur
	}
	t.checked = time.Now()
	stamps := t.stampsNow()
	if stamps == t.stamps {
		return t.cur
	}
	cfg, err := t.load()
	if err != nil {
		t.log.Error("TLS files changed but do not load; serving the previous certificate", "err", err)
		t.stamps = stamps // do not retry every second until they change again
		return t.cur
	}
	t.log.Info("TLS certificate reloaded", "cert_file", t.files.CertFile)
	t.cur, t.stamps = cfg, stamps
	return t.cur
}

func (t *TLSServer) stampsNow() string {
	var b strings.Builder
	for _, f := range []string{t.files.CertFile, t.files.KeyFile, t.files.ClientCAFile} {
		if f == "" {
			continue
		}
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%d/%d;", st.ModTime().UnixNano(), st.Size())
		}
	}
	return b.String()
}

func (t *TLSServer) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.files.CertFile, t.files.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s, key %s: %w", t.files.CertFile, t.files.KeyFile, err)
	}
	cfg := t.base.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	if t.files.ClientCAFile != "" {
		pool, err := LoadCertPool(t.files.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// LoadCertPool reads a PEM bundle of CA certificates.
func LoadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate", path)
	}
	return pool, nil
}

// CertPrincipal is the principal of a client certificate, as Kafka's
// default ssl.principal.mapping.rules name it: User: and the subject's
// distinguished name in RFC 2253 form ("User:CN=alice,O=Example").
func CertPrincipal(cert *x509.Certificate) string {
	return "User:" + cert.Subject.String()
}
