package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/ingest"
)

func TestLoadPlainUsers(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       map[string]string
		err        string // part of the error; "" for none
	}{
		{"lines", "# users\nalice:alice-secret\n\nbob:pass:with:colons\r\n  # indented comment\n",
			map[string]string{"alice": "alice-secret", "bob": "pass:with:colons"}, ""},
		{"json", ` {"alice": "alice-secret", "bob": "b"}`, map[string]string{"alice": "alice-secret", "bob": "b"}, ""},
		{"empty file", "", map[string]string{}, ""},
		{"line without a colon", "alice\n", nil, ":1: want user:password"},
		{"empty password", "alice:\n", nil, "empty user or password"},
		{"empty user", ":pw\n", nil, "empty user or password"},
		{"twice", "alice:a\nalice:b\n", nil, `user "alice" twice`},
		{"a broker's name", "strata-broker-1:guess\n", nil, "the brokers' own"},
		{"a broker's name in json", `{"strata-broker-2": "guess"}`, nil, "the brokers' own"},
		{"bad json", `{"alice": 1}`, nil, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := loadPlainUsers(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("users %v, want %v", got, tc.want)
			}
			for u, p := range tc.want {
				if got[u] != p {
					t.Fatalf("users %v, want %v", got, tc.want)
				}
			}
		})
	}
	if _, err := loadPlainUsers(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestPlainCredentials(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	c := plainCredentials{secret: secret, users: map[string]string{"alice": "alice-secret"}}
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "alice-secret", true},
		{"alice", "alice-secret ", false},
		{"bob", "alice-secret", false},
		{broker.InterBrokerUser(3), broker.InterBrokerPassword(secret, 3), true},
		{broker.InterBrokerUser(3), broker.InterBrokerPassword(secret, 4), false},
		{broker.InterBrokerUser(3), broker.InterBrokerPassword([]byte("another cluster's secret, 32 by"), 3), false},
		{"strata-broker-03", broker.InterBrokerPassword(secret, 3), false},
	} {
		if err := c.CheckPlain(context.Background(), tc.user, tc.pass); (err == nil) != tc.ok {
			t.Errorf("CheckPlain(%q, %q): %v", tc.user, tc.pass, err)
		}
	}
	for _, tc := range []struct {
		principal string
		replica   int32
		ok        bool
	}{
		{"User:strata-broker-2", 2, true},
		{"User:strata-broker-2", 3, false},
		{"User:alice", 2, false},
		{ingest.Anonymous, 2, false},
	} {
		if got := (replicaAuthorizer{}).AuthorizeReplica(tc.principal, tc.replica); got != tc.ok {
			t.Errorf("AuthorizeReplica(%q, %d) = %v", tc.principal, tc.replica, got)
		}
	}
}
