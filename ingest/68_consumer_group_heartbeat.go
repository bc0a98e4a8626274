package ingest

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
)

// ConsumerGroupHeartbeat v0-v1 (KIP-848): joins, heartbeats, leaves and
// reconciliation of the consumer protocol; v1 members pick their own
// member id and may subscribe by regex. Topics travel by id: owned
// partitions of unknown ids are dropped, as Kafka does.
func (cc *clientConn) handleConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(err error) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	gs, err := groupPart(cc.s.b.Consumers)
	if err == nil {
		err = cc.authGroup(kmsg.ACLOperationRead, req.Group)
	}
	if err != nil {
		return fail(err)
	}
	all := cc.s.b.Topics.Topics()
	topics := make([]group.TopicMeta, 0, len(all))
	names := make(map[[16]byte]string, len(all))
	ids := make(map[string][16]byte, len(all))
	for _, t := range all {
		// A member sees (and is assigned) only topics its principal may
		// describe, the same set on every heartbeat.
		if cc.s.b.ACLs != nil && cc.authTopic(kmsg.ACLOperationDescribe, t.Name) != nil {
			continue
		}
		topics = append(topics, group.TopicMeta{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions))})
		names[t.ID], ids[t.Name] = t.Name, t.ID
	}
	gr := group.ConsumerHeartbeatRequest{
		Group: req.Group, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch,
		InstanceID: req.InstanceID, RackID: req.RackID,
		RebalanceTimeout: -1, SubscribedTopics: req.SubscribedTopicNames,
		SubscribedRegex: req.SubscribedTopicRegex, ServerAssignor: req.ServerAssignor,
		Topics: topics, ClientID: cc.clientID, ClientHost: cc.clientHost(), Version: req.Version,
	}
	if req.RebalanceTimeoutMillis >= 0 {
		gr.RebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.Topics != nil {
		gr.Owned = group.Assignment{}
		for _, t := range req.Topics {
			if name, ok := names[t.TopicID]; ok {
				gr.Owned[name] = append(gr.Owned[name], t.Partitions...)
			}
		}
	}
	res := gs.ConsumerHeartbeat(ctx, gr)
	if res.Err != nil {
		return fail(res.Err)
	}
	resp.MemberID = &res.MemberID
	resp.MemberEpoch = res.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval / time.Millisecond)
	if res.Assignment != nil {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
		for name, ps := range res.Assignment {
			id, ok := ids[name]
			if !ok {
				continue // deleted meanwhile: the next epoch drops it
			}
			at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			at.TopicID, at.Partitions = id, ps
			a.Topics = append(a.Topics, at)
		}
		resp.Assignment = &a
	}
	return resp, nil
}
