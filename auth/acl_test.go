package auth

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func b(rt ResourceType, name string, pattern kmsg.ACLResourcePatternType, principal, host string, op Operation, perm kmsg.ACLPermissionType) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pattern, Principal: principal, Host: host, Operation: op, Permission: perm}
}

const (
	allowP = kmsg.ACLPermissionTypeAllow
	denyP  = kmsg.ACLPermissionTypeDeny
	lit    = kmsg.ACLResourcePatternTypeLiteral
	pre    = kmsg.ACLResourcePatternTypePrefixed
)

// TestAuthorize is Kafka's decision table: super users, deny over allow,
// implied operations, literal, wildcard and prefixed patterns, hosts,
// principals, and allow.everyone.if.no.acl.found.
func TestAuthorize(t *testing.T) {
	a := &Authorizer{Super: func(p string) bool { return p == "User:admin" }}
	a.Set([]Binding{
		b(Topic, "orders", lit, "User:alice", "*", kmsg.ACLOperationRead, allowP),
		b(Topic, "logs-", pre, "User:alice", "*", kmsg.ACLOperationWrite, allowP),
		b(Topic, "logs-secret", lit, "User:alice", "*", kmsg.ACLOperationWrite, denyP),
		b(Topic, "*", lit, "User:*", "10.0.0.1", kmsg.ACLOperationDescribe, allowP),
		b(Group, "g", lit, "User:bob", "*", kmsg.ACLOperationAll, allowP),
		b(Group, "g", lit, "User:bob", "*", kmsg.ACLOperationDelete, denyP),
		b(Cluster, ClusterName, lit, "User:ops", "*", kmsg.ACLOperationAlterConfigs, allowP),
		b(TransactionalID, "tx-", pre, "User:alice", "*", kmsg.ACLOperationWrite, allowP),
	})
	for _, tc := range []struct {
		principal, host string
		op              Operation
		rt              ResourceType
		name            string
		want            bool
	}{
		{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, Topic, "orders", true},
		{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, Topic, "orders", true}, // read implies describe
		{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, Topic, "orders", false},
		{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, Topic, "orders2", false},  // literal is exact
		{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, Topic, "logs-app", true}, // prefix
		{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, Topic, "logs", false},
		{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, Topic, "logs-secret", false}, // deny over the prefix allow
		{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, Topic, "logs-secret", true},
		{"User:carol", "10.0.0.1", kmsg.ACLOperationDescribe, Topic, "anything", true}, // wildcards, host
		{"User:carol", "10.0.0.2", kmsg.ACLOperationDescribe, Topic, "anything", false},
		{"User:bob", "h", kmsg.ACLOperationRead, Group, "g", true}, // ALL
		{"User:bob", "h", kmsg.ACLOperationDelete, Group, "g", false},
		{"User:alice", "h", kmsg.ACLOperationRead, Group, "g", false},
		{"User:ops", "h", kmsg.ACLOperationDescribeConfigs, Cluster, ClusterName, true}, // implied
		{"User:ops", "h", kmsg.ACLOperationAlter, Cluster, ClusterName, false},
		{"User:alice", "h", kmsg.ACLOperationDescribe, TransactionalID, "tx-1", true},
		{"User:admin", "h", kmsg.ACLOperationAlter, Cluster, ClusterName, true}, // super user
		{"User:alice", "h", kmsg.ACLOperationRead, Group, "nobody-names-me", false},
	} {
		if got := a.Authorize(tc.principal, tc.host, tc.op, tc.rt, tc.name); got != tc.want {
			t.Errorf("%s from %s %s %s %s: %v, want %v", tc.principal, tc.host, tc.op, tc.rt, tc.name, got, tc.want)
		}
	}
	// allow.everyone.if.no.acl.found opens only resources no ACL names.
	a.AllowEveryoneIfNoACL = true
	if !a.Authorize("User:x", "h", kmsg.ACLOperationRead, Group, "nobody-names-me") {
		t.Error("allow.everyone.if.no.acl.found: unnamed group denied")
	}
	if a.Authorize("User:x", "h", kmsg.ACLOperationRead, Group, "g") {
		t.Error("allow.everyone.if.no.acl.found: a group with ACLs allowed to another principal")
	}
}

func TestFilter(t *testing.T) {
	bs := []Binding{
		b(Topic, "orders", lit, "User:alice", "*", kmsg.ACLOperationRead, allowP),
		b(Topic, "ord", pre, "User:bob", "*", kmsg.ACLOperationWrite, denyP),
		b(Topic, "*", lit, "User:carol", "*", kmsg.ACLOperationRead, allowP),
		b(Group, "orders", lit, "User:alice", "*", kmsg.ACLOperationRead, allowP),
	}
	name := "orders"
	alice := "User:alice"
	any := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	count := func(f Filter) int {
		n := 0
		for _, x := range bs {
			if f.Matches(x) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name string
		edit func(*Filter)
		want int
	}{
		{"any", func(*Filter) {}, 4},
		{"topic", func(f *Filter) { f.ResourceType = Topic }, 3},
		{"any pattern, exact name", func(f *Filter) { f.ResourceType, f.ResourceName = Topic, &name }, 1},
		{"match", func(f *Filter) {
			f.ResourceType, f.ResourceName, f.PatternType = Topic, &name, kmsg.ACLResourcePatternTypeMatch
		}, 3},
		{"prefixed only", func(f *Filter) { f.PatternType = pre }, 1},
		{"principal", func(f *Filter) { f.Principal = &alice }, 2},
		{"deny", func(f *Filter) { f.Permission = denyP }, 1},
		{"operation", func(f *Filter) { f.Operation = kmsg.ACLOperationWrite }, 1},
	} {
		f := any
		tc.edit(&f)
		if got := count(f); got != tc.want {
			t.Errorf("%s: %d bindings, want %d", tc.name, got, tc.want)
		}
	}
}

func TestValidateBinding(t *testing.T) {
	good := b(Topic, "t", lit, "User:alice", "*", kmsg.ACLOperationRead, allowP)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Binding){
		"match pattern":    func(x *Binding) { x.PatternType = kmsg.ACLResourcePatternTypeMatch },
		"any operation":    func(x *Binding) { x.Operation = kmsg.ACLOperationAny },
		"any permission":   func(x *Binding) { x.Permission = kmsg.ACLPermissionTypeAny },
		"no principal":     func(x *Binding) { x.Principal = "alice" },
		"empty host":       func(x *Binding) { x.Host = "" },
		"empty name":       func(x *Binding) { x.ResourceName = "" },
		"cluster misnamed": func(x *Binding) { x.ResourceType, x.ResourceName = Cluster, "c" },
	} {
		x := good
		edit(&x)
		if err := x.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}

func TestParseSuperUsers(t *testing.T) {
	m, err := ParseSuperUsers("User:admin; User:CN=ops,O=x ;")
	if err != nil || !m["User:admin"] || !m["User:CN=ops,O=x"] || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := ParseSuperUsers("admin"); err == nil {
		t.Fatal("a principal without a type parsed")
	}
}
