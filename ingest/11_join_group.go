package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
)

// JoinGroup v0-v9: v1 adds the rebalance timeout (v0: the session timeout),
// v4 the member-id-required flow (KIP-394), v5 static membership (KIP-345),
// v7 the protocol type in the response, v8 the reason, v9 skip-assignment
// for a static leader rejoining a stable group (KIP-814).
func (cc *clientConn) handleJoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) (*kmsg.JoinGroupResponse, error) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	resp.MemberID = req.MemberID
	gs, err := groupPart(cc.s.b.Members)
	if err == nil {
		err = cc.authGroup(kmsg.ACLOperationRead, req.Group)
	}
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	jr := group.JoinRequest{
		Group:                  req.Group,
		MemberID:               req.MemberID,
		InstanceID:             deref(req.InstanceID),
		ClientID:               cc.clientID,
		ClientHost:             cc.clientHost(),
		SessionTimeout:         millis(req.SessionTimeoutMillis),
		RebalanceTimeout:       millis(req.RebalanceTimeoutMillis),
		ProtocolType:           req.ProtocolType,
		SupportsSkipAssignment: req.Version >= 9,
		Reason:                 deref(req.Reason),
	}
	if req.Version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	jr.RequireKnownMemberID = req.Version >= 4 && jr.InstanceID == ""
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	res := gs.Join(ctx, jr)
	if res.Err != nil {
		cc.log.Debug("JoinGroup refused", "group", req.Group, "member", req.MemberID, "err", res.Err)
	}
	resp.ErrorCode = errorCode(res.Err)
	resp.Generation = res.Generation
	resp.MemberID = res.MemberID
	resp.LeaderID = res.Leader
	resp.ProtocolType = nullable(res.ProtocolType)
	resp.Protocol = nullable(res.Protocol)
	resp.SkipAssignment = res.SkipAssignment
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID = m.MemberID
		rm.InstanceID = nullable(m.InstanceID)
		rm.ProtocolMetadata = m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
