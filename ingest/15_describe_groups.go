package ingest

import (
	"cmp"
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// DescribeGroups v0-v5: v3 adds authorized operations, v4 the instance id
// of members. A group that does not exist is Dead with no error, as Kafka
// answers before v6.
func (cc *clientConn) handleDescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) (*kmsg.DescribeGroupsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	gs, gerr := groupPart(cc.s.b.GroupAdmin)
	for _, name := range req.Groups {
		sg := kmsg.NewDescribeGroupsResponseGroup()
		sg.Group = name
		if req.IncludeAuthorizedOperations {
			sg.AuthorizedOperations = cc.authorizedOps(auth.Group, name)
		}
		if err := cmp.Or(cc.authGroup(kmsg.ACLOperationDescribe, name), gerr); err != nil {
			sg.ErrorCode = errorCode(err)
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		d, err := gs.DescribeGroup(ctx, name)
		if err != nil {
			sg.ErrorCode = errorCode(err)
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		sg.State, sg.ProtocolType, sg.Protocol = d.State, d.ProtocolType, d.Protocol
		for _, m := range d.Members {
			sm := kmsg.NewDescribeGroupsResponseGroupMember()
			sm.MemberID, sm.InstanceID = m.MemberID, nullable(m.InstanceID)
			sm.ClientID, sm.ClientHost = m.ClientID, m.ClientHost
			sm.ProtocolMetadata, sm.MemberAssignment = m.Metadata, m.Assignment
			if sm.ProtocolMetadata == nil {
				sm.ProtocolMetadata = []byte{}
			}
			if sm.MemberAssignment == nil {
				sm.MemberAssignment = []byte{}
			}
			sg.Members = append(sg.Members, sm)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}
