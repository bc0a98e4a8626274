package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/ingest"
)

// plainCredentials checks SASL PLAIN credentials on the Kafka listener:
// the brokers' own (derived from the cluster secret, package broker's
// credential.go), the users of --sasl-plain-users-file, and, for users not
// in the file, the SCRAM credentials in etcd (salted; the password is
// checked by salting it the same way).
type plainCredentials struct {
	secret []byte
	users  map[string]string
	scram  interface {
		checkScramPassword(ctx context.Context, user, password string) error
	}
}

func (c plainCredentials) CheckPlain(ctx context.Context, user, password string) error {
	if id, ok := broker.ParseInterBrokerUser(user); ok {
		return broker.CheckInterBrokerPassword(c.secret, id, password)
	}
	want, ok := c.users[user]
	if !ok {
		if c.scram != nil {
			return c.scram.checkScramPassword(ctx, user, password)
		}
		return ingest.ErrUnknownUser
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return ingest.ErrWrongPassword
	}
	return nil
}

// replicaAuthorizer lets broker N, and only it, fetch as replica N, and
// any broker send the other inter-broker requests (WriteTxnMarkers).
type replicaAuthorizer struct{}

func (replicaAuthorizer) AuthorizeReplica(principal string, replicaID int32) bool {
	return principal == "User:"+broker.InterBrokerUser(replicaID)
}

// AuthorizeBroker lets any broker's inter-broker identity make the
// broker-to-broker requests.
func (replicaAuthorizer) AuthorizeBroker(principal string) bool {
	user, ok := strings.CutPrefix(principal, "User:")
	if !ok {
		return false
	}
	_, ok = broker.ParseInterBrokerUser(user)
	return ok
}

// loadPlainUsers reads a SASL PLAIN users file: a JSON object of user to
// password, or lines "user:password" (the password is the rest of the
// line, colons included; blank lines and lines starting with # are
// skipped). User names reserved for brokers are refused, so that no file
// can give out a broker's identity.
func loadPlainUsers(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sasl plain users file: %w", err)
	}
	users := map[string]string{}
	add := func(where, user, password string) error {
		switch {
		case user == "" || password == "":
			return fmt.Errorf("sasl plain users file %s%s: empty user or password", path, where)
		case strings.ContainsRune(user, 0) || strings.ContainsRune(password, 0):
			return fmt.Errorf("sasl plain users file %s%s: NUL in user %q or its password", path, where, user)
		case strings.HasPrefix(user, broker.InterBrokerUserPrefix):
			return fmt.Errorf("sasl plain users file %s%s: user %q: names starting with %q are the brokers' own", path, where, user, broker.InterBrokerUserPrefix)
		}
		if _, dup := users[user]; dup {
			return fmt.Errorf("sasl plain users file %s%s: user %q twice", path, where, user)
		}
		users[user] = password
		return nil
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, fmt.Errorf("sasl plain users file %s: %w", path, err)
		}
		for u, p := range m {
			if err := add("", u, p); err != nil {
				return nil, err
			}
		}
		return users, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		user, password, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("sasl plain users file %s:%d: want user:password", path, n)
		}
		if err := add(fmt.Sprintf(":%d", n), user, password); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sasl plain users file %s: %w", path, err)
	}
	return users, nil
}
