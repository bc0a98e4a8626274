package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// CreateAcls v0-v3 needs Alter on the cluster. Each creation is checked
// (a concrete binding: no ANY or MATCH) and answered on its own; the
// valid ones are stored together. Every stored binding is an audit line.
func (cc *clientConn) handleCreateAcls(ctx context.Context, req *kmsg.CreateACLsRequest) (*kmsg.CreateACLsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	err := cc.aclsEnabled()
	if err == nil {
		err = cc.authCluster(kmsg.ACLOperationAlter)
	}
	errs := make([]error, len(req.Creations))
	var valid []auth.Binding
	var index []int
	for i, c := range req.Creations {
		if err != nil {
			errs[i] = err
			continue
		}
		pattern := c.ResourcePatternType
		if req.Version == 0 {
			pattern = kmsg.ACLResourcePatternTypeLiteral
		}
		b := auth.Binding{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: pattern,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		if verr := b.Validate(); verr != nil {
			errs[i] = fmt.Errorf("%w: %v", kerr.InvalidRequest, verr)
			continue
		}
		valid = append(valid, b)
		index = append(index, i)
	}
	if len(valid) > 0 {
		if serr := cc.s.b.ACLs.CreateACLs(ctx, valid); serr != nil {
			cc.log.Error("cannot store ACLs", "err", serr)
			for _, i := range index {
				errs[i] = fmt.Errorf("%w: storing the ACLs: %v", kerr.UnknownServerError, serr)
			}
		} else {
			for _, b := range valid {
				auth.LogChange(cc.log, "create", cc.principal, b)
			}
		}
	}
	for _, e := range errs {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = errorCode(e), errorMessage(e)
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
