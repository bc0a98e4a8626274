package main

import (
	"strings"
	"testing"
)

// The user of the server's --sasl-plain-users-file.
const (
	clientsSASLUser     = "alice"
	clientsSASLPassword = "alice-secret"
)

// clientsSASLArgs are librdkafka's settings for SASL PLAIN without TLS.
func clientsSASLArgs(user, password string) []string {
	return []string{"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
		"-X", "sasl.username=" + user, "-X", "sasl.password=" + password}
}

// clientsTestKcatSASL: kcat (librdkafka) authenticates with SASL PLAIN as a
// user of the users file, produces and reads back; a plain kcat on the
// same listener reads the same records (SASL is optional there); a wrong
// password fails with Kafka's message and nothing is served.
func clientsTestKcatSASL(t *testing.T, k *clientsKcat) {
	const topic = "kcat-sasl"
	sasl := clientsSASLArgs(clientsSASLUser, clientsSASLPassword)
	want := "one\ntwo\nthree\n"
	k.run(t, want, append(sasl, "-P", "-X", "request.required.acks=-1", "-t", topic, "-p", "0")...)
	read := func(args ...string) string {
		return k.run(t, "", append(args, "-C", "-t", topic, "-p", "0", "-e", "-o", "beginning", "-f", "%s\n")...)
	}
	if got := read(sasl...); got != want {
		t.Fatalf("read with SASL PLAIN: %q, want %q", got, want)
	}
	if got := read(); got != want {
		t.Fatalf("read without SASL: %q, want %q", got, want)
	}

	args := append([]string{"-b", k.addr, "-X", "broker.address.family=v4"}, clientsSASLArgs(clientsSASLUser, "wrong")...)
	out, errOut, err := clientsRun(t, clientsKcatTimeout, "", k.kcat, append(args, "-L", "-m", "5")...)
	if err == nil {
		t.Fatalf("kcat -L with a wrong password succeeded:\n%s", out)
	}
	if !strings.Contains(errOut, "SASL authentication error: Authentication failed: Invalid username or password") {
		t.Fatalf("kcat -L with a wrong password: %v, stderr without the SASL failure:\n%s", err, clientsTail(errOut, 20))
	}
}
