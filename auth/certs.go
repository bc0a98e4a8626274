package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/stratalog/strata/fileutil"
)

// A development certificate authority: a self-signed CA (ECDSA P-256) in
// a directory, and certificates it signs for brokers (server and client
// use, with the host names and IPs given as subject alternative names)
// and for clients (client use, subject CN=<name>). For local use and
// tests; production certificates come from the operator's own CA.
//
// Files, all PEM: ca.pem, ca-key.pem, and <name>.pem, <name>-key.pem for
// each certificate.

// DevCA is a loaded development CA.
type DevCA struct {
	Dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// certValidity is how long development certificates last.
const certValidity = 825 * 24 * time.Hour

// OpenDevCA loads the CA of dir, creating it if absent.
func OpenDevCA(dir string) (*DevCA, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dev CA: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("dev CA %s: %w", certPath, err)
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("dev CA %s: key is not ECDSA", keyPath)
		}
		return &DevCA{Dir: dir, cert: cert, key: key}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("dev CA %s: %w", certPath, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Strata development CA", Organization: []string{"Strata"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("dev CA: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := writePair(dir, "ca", der, key); err != nil {
		return nil, err
	}
	return &DevCA{Dir: dir, cert: cert, key: key}, nil
}

// CertFile is the CA's certificate file (the bundle clients trust).
func (ca *DevCA) CertFile() string { return filepath.Join(ca.Dir, "ca.pem") }

// Issue writes <name>.pem and <name>-key.pem, signed by the CA: a server
// and client certificate for hosts when hosts is not empty, else a client
// certificate. The subject is CN=<name>.
func (ca *DevCA) Issue(name string, hosts []string) (certFile, keyFile string, err error) {
	if name == "" || name == "ca" || filepath.Base(name) != name {
		return "", "", fmt.Errorf("certificate name %q: want a plain file name other than ca", name)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return "", "", fmt.Errorf("certificate %s: %w", name, err)
	}
	if err := writePair(ca.Dir, name, der, key); err != nil {
		return "", "", err
	}
	return filepath.Join(ca.Dir, name+".pem"), filepath.Join(ca.Dir, name+"-key.pem"), nil
}

func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := fileutil.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return fmt.Errorf("write %s key: %w", name, err)
	}
	if err := fileutil.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("write %s certificate: %w", name, err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
