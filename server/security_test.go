package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/auth"
)

// secureBroker is a broker with SASL_SSL, SSL (mutual TLS) and PLAINTEXT
// listeners, the ACL authorizer, User:admin as super user, and certificates
// of a development CA.
type secureBroker struct {
	*testBroker
	ca      *auth.DevCA
	dir     string
	users   string // the PLAIN users file
	clients map[string][2]string
}

func startSecureBroker(t *testing.T, mutate ...func(*Config)) *secureBroker {
	t.Helper()
	dir := t.TempDir()
	ca, err := auth.OpenDevCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("broker", []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	sb := &secureBroker{ca: ca, dir: dir, users: filepath.Join(dir, "users"), clients: map[string][2]string{}}
	for _, c := range []string{"carol", "admin"} {
		cc, ck, err := ca.Issue(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		sb.clients[c] = [2]string{cc, ck}
	}
	if err := os.WriteFile(sb.users, []byte("paula:paula-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sb.testBroker = startBroker(t, append([]func(*Config){func(c *Config) {
		c.Listeners = "SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0"
		c.TLS = auth.TLSFiles{CertFile: cert, KeyFile: key, ClientCAFile: ca.CertFile()}
		c.SASLMechanisms = []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}
		c.SASLPlainUsersFile = sb.users
		c.Authorizer = "acl"
		c.SuperUsers = "User:admin;User:CN=admin"
	}}, mutate...)...)
	ctx := testCtx(t)
	for _, u := range []struct{ name, mech, pass string }{{"admin", auth.ScramSHA512, "admin-secret"}} {
		cred, err := auth.NewScramCredential(u.mech, u.name, u.pass, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.srv.meta.PutScramCredential(ctx, u.name, cred); err != nil {
			t.Fatal(err)
		}
	}
	return sb
}

