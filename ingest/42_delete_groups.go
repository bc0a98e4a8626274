package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups v0-v2: deletes empty groups and their committed offsets
// (NON_EMPTY_GROUP while members remain, GROUP_ID_NOT_FOUND for unknown
// groups).
func (cc *clientConn) handleDeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) (*kmsg.DeleteGroupsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	gs, gerr := groupPart(cc.s.b.GroupAdmin)
	for _, name := range req.Groups {
		sg := kmsg.NewDeleteGroupsResponseGroup()
		sg.Group = name
		err := cc.authGroup(kmsg.ACLOperationDelete, name)
		if err == nil {
			err = gerr
		}
		if err == nil {
			err = gs.DeleteGroup(ctx, name)
		}
		sg.ErrorCode = errorCode(err)
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}
