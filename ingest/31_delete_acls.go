package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// DeleteAcls v0-v3 needs Alter on the cluster. Each filter deletes and
// returns the bindings it selects (MATCH and ANY as in DescribeAcls);
// every deleted binding is an audit line.
func (cc *clientConn) handleDeleteAcls(ctx context.Context, req *kmsg.DeleteACLsRequest) (*kmsg.DeleteACLsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	err := cc.aclsEnabled()
	if err == nil {
		err = cc.authCluster(kmsg.ACLOperationAlter)
	}
	for _, rf := range req.Filters {
		r := kmsg.NewDeleteACLsResponseResult()
		pattern := rf.ResourcePatternType
		if req.Version == 0 {
			pattern = kmsg.ACLResourcePatternTypeLiteral
		}
		f := auth.Filter{ResourceType: rf.ResourceType, ResourceName: rf.ResourceName, PatternType: pattern,
			Principal: rf.Principal, Host: rf.Host, Operation: rf.Operation, Permission: rf.PermissionType}
		ferr := err
		if ferr == nil {
			if verr := f.Validate(); verr != nil {
				ferr = fmt.Errorf("%w: %v", kerr.InvalidRequest, verr)
			}
		}
		var deleted []auth.Binding
		if ferr == nil {
			if deleted, ferr = cc.s.b.ACLs.DeleteACLs(ctx, f); ferr != nil {
				cc.log.Error("cannot delete ACLs", "err", ferr)
				ferr = fmt.Errorf("%w: deleting the ACLs: %v", kerr.UnknownServerError, ferr)
			}
		}
		r.ErrorCode, r.ErrorMessage = errorCode(ferr), errorMessage(ferr)
		for _, b := range deleted {
			auth.LogChange(cc.log, "delete", cc.principal, b)
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			r.MatchingACLs = append(r.MatchingACLs, m)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
