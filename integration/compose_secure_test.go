package integration

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/auth"
)

// TestComposeSecure brings compose.secure.yaml up: the certs, bucket (over
// https), admin-user (straight to etcd over TLS with a client certificate)
// and demo-topic (SCRAM over TLS) jobs succeed, the three brokers are
// ready (their etcd and MinIO are reached over TLS), and the demo topic
// takes records over SASL_SSL as admin and gives every one back; a
// plaintext client and a wrong password are refused.
func TestComposeSecure(t *testing.T) {
	e, ctx := composeUp(t, "compose.secure.yaml", 19190, "certs", "bucket", "admin-user", "demo-topic")
	id, err := e.run(ctx, "ps", "-q", "certs")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if out, err := exec.CommandContext(ctx, "docker", "cp", strings.TrimSpace(id)+":/data/ca.pem", ca).CombinedOutput(); err != nil {
		t.Fatalf("docker cp ca.pem: %v\n%s", err, out)
	}
	pool, err := auth.LoadCertPool(ca)
	if err != nil {
		t.Fatal(err)
	}
	password := os.Getenv("STRATA_ADMIN_PASSWORD")
	if password == "" {
		password = "admin-secret"
	}
	e.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	e.secure = []kgo.Opt{kgo.SASL(scram.Auth{User: "admin", Pass: password}.AsSha512Mechanism())}
	checkDemoTopic(ctx, t, e)

	plain := &composeEnv{ports: e.ports}
	for _, c := range []struct {
		name string
		dial func(context.Context, string, string) (net.Conn, error)
		opts []kgo.Opt
	}{
		{"plaintext", plain.dial, nil},
		{"no SASL", e.dial, nil},
		{"wrong password", e.dial, []kgo.Opt{kgo.SASL(scram.Auth{User: "admin", Pass: "wrong"}.AsSha512Mechanism())}},
	} {
		name := c.name
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.seeds...), kgo.Dialer(c.dial), kgo.RequestRetries(0)}, c.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = cl.Ping(pctx)
		cancel()
		cl.Close()
		if err == nil {
			t.Fatalf("%s client served", name)
		}
	}
}
