package main

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/auth"
)

// clientSecurity is how the tools that talk to a cluster (topic, group,
// user, acl, ...) authenticate: the security protocol of the listener
// they connect to, TLS trust and client certificate, SASL mechanism and
// credentials.
type clientSecurity struct {
	protocol              string
	caFile, certFile, key string
	mechanism, user, pass string
	token                 string
}

func (c *clientSecurity) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.protocol, "security-protocol", "PLAINTEXT", "security protocol of the listener: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
	f.StringVar(&c.caFile, "tls-ca-file", "", "PEM CA bundle to verify the brokers with (default: the system roots)")
	f.StringVar(&c.certFile, "tls-cert-file", "", "PEM client certificate (mutual TLS)")
	f.StringVar(&c.key, "tls-key-file", "", "PEM key of --tls-cert-file")
	f.StringVar(&c.mechanism, "sasl-mechanism", "PLAIN", "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
	f.StringVar(&c.user, "sasl-username", "", "SASL user")
	f.StringVar(&c.pass, "sasl-password", "", "SASL password")
	f.StringVar(&c.token, "sasl-oauthbearer-token", "", "OAUTHBEARER token (a JWT)")
}

// opts are the franz-go options for the protocol.
func (c *clientSecurity) opts() ([]kgo.Opt, error) {
	var out []kgo.Opt
	p := strings.ToUpper(c.protocol)
	switch p {
	case "PLAINTEXT", "SASL_PLAINTEXT":
	case "SSL", "SASL_SSL":
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.caFile != "" {
			pool, err := auth.LoadCertPool(c.caFile)
			if err != nil {
				return nil, err
			}
			cfg.RootCAs = pool
		}
		if c.certFile != "" {
			pair, err := tls.LoadX509KeyPair(c.certFile, c.key)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert-file: %w", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		out = append(out, kgo.DialTLSConfig(cfg))
	default:
		return nil, fmt.Errorf("--security-protocol %q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", c.protocol)
	}
	if !strings.HasPrefix(p, "SASL_") {
		return out, nil
	}
	switch m := strings.ToUpper(c.mechanism); m {
	case "PLAIN":
		out = append(out, kgo.SASL(plain.Auth{User: c.user, Pass: c.pass}.AsMechanism()))
	case auth.ScramSHA256:
		out = append(out, kgo.SASL(scram.Auth{User: c.user, Pass: c.pass}.AsSha256Mechanism()))
	case auth.ScramSHA512:
		out = append(out, kgo.SASL(scram.Auth{User: c.user, Pass: c.pass}.AsSha512Mechanism()))
	case "OAUTHBEARER":
		out = append(out, kgo.SASL(oauth.Auth{Token: c.token}.AsMechanism()))
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", c.mechanism)
	}
	return out, nil
}
