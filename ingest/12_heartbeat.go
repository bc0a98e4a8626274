package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
)

// Heartbeat v0-v4: v3 adds the instance id. Answered from memory, never
// waiting on etcd.
func (cc *clientConn) handleHeartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) (*kmsg.HeartbeatResponse, error) {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	err := cc.authGroup(kmsg.ACLOperationRead, req.Group)
	var gs GroupMembership
	if err == nil {
		gs, err = groupPart(cc.s.b.Members)
	}
	if err == nil {
		err = gs.Heartbeat(ctx, group.HeartbeatRequest{
			Group: req.Group, Generation: req.Generation, MemberID: req.MemberID, InstanceID: deref(req.InstanceID),
		})
	}
	resp.ErrorCode = errorCode(err)
	return resp, nil
}
