package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/meta/embedetcd"
)

// TestUserCmdEtcd: `strata user set` with --etcd-endpoints writes a salted
// SCRAM credential straight to etcd (bootstrap before any broker), `user
// list` shows it without secrets, `user delete` removes it, and a broker's
// name is refused.
func TestUserCmdEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ep := strings.Join(e.Endpoints(), ",")
	strata := func(args ...string) (string, error) {
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), err
	}
	if out, err := strata("user", "set", "admin", "--mechanism", "SCRAM-SHA-512", "--password", "pw", "--etcd-endpoints", ep); err != nil {
		t.Fatalf("user set: %v\n%s", err, out)
	}
	m, err := meta.Dial(ctx, e.Endpoints(), meta.DefaultCluster)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cred, err := m.ScramCredential(ctx, "admin", auth.ScramSHA512)
	if err != nil || cred.Iterations != auth.ScramDefaultIterations || len(cred.Salt) == 0 {
		t.Fatalf("stored credential %+v, %v", cred, err)
	}
	out, err := strata("user", "list", "--etcd-endpoints", ep)
	if err != nil || !strings.Contains(out, "admin") || !strings.Contains(out, "SCRAM-SHA-512(8192)") || strings.Contains(out, "pw") {
		t.Fatalf("user list: %v\n%s", err, out)
	}
	if _, err := strata("user", "set", "strata-broker-1", "--password", "x", "--etcd-endpoints", ep); err == nil {
		t.Fatal("a broker's name was accepted")
	}
	if out, err := strata("user", "delete", "admin", "--etcd-endpoints", ep); err != nil {
		t.Fatalf("user delete: %v\n%s", err, out)
	}
	if _, err := m.ScramCredential(ctx, "admin", auth.ScramSHA512); err == nil {
		t.Fatal("credential still there after delete")
	}
}
