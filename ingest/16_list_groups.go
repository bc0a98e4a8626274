package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// ListGroups v0-v5: the groups this broker coordinates; v4 adds the state
// and a states filter, v5 the group type ("classic") and a types filter.
func (cc *clientConn) handleListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) (*kmsg.ListGroupsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	gs, err := groupPart(cc.s.b.GroupAdmin)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	list, err := gs.ListGroups(ctx, req.StatesFilter, req.TypesFilter)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	// Describe on the cluster lists every group; otherwise only the
	// groups the principal may Describe (Kafka's rule).
	all := cc.allowed(kmsg.ACLOperationDescribe, auth.Cluster, auth.ClusterName)
	for _, l := range list {
		if !all && !cc.allowed(kmsg.ACLOperationDescribe, auth.Group, l.Group) {
			continue
		}
		sg := kmsg.NewListGroupsResponseGroup()
		sg.Group, sg.ProtocolType, sg.GroupState, sg.GroupType = l.Group, l.ProtocolType, l.State, l.Type
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}
