package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's ACL model (KIP-290 for prefixed patterns): a Binding allows or
// denies one principal, from one host (or "*"), one operation on the
// resources its pattern matches: a literal name ("*" matches every name
// of the type) or a name prefix. The resource types, pattern types,
// operations and permissions are Kafka's, with the codes of the wire
// protocol (franz-go's kmsg enums, which marshal as their names).

// Binding is one ACL.
type Binding struct {
	ResourceType ResourceType                `json:"resource_type"`
	ResourceName string                      `json:"resource_name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    Operation                   `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

// ResourceType and Operation are Kafka's.
type (
	ResourceType = kmsg.ACLResourceType
	Operation    = kmsg.ACLOperation
)

// The resource types Strata authorizes.
const (
	Topic           = kmsg.ACLResourceTypeTopic
	Group           = kmsg.ACLResourceTypeGroup
	Cluster         = kmsg.ACLResourceTypeCluster
	TransactionalID = kmsg.ACLResourceTypeTransactionalId
)

// ClusterName is the one cluster resource's name, as Kafka names it.
const ClusterName = "kafka-cluster"

// Wildcards of a binding: every principal (User:*), every host, every
// name of a literal resource.
const (
	WildcardPrincipal = "User:*"
	WildcardHost      = "*"
	WildcardResource  = "*"
)

// ErrInvalidBinding is wrapped by every refusal of a binding to create.
var ErrInvalidBinding = errors.New("invalid ACL binding")

func (b Binding) String() string {
	return fmt.Sprintf("%s %s %s from %s on %s:%s:%s", b.Permission, b.Principal, b.Operation, b.Host,
		b.ResourceType, b.PatternType, b.ResourceName)
}

// Validate checks that b is a concrete binding (no ANY or MATCH), as
// CreateAcls requires.
func (b Binding) Validate() error {
	switch b.ResourceType {
	case Topic, Group, Cluster, TransactionalID, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return fmt.Errorf("%w: resource type %s", ErrInvalidBinding, b.ResourceType)
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return fmt.Errorf("%w: pattern type %s", ErrInvalidBinding, b.PatternType)
	}
	if b.ResourceName == "" {
		return fmt.Errorf("%w: empty resource name", ErrInvalidBinding)
	}
	if b.ResourceType == Cluster && b.ResourceName != ClusterName {
		return fmt.Errorf("%w: the cluster resource is named %s", ErrInvalidBinding, ClusterName)
	}
	if b.Operation <= kmsg.ACLOperationAny || b.Operation.String() == "UNKNOWN" {
		return fmt.Errorf("%w: operation %s", ErrInvalidBinding, b.Operation)
	}
	if b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny {
		return fmt.Errorf("%w: permission %s", ErrInvalidBinding, b.Permission)
	}
	typ, name, ok := strings.Cut(b.Principal, ":")
	if !ok || typ == "" || name == "" {
		return fmt.Errorf("%w: principal %q is not Type:name", ErrInvalidBinding, b.Principal)
	}
	if b.Host == "" {
		return fmt.Errorf("%w: empty host (use * for every host)", ErrInvalidBinding)
	}
	return nil
}

// matchesResource reports whether b's pattern covers the resource.
func (b Binding) matchesResource(rt ResourceType, name string) bool {
	if b.ResourceType != rt {
		return false
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
		return b.ResourceName == name || b.ResourceName == WildcardResource
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	}
	return false
}

func (b Binding) matchesWho(principal, host string) bool {
	return (b.Principal == principal || b.Principal == WildcardPrincipal) &&
		(b.Host == WildcardHost || b.Host == host)
}

// implies reports whether an ALLOW of the binding's operation allows op:
// ALL allows everything, and as in Kafka, READ, WRITE, DELETE and ALTER
// imply DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS.
func implies(have, op Operation) bool {
	if have == op || have == kmsg.ACLOperationAll {
		return true
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch have {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return have == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// Filter selects bindings, as DescribeAcls and DeleteAcls do: ANY (or a
// nil name, principal, host) matches every value; the pattern type MATCH
// selects the bindings that would apply to the named resource (its
// literal name, the literal wildcard and every prefix of it).
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   kmsg.ACLPermissionType
}

// Matches reports whether f selects b.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName != nil && !b.matchesResource(b.ResourceType, *f.ResourceName) {
			return false
		}
	default:
		if f.PatternType != b.PatternType || (f.ResourceName != nil && *f.ResourceName != b.ResourceName) {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && f.Permission != b.Permission {
		return false
	}
	return true
}

// ValidateFilter refuses a filter of unknown enums (UNKNOWN in Kafka).
func (f Filter) Validate() error {
	if f.ResourceType.String() == "UNKNOWN" || f.ResourceType == 0 {
		return fmt.Errorf("%w: resource type %d", ErrInvalidBinding, f.ResourceType)
	}
	if f.PatternType.String() == "UNKNOWN" || f.PatternType == 0 {
		return fmt.Errorf("%w: pattern type %d", ErrInvalidBinding, f.PatternType)
	}
	if f.Operation.String() == "UNKNOWN" || f.Operation == 0 {
		return fmt.Errorf("%w: operation %d", ErrInvalidBinding, f.Operation)
	}
	if f.Permission.String() == "UNKNOWN" || f.Permission == 0 {
		return fmt.Errorf("%w: permission %d", ErrInvalidBinding, f.Permission)
	}
	return nil
}

// Authorizer decides requests on a set of bindings, as Kafka's
// AclAuthorizer (StandardAuthorizer) does: a super user may do anything;
// otherwise a matching DENY wins over any ALLOW; an ALLOW of the
// operation (or one implying it) allows; a resource no binding matches
// at all is allowed only with AllowEveryoneIfNoACL
// (allow.everyone.if.no.acl.found). The bindings are replaced whole by
// Set (the etcd watch) and read under a read lock.
type Authorizer struct {
	// Super reports the super users (--super-users, and the brokers'
	// proven identities).
	Super func(principal string) bool
	// AllowEveryoneIfNoACL: allow.everyone.if.no.acl.found.
	AllowEveryoneIfNoACL bool

	mu     sync.RWMutex
	byType map[ResourceType][]Binding
}

// Set replaces the bindings.
func (a *Authorizer) Set(bindings []Binding) {
	by := map[ResourceType][]Binding{}
	for _, b := range bindings {
		by[b.ResourceType] = append(by[b.ResourceType], b)
	}
	a.mu.Lock()
	a.byType = by
	a.mu.Unlock()
}

// Bindings returns every binding f selects.
func (a *Authorizer) Bindings(f Filter) []Binding {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []Binding
	for _, bs := range a.byType {
		for _, b := range bs {
			if f.Matches(b) {
				out = append(out, b)
			}
		}
	}
	return out
}

// Authorize decides whether principal, connected from host, may perform
// op on the resource.
func (a *Authorizer) Authorize(principal, host string, op Operation, rt ResourceType, name string) bool {
	if a.Super != nil && a.Super(principal) {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	any, allowed := false, false
	for _, b := range a.byType[rt] {
		if !b.matchesResource(rt, name) {
			continue
		}
		any = true
		if !b.matchesWho(principal, host) {
			continue
		}
		switch b.Permission {
		case kmsg.ACLPermissionTypeDeny:
			if b.Operation == op || b.Operation == kmsg.ACLOperationAll {
				return false
			}
		case kmsg.ACLPermissionTypeAllow:
			if implies(b.Operation, op) {
				allowed = true
			}
		}
	}
	if !any {
		return a.AllowEveryoneIfNoACL
	}
	return allowed
}

// Operations are the operations of each resource type, for the
// authorized-operations fields of Metadata, DescribeCluster and
// DescribeGroups (Kafka's AclEntry.supportedOperations).
var Operations = map[ResourceType][]Operation{
	Topic: {kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs},
	Group: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete},
	Cluster: {kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe},
	TransactionalID: {kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite},
}

// OperationsBitfield is the authorized-operations bitfield of Kafka's
// responses: bit n set when operation code n is allowed.
func OperationsBitfield(allowed func(Operation) bool, rt ResourceType) int32 {
	var bits int32
	for _, op := range Operations[rt] {
		if allowed(op) {
			bits |= 1 << uint(op)
		}
	}
	return bits
}

// ParseSuperUsers parses --super-users: principals separated by
// semicolons ("User:admin;User:other"), as Kafka's super.users.
func ParseSuperUsers(s string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if typ, name, ok := strings.Cut(p, ":"); !ok || typ == "" || name == "" {
			return nil, fmt.Errorf("super user %q: want Type:name, e.g. User:admin", p)
		}
		out[p] = true
	}
	return out, nil
}

// LogChange writes the audit line of one ACL change.
func LogChange(log *slog.Logger, what string, by string, b Binding) {
	log.Info("acl change", "audit", true, "change", what, "by", by,
		"resource_type", b.ResourceType.String(), "pattern_type", b.PatternType.String(), "resource_name", b.ResourceName,
		"principal", b.Principal, "host", b.Host, "operation", b.Operation.String(), "permission", b.Permission.String())
}