// tlsConfig trusts the dev CA and, for a named client, presents its
// certificate.
func (sb *secureBroker) tlsConfig(t *testing.T, client string) *tls.Config {
	t.Helper()
	pool, err := auth.LoadCertPool(sb.ca.CertFile())
	if err != nil {
		t.Fatal(err)
	}
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if client != "" {
		pair, err := tls.LoadX509KeyPair(sb.clients[client][0], sb.clients[client][1])
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c
}

// saslSSL is a client on the SASL_SSL listener with mechanism m.
func (sb *secureBroker) saslSSL(t *testing.T, m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return sb.on(t, "SASL_SSL", append([]kgo.Opt{kgo.DialTLSConfig(sb.tlsConfig(t, "")), kgo.SASL(m)}, opts...)...)
}

func (sb *secureBroker) on(t *testing.T, listener string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(sb.srv.ListenerAddr(listener)), kgo.RetryTimeout(5 * time.Second),
		kgo.RequestRetries(2)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func scram512(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
}

func listenerPort(t *testing.T, sb *secureBroker, name string) int32 {
	_, p, err := net.SplitHostPort(sb.srv.ListenerAddr(name))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return int32(n)
}

// TestSecureListeners: SCRAM over SASL_SSL, a SCRAM user created through
// AlterUserScramCredentials, PLAIN from the users file, mutual TLS on the
// SSL listener (principal from the certificate's subject), Metadata giving
// the addresses of the listener the client came in on, ACLs through the
// Kafka API (prefixed and literal, deny over allow), Metadata hiding what a
// principal may not describe, and the failures clients must see: wrong
// password, unknown mechanism, no client certificate, plaintext on a TLS
// port; the broker serves on after each.
func TestSecureListeners(t *testing.T) {
	sb := startSecureBroker(t)
	ctx := testCtx(t)
	admin := sb.saslSSL(t, scram512("admin", "admin-secret"))
	adm := kadm.NewClient(admin)

	t.Run("metadata answers with the listener's addresses", func(t *testing.T) {
		for _, l := range []struct {
			name string
			cl   *kgo.Client
		}{{"SASL_SSL", admin}, {"PLAINTEXT", sb.on(t, "PLAINTEXT")}, {"SSL", sb.on(t, "SSL", kgo.DialTLSConfig(sb.tlsConfig(t, "admin")))}} {
			m, err := kadm.NewClient(l.cl).BrokerMetadata(ctx)
			if err != nil {
				t.Fatalf("%s: %v", l.name, err)
			}
			if len(m.Brokers) != 1 || m.Brokers[0].Port != listenerPort(t, sb, l.name) {
				t.Fatalf("%s: brokers %+v, want port %d", l.name, m.Brokers, listenerPort(t, sb, l.name))
			}
		}
	})

	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "alice-orders"); err != nil {
		t.Fatal(err)
	}

	t.Run("AlterUserScramCredentials creates a user who authenticates", func(t *testing.T) {
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-secret"}})
		if err != nil || res["alice"].Err != nil {
			t.Fatalf("AlterUserSCRAMs: %v %v", err, res["alice"].Err)
		}
		d, err := adm.DescribeUserSCRAMs(ctx, "alice")
		if err != nil || len(d["alice"].CredInfos) != 1 || d["alice"].CredInfos[0].Mechanism != kadm.ScramSha256 {
			t.Fatalf("DescribeUserSCRAMs: %+v %v", d, err)
		}
		// A broker's name is refused.
		res, _ = adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "strata-broker-1", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "x"}})
		if res["strata-broker-1"].Err == nil {
			t.Fatal("a SCRAM credential for a broker's name was stored")
		}
	})
	alice := sb.saslSSL(t, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism())

	t.Run("no ACL: denied, and names hidden", func(t *testing.T) {
		err := alice.ProduceSync(ctx, &kgo.Record{Topic: "alice-orders", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce without ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		req := kmsg.NewPtrMetadataRequest()
		resp, err := req.RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range resp.Topics {
			t.Fatalf("metadata of every topic shows %v to a principal without Describe", *mt.Topic)
		}
	})

	t.Run("ACLs through the Kafka API", func(t *testing.T) {
		b := kadm.NewACLs().Topics("alice-").ResourcePatternType(kadm.ACLPatternPrefixed).
			Allow("User:alice").Operations(kadm.OpWrite, kadm.OpRead).AllowHosts("*")
		if res, err := adm.CreateACLs(ctx, b); err != nil || res[0].Err != nil {
			t.Fatalf("CreateACLs: %v %+v", err, res)
		}
		b = kadm.NewACLs().Groups("alice-group").Allow("User:alice").Operations(kadm.OpRead).AllowHosts("*")
		if res, err := adm.CreateACLs(ctx, b); err != nil || res[0].Err != nil {
			t.Fatalf("CreateACLs: %v %+v", err, res)
		}
		if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "alice-orders", Value: []byte("a1")}).FirstErr(); err != nil {
			t.Fatalf("produce with a prefixed ACL: %v", err)
		}
		if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce to another topic: %v", err)
		}
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, mt := range resp.Topics {
			names = append(names, *mt.Topic)
		}
		if strings.Join(names, ",") != "alice-orders" {
			t.Fatalf("alice sees topics %v, want only alice-orders", names)
		}
		consumer := sb.saslSSL(t, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(),
			kgo.ConsumeTopics("alice-orders"), kgo.ConsumerGroup("alice-group"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		fs := consumer.PollFetches(ctx)
		if err := fs.Err(); err != nil || len(fs.Records()) != 1 {
			t.Fatalf("consume in an allowed group: %v, %d records", err, len(fs.Records()))
		}
		if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		// Deny wins over the prefixed allow.
		b = kadm.NewACLs().Topics("alice-orders").Deny("User:alice").Operations(kadm.OpWrite).DenyHosts("*")
		if res, err := adm.CreateACLs(ctx, b); err != nil || res[0].Err != nil {
			t.Fatalf("CreateACLs deny: %v %+v", err, res)
		}
		if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "alice-orders", Value: []byte("a2")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce under a deny: %v", err)
		}
		dreq := kmsg.NewPtrDescribeACLsRequest()
		dreq.ResourceType, dreq.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		dreq.Operation, dreq.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		described, err := dreq.RequestWith(ctx, admin)
		n := 0
		for _, r := range described.Resources {
			n += len(r.ACLs)
		}
		if err != nil || described.ErrorCode != 0 || n != 4 {
			t.Fatalf("DescribeACLs: %v %+v: %d bindings, want 4", err, described, n)
		}
		deleted, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("alice-orders").Deny("User:alice").Operations(kadm.OpWrite).DenyHosts("*"))
		if err != nil || deleted[0].Err != nil || len(deleted[0].Deleted) != 1 {
			t.Fatalf("DeleteACLs: %v %+v", err, deleted)
		}
		if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "alice-orders", Value: []byte("a3")}).FirstErr(); err != nil {
			t.Fatalf("produce after the deny is deleted: %v", err)
		}
		// alice may not change ACLs.
		if res, err := kadm.NewClient(alice).CreateACLs(ctx, kadm.NewACLs().Clusters().Allow("User:alice").Operations(kadm.OpAll).AllowHosts("*")); err == nil && res[0].Err == nil {
			t.Fatal("alice granted herself everything")
		}
	})

	t.Run("PLAIN from the users file", func(t *testing.T) {
		cl := sb.saslSSL(t, plain.Auth{User: "paula", Pass: "paula-secret"}.AsMechanism())
		if err := cl.Ping(ctx); err != nil {
			t.Fatalf("PLAIN: %v", err)
		}
		cl = sb.saslSSL(t, plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())
		if _, err := kadm.NewClient(cl).ListTopics(ctx); err != nil {
			t.Fatalf("PLAIN checked against the SCRAM credential in etcd: %v", err)
		}
	})

	t.Run("mutual TLS principal from the subject", func(t *testing.T) {
		carol := sb.on(t, "SSL", kgo.DialTLSConfig(sb.tlsConfig(t, "carol")))
		if err := carol.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("c")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("carol without ACL: %v", err)
		}
		b := kadm.NewACLs().Topics("secret").Allow("User:CN=carol").Operations(kadm.OpWrite).AllowHosts("127.0.0.1")
		if res, err := adm.CreateACLs(ctx, b); err != nil || res[0].Err != nil {
			t.Fatalf("CreateACLs: %v %+v", err, res)
		}
		if err := carol.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("c")}).FirstErr(); err != nil {
			t.Fatalf("carol with an ACL on her subject: %v", err)
		}
	})

	failing := []struct {
		name string
		cl   func() *kgo.Client
		want string
	}{
		{"wrong password", func() *kgo.Client { return sb.saslSSL(t, scram512("admin", "wrong")) }, "SASL_AUTHENTICATION_FAILED"},
		{"unknown user", func() *kgo.Client { return sb.saslSSL(t, scram512("nobody", "x")) }, "SASL_AUTHENTICATION_FAILED"},
		{"unknown mechanism", func() *kgo.Client {
			return sb.saslSSL(t, oauthMech{})
		}, "UNSUPPORTED_SASL_MECHANISM"},
		{"no client certificate on the mTLS listener", func() *kgo.Client { return sb.on(t, "SSL", kgo.DialTLSConfig(sb.tlsConfig(t, ""))) }, "certificate"},
		{"plaintext client on a TLS port", func() *kgo.Client { return sb.on(t, "SASL_SSL") }, ""},
		{"no SASL on the SASL_SSL listener", func() *kgo.Client { return sb.on(t, "SASL_SSL", kgo.DialTLSConfig(sb.tlsConfig(t, ""))) }, ""},
	}
	for _, f := range failing {
		t.Run(f.name, func(t *testing.T) {
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := kadm.NewClient(f.cl()).ListTopics(fctx)
			if err == nil {
				t.Fatal("served")
			}
			if !strings.Contains(err.Error(), f.want) {
				t.Fatalf("error %v, want one mentioning %q", err, f.want)
			}
			if err := admin.Ping(ctx); err != nil {
				t.Fatalf("broker no longer serves: %v", err)
			}
		})
	}
}

// oauthMech is a mechanism the broker does not offer.
type oauthMech struct{}

func (oauthMech) Name() string { return "OAUTHBEARER" }
func (oauthMech) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return nil, nil, errors.New("not to be reached")
}
