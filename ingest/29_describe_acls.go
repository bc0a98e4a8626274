package ingest

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// DescribeAcls v0-v3 needs Describe on the cluster. Without an ACL
// authorizer it answers SECURITY_DISABLED, as Kafka does.
func (cc *clientConn) handleDescribeAcls(_ context.Context, req *kmsg.DescribeACLsRequest) (*kmsg.DescribeACLsResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	pattern := req.ResourcePatternType
	if req.Version == 0 {
		pattern = kmsg.ACLResourcePatternTypeLiteral
	}
	f := auth.Filter{ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: pattern,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType}
	err := cc.aclsEnabled()
	if err == nil {
		err = cc.authCluster(kmsg.ACLOperationDescribe)
	}
	if err == nil {
		if verr := f.Validate(); verr != nil {
			err = fmt.Errorf("%w: %v", kerr.InvalidRequest, verr)
		}
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	resp.Resources = describeACLResources(cc.s.b.ACLs.DescribeACLs(f))
	return resp, nil
}

// aclsEnabled is SECURITY_DISABLED without an ACL authorizer.
func (cc *clientConn) aclsEnabled() error {
	if cc.s.b.ACLs == nil {
		return fmt.Errorf("%w: no authorizer is configured (strata serve --authorizer acl)", kerr.SecurityDisabled)
	}
	return nil
}

// describeACLResources groups bindings by resource, in a stable order.
func describeACLResources(bs []auth.Binding) []kmsg.DescribeACLsResponseResource {
	sort.Slice(bs, func(i, j int) bool { return bs[i].String() < bs[j].String() })
	type key struct {
		rt      auth.ResourceType
		name    string
		pattern kmsg.ACLResourcePatternType
	}
	at := map[key]int{}
	var out []kmsg.DescribeACLsResponseResource
	for _, b := range bs {
		k := key{b.ResourceType, b.ResourceName, b.PatternType}
		i, ok := at[k]
		if !ok {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			out = append(out, r)
			i = len(out) - 1
			at[k] = i
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		out[i].ACLs = append(out[i].ACLs, a)
	}
	return out
}
