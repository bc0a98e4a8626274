package ingest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// TestAuditLines: a denied request writes one structured line (audit=true)
// with the principal, host, API, operation and resource; CreateAcls and
// DeleteAcls write one line per binding changed, naming who changed it.
// Listings that hide topics write none.
func TestAuditLines(t *testing.T) {
	var buf bytes.Buffer
	f := newFake()
	b := f.backend(false)
	b.ACLs = newFakeACLs()
	s := NewServer(Config{AdvertisedHost: "b1", AdvertisedPort: 9092, Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, b)
	defer s.Close()
	lines := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if l != "" && json.Unmarshal([]byte(l), &m) == nil && m["audit"] == true {
				out = append(out, m)
			}
		}
		buf.Reset()
		return out
	}
	want := func(t *testing.T, got map[string]any, kv map[string]any) {
		t.Helper()
		for k, v := range kv {
			if got[k] != v {
				t.Errorf("audit line %v: %s = %v, want %v", got, k, got[k], v)
			}
		}
	}

	if _, err := exchangeAs(t, s, alice, metadataOf()()); err != nil {
		t.Fatal(err)
	}
	if l := lines(); len(l) != 0 {
		t.Fatalf("a listing that hides topics wrote %v", l)
	}
	if _, err := exchangeAs(t, s, alice, metadataOf("orders")()); err != nil {
		t.Fatal(err)
	}
	l := lines()
	if len(l) != 1 {
		t.Fatalf("denied Metadata: %d audit lines, want 1: %v", len(l), l)
	}
	want(t, l[0], map[string]any{"msg": "authorization denied", "principal": alice, "host": "", "api": "Metadata",
		"operation": "DESCRIBE", "resource_type": "TOPIC", "resource_name": "orders"})

	create := kmsg.NewPtrCreateACLsRequest()
	for _, name := range []string{"orders", "payments"} {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = auth.Topic, name, kmsg.ACLResourcePatternTypeLiteral
		c.Principal, c.Host, c.Operation, c.PermissionType = alice, "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
		create.Creations = append(create.Creations, c)
	}
	if _, err := exchangeAs(t, s, "User:admin", create); err != nil {
		t.Fatal(err)
	}
	l = lines()
	if len(l) != 2 {
		t.Fatalf("CreateAcls of 2 bindings: %d audit lines: %v", len(l), l)
	}
	for i, name := range []string{"orders", "payments"} {
		want(t, l[i], map[string]any{"msg": "acl change", "change": "create", "by": "User:admin", "resource_type": "TOPIC",
			"resource_name": name, "pattern_type": "LITERAL", "acl_principal": alice, "operation": "READ", "permission": "ALLOW"})
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	fl := kmsg.NewDeleteACLsRequestFilter()
	fl.ResourceType, fl.ResourcePatternType = auth.Topic, kmsg.ACLResourcePatternTypeAny
	fl.Operation, fl.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	name := "payments"
	fl.ResourceName = &name
	del.Filters = append(del.Filters, fl)
	if _, err := exchangeAs(t, s, "User:admin", del); err != nil {
		t.Fatal(err)
	}
	l = lines()
	if len(l) != 1 {
		t.Fatalf("DeleteAcls of 1 binding: %d audit lines: %v", len(l), l)
	}
	want(t, l[0], map[string]any{"msg": "acl change", "change": "delete", "by": "User:admin", "resource_name": "payments"})
	// alice may not change ACLs: the refusal is itself audited.
	if _, err := exchangeAs(t, s, alice, create); err != nil {
		t.Fatal(err)
	}
	if l := lines(); len(l) != 1 || l[0]["api"] != "CreateACLs" || l[0]["operation"] != "ALTER" || l[0]["resource_type"] != "CLUSTER" {
		t.Fatalf("denied CreateAcls: %v", l)
	}
}
