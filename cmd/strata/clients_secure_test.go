package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientsSecure: real clients against `strata serve` with SASL_SSL,
// SASL_PLAINTEXT and SSL (mutual TLS) listeners, the ACL authorizer and a
// super user: certificates from `strata certs` and one client certificate
// made with openssl; users set with `strata user set` through the broker;
// ACLs with `strata acl add`; then kcat, confluent-kafka and kafka-python
// produce and consume with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 over
// both SASL listeners, kcat over mutual TLS, and the failures: a wrong
// password (the broker's SCRAM message reaches kcat), a plaintext client
// on the TLS port, no client certificate on the mTLS port, a user without
// ACLs.
func TestClientsSecure(t *testing.T) {
	if testing.Short() {
		t.Skip("real-client tests start a server and external clients; skipped with -short")
	}
	kcat, kcatErr := exec.LookPath("kcat")
	openssl, opensslErr := exec.LookPath("openssl")
	if opensslErr != nil {
		clientsMissing(t, "openssl not on PATH: %v", opensslErr)
	}
	bin := clientsBuildStrata(t)
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	run := func(name string, args ...string) string {
		t.Helper()
		out, errOut, err := clientsRun(t, 60*time.Second, "", name, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	run(bin, "certs", "--dir", certs, "--hosts", "localhost,127.0.0.1", "--client", "admin")
	// carol's certificate is made by openssl, signed by the same CA.
	ca, caKey := filepath.Join(certs, "ca.pem"), filepath.Join(certs, "ca-key.pem")
	carolKey, carolCSR, carolCert := filepath.Join(certs, "carol-key.pem"), filepath.Join(certs, "carol.csr"), filepath.Join(certs, "carol.pem")
	run(openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", carolKey, "-out", carolCSR, "-subj", "/CN=carol/O=Strata Tests")
	run(openssl, "x509", "-req", "-in", carolCSR, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-days", "2", "-out", carolCert)

	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("admin:admin-pw\npaula:paula-pw\nnobody:nobody-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	saslSSL, saslPlain, ssl, plain, metrics := clientsFreeAddr(t), clientsFreeAddr(t), clientsFreeAddr(t), clientsFreeAddr(t), clientsFreeAddr(t)
	srv := clientsStartCustom(t, bin, dir, metrics, plain,
		"--listeners", "SASL_SSL://"+saslSSL+",SASL_PLAINTEXT://"+saslPlain+",SSL://"+ssl+",PLAINTEXT://"+plain,
		"--tls-cert-file", filepath.Join(certs, "broker.pem"), "--tls-key-file", filepath.Join(certs, "broker-key.pem"),
		"--tls-client-ca-file", ca,
		"--sasl-mechanisms", "PLAIN,SCRAM-SHA-512,SCRAM-SHA-256",
		"--sasl-plain-users-file", users,
		"--authorizer", "acl", "--super-users", "User:admin;User:CN=admin")
	defer srv.stop(t)

	admin := []string{"--brokers", saslSSL, "--security-protocol", "SASL_SSL", "--tls-ca-file", ca,
		"--sasl-mechanism", "PLAIN", "--sasl-username", "admin", "--sasl-password", "admin-pw"}
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		run(bin, append([]string{"user", "set", "alice", "--mechanism", mech, "--password", "alice-pw"}, admin...)...)
	}
	if out := run(bin, append([]string{"user", "list"}, admin...)...); !strings.Contains(out, "alice") || !strings.Contains(out, "SCRAM-SHA-512(8192)") || !strings.Contains(out, "SCRAM-SHA-256(8192)") {
		t.Fatalf("strata user list:\n%s", out)
	}
	for _, p := range []string{"User:alice", "User:paula", "User:CN=carol,O=Strata Tests"} {
		run(bin, append([]string{"acl", "add", "--allow-principal", p, "--operation", "all", "--topic", "sec-", "--resource-pattern-type", "prefixed"}, admin...)...)
		run(bin, append([]string{"acl", "add", "--allow-principal", p, "--operation", "read", "--group", "sec-", "--resource-pattern-type", "prefixed"}, admin...)...)
	}
	if out := run(bin, append([]string{"acl", "list", "--topic", "sec-x", "--resource-pattern-type", "match"}, admin...)...); strings.Count(out, "User:") != 3 {
		t.Fatalf("strata acl list (match sec-x):\n%s", out)
	}

	// saslAddr is the listener of each SASL protocol.
	saslAddr := map[string]string{"SASL_SSL": saslSSL, "SASL_PLAINTEXT": saslPlain}
	saslConf := func(proto, mech, user, pass string) map[string]string {
		c := map[string]string{"security.protocol": proto, "sasl.mechanism": mech, "sasl.username": user, "sasl.password": pass}
		if proto == "SASL_SSL" {
			c["ssl.ca.location"] = ca
		}
		return c
	}
	// logins are the SASL logins every client shows on both listeners:
	// paula has a PLAIN password (the users file), alice SCRAM
	// credentials of both hashes (etcd).
	type login struct{ proto, mech, user, pass string }
	var logins []login
	for _, proto := range []string{"SASL_SSL", "SASL_PLAINTEXT"} {
		logins = append(logins, login{proto, "PLAIN", "paula", "paula-pw"},
			login{proto, "SCRAM-SHA-256", "alice", "alice-pw"}, login{proto, "SCRAM-SHA-512", "alice", "alice-pw"})
	}
	kcatArgs := func(addr string, conf map[string]string) []string {
		args := []string{"-b", addr, "-X", "broker.address.family=v4"}
		for k, v := range conf {
			args = append(args, "-X", k+"="+v)
		}
		return args
	}
	t.Run("kcat", func(t *testing.T) {
		if kcatErr != nil {
			clientsMissing(t, "kcat not on PATH: %v", kcatErr)
		}
		type kcatCase struct {
			name, addr string
			conf       map[string]string
		}
		cases := []kcatCase{{"mTLS", ssl, map[string]string{"security.protocol": "SSL", "ssl.ca.location": ca,
			"ssl.certificate.location": carolCert, "ssl.key.location": carolKey}}}
		for _, l := range logins {
			cases = append(cases, kcatCase{l.proto + " " + l.mech, saslAddr[l.proto], saslConf(l.proto, l.mech, l.user, l.pass)})
		}
		for i, c := range cases {
			topic := fmt.Sprintf("sec-kcat-%d", i)
			base := kcatArgs(c.addr, c.conf)
			out, errOut, err := clientsRun(t, clientsKcatTimeout, "one\ntwo\n", kcat, append(base, "-P", "-t", topic, "-p", "0")...)
			if err != nil || strings.Contains(errOut, "ERROR") {
				t.Fatalf("%s: kcat produce: %v\n%s%s", c.name, err, out, errOut)
			}
			out, errOut, err = clientsRun(t, clientsKcatTimeout, "", kcat, append(base, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%s\n")...)
			if err != nil || out != "one\ntwo\n" {
				t.Fatalf("%s: kcat consume: %q, %v\n%s", c.name, out, err, errOut)
			}
		}
		for _, f := range []struct {
			name string
			args []string
			want string
		}{
			{"wrong password SCRAM-SHA-512", kcatArgs(saslSSL, saslConf("SASL_SSL", "SCRAM-SHA-512", "alice", "wrong")), "Authentication failed: Invalid user credentials"},
			{"wrong password SCRAM-SHA-256", kcatArgs(saslPlain, saslConf("SASL_PLAINTEXT", "SCRAM-SHA-256", "alice", "wrong")), "Authentication failed: Invalid user credentials"},
			{"unknown SCRAM user", kcatArgs(saslPlain, saslConf("SASL_PLAINTEXT", "SCRAM-SHA-512", "mallory", "alice-pw")), "Authentication failed: Invalid user credentials"},
			{"wrong password PLAIN", kcatArgs(saslPlain, saslConf("SASL_PLAINTEXT", "PLAIN", "paula", "wrong")), "Authentication failed"},
			{"plaintext on the TLS port", kcatArgs(saslSSL, map[string]string{"security.protocol": "PLAINTEXT"}), ""},
			{"no client certificate", kcatArgs(ssl, map[string]string{"security.protocol": "SSL", "ssl.ca.location": ca}), ""},
			{"no ACL", kcatArgs(saslSSL, saslConf("SASL_SSL", "PLAIN", "nobody", "nobody-pw")), ""},
		} {
			args := append(f.args, "-L", "-t", "sec-kcat-1", "-m", "5")
			out, errOut, err := clientsRun(t, clientsKcatTimeout, "", kcat, args...)
			if f.name == "no ACL" {
				// Served, but the topic is not shown: authorization failed.
				if strings.Contains(out, `topic "sec-kcat-1" with 1 partitions`) || !strings.Contains(out+errOut, "authoriz") {
					t.Fatalf("%s: kcat -L showed the topic:\n%s%s", f.name, out, errOut)
				}
				continue
			}
			if err == nil {
				t.Fatalf("%s: kcat -L succeeded:\n%s", f.name, out)
			}
			if !strings.Contains(errOut, f.want) {
				t.Fatalf("%s: stderr without %q:\n%s", f.name, f.want, clientsTail(errOut, 10))
			}
		}
	})
	python := func(t *testing.T, lib, module, addr, topic string, conf map[string]string, expectFail bool) map[string]any {
		t.Helper()
		if err := clientsPythonModule(module); err != nil {
			clientsMissing(t, "%s cannot import %s: %v", clientsPython, module, err)
		}
		script, _ := filepath.Abs(filepath.Join("testdata", "clients", "secure_client.py"))
		raw, _ := json.Marshal(conf)
		args := []string{"-I", script, lib, addr, topic, string(raw)}
		if expectFail {
			args = append(args, "expect-fail")
		}
		out, errOut, err := clientsRun(t, clientsCmdTimeout, "", clientsPython, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", lib, topic, err, clientsTail(errOut, 30))
		}
		var sum map[string]any
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &sum); err != nil {
			t.Fatalf("%s: summary %q: %v", lib, out, err)
		}
		return sum
	}
	for _, lib := range []struct{ name, module string }{{"confluent", "confluent_kafka"}, {"kafka-python", "kafka"}} {
		t.Run(lib.name, func(t *testing.T) {
			for _, l := range logins {
				topic := "sec-" + lib.name + "-" + strings.ToLower(l.proto+"-"+l.mech)
				run(bin, append([]string{"topic", "create", topic, "--partitions", "1"}, admin...)...)
				sum := python(t, lib.name, lib.module, saslAddr[l.proto], topic, saslConf(l.proto, l.mech, l.user, l.pass), false)
				if sum["consumed"] != 20.0 {
					t.Fatalf("%s %s %s: %v", lib.name, l.proto, l.mech, sum)
				}
			}
			sum := python(t, lib.name, lib.module, saslSSL, "sec-x", saslConf("SASL_SSL", "SCRAM-SHA-512", "alice", "wrong"), true)
			// The clients' reports of a refused login: kafka-python only
			// NoBrokersAvailable, confluent-kafka's list_topics a transport
			// failure (kcat above checks the broker's exact message).
			if e, _ := sum["error"].(string); !strings.Contains(strings.ToLower(e), "auth") && !strings.Contains(e, "NoBrokersAvailable") && !strings.Contains(e, "_TRANSPORT") {
				t.Fatalf("%s wrong password: %v", lib.name, sum)
			}
		})
	}
	// The broker served on through every failure.
	resp, err := http.Get("http://" + metrics + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz after the failures: %v %v", err, resp)
	}
	resp.Body.Close()
}

// clientsStartCustom starts `strata serve` with extra flags and waits for
// /readyz; plainAddr is a PLAINTEXT listener among them (for the data
// directory's readiness check nothing else is needed).
func clientsStartCustom(t *testing.T, bin, dir, metrics, plainAddr string, extra ...string) *clientsServer {
	t.Helper()
	s := &clientsServer{bin: bin, addr: plainAddr, metricsAddr: metrics, dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "strata.log"), extraArgs: extra}
	s.cleanupAndStart(t)
	return s
}
