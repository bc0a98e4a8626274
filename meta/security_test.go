package meta

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

func binding(name string, pattern kmsg.ACLResourcePatternType, principal string, op auth.Operation, perm kmsg.ACLPermissionType) auth.Binding {
	return auth.Binding{ResourceType: auth.Topic, ResourceName: name, PatternType: pattern, Principal: principal,
		Host: "*", Operation: op, Permission: perm}
}

// TestACLStore: bindings are stored once however often created, listed,
// deleted by filter, refused when not concrete, and a watcher sees every
// change.
func TestACLStore(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	got := make(chan []auth.Binding, 16)
	go c.WatchACLs(ctx, func(bs []auth.Binding) { got <- bs })
	waitLen := func(n int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case bs := <-got:
				if len(bs) == n {
					return
				}
			case <-deadline:
				t.Fatalf("watch never saw %d bindings", n)
			}
		}
	}
	waitLen(0)
	a := binding("orders", kmsg.ACLResourcePatternTypeLiteral, "User:alice", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	b := binding("orders-", kmsg.ACLResourcePatternTypePrefixed, "User:bob", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeDeny)
	if err := c.PutACLs(ctx, []auth.Binding{a, b, a}); err != nil {
		t.Fatal(err)
	}
	waitLen(2)
	all, err := c.ACLs(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("ACLs() = %v, %v; want 2", all, err)
	}
	bad := a
	bad.PatternType = kmsg.ACLResourcePatternTypeMatch
	if err := c.PutACLs(ctx, []auth.Binding{bad}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MATCH binding stored: %v", err)
	}
	bob := "User:bob"
	gone, err := c.DeleteACLs(ctx, auth.Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Principal: &bob, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny})
	if err != nil || len(gone) != 1 || gone[0] != b {
		t.Fatalf("DeleteACLs = %v, %v; want bob's", gone, err)
	}
	waitLen(1)
}

// TestScramStore: credentials by user and mechanism, listed by user,
// deleted, ErrNoCredential for what is absent.
func TestScramStore(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	for _, m := range []string{auth.ScramSHA512, auth.ScramSHA256} {
		cred, err := auth.NewScramCredential(m, "al/ice", "pw", 4096)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PutScramCredential(ctx, "al/ice", cred); err != nil {
			t.Fatal(err)
		}
	}
	cred, err := c.ScramCredential(ctx, "al/ice", auth.ScramSHA512)
	if err != nil || cred.Iterations != 4096 || len(cred.StoredKey) != 64 {
		t.Fatalf("ScramCredential = %+v, %v", cred, err)
	}
	if _, err := c.ScramCredential(ctx, "bob", auth.ScramSHA512); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("bob: %v, want ErrNoCredential", err)
	}
	users, err := c.ScramCredentials(ctx, nil)
	if err != nil || len(users["al/ice"]) != 2 || users["al/ice"][0].Mechanism != auth.ScramSHA256 {
		t.Fatalf("ScramCredentials = %v, %v", users, err)
	}
	if err := c.DeleteScramCredential(ctx, "al/ice", auth.ScramSHA256); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteScramCredential(ctx, "al/ice", auth.ScramSHA256); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("second delete: %v", err)
	}
	users, _ = c.ScramCredentials(ctx, []string{"al/ice", "bob"})
	var names []string
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	if len(names) != 1 || len(users["al/ice"]) != 1 {
		t.Fatalf("after delete: %v", users)
	}
}
