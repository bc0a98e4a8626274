package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
)

// SyncGroup v0-v5: v3 adds the instance id, v5 the protocol type and name,
// checked against the group's and echoed in the response.
func (cc *clientConn) handleSyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, error) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	gs, err := groupPart(cc.s.b.Members)
	if err == nil {
		err = cc.authGroup(kmsg.ACLOperationRead, req.Group)
	}
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	sr := group.SyncRequest{
		Group:        req.Group,
		Generation:   req.Generation,
		MemberID:     req.MemberID,
		InstanceID:   deref(req.InstanceID),
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	res := gs.Sync(ctx, sr)
	if res.Err != nil {
		cc.log.Debug("SyncGroup refused", "group", req.Group, "member", req.MemberID, "err", res.Err)
	}
	resp.ErrorCode = errorCode(res.Err)
	resp.ProtocolType = nullable(res.ProtocolType)
	resp.Protocol = nullable(res.Protocol)
	resp.MemberAssignment = res.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp, nil
}
