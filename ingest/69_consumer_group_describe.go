package ingest

import (
	"cmp"
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/group"
)

// ConsumerGroupDescribe v0-v1 (KIP-848): a consumer group's epochs,
// assignor and members with their member epoch, subscription, assignment
// and target assignment. Classic groups and unknown ones answer
// GROUP_ID_NOT_FOUND, as Kafka does.
func (cc *clientConn) handleConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) (*kmsg.ConsumerGroupDescribeResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	gs, gerr := groupPart(cc.s.b.Consumers)
	ids := map[string][16]byte{}
	for _, t := range cc.s.b.Topics.Topics() {
		ids[t.Name] = t.ID
	}
	assignment := func(a group.Assignment) kmsg.Assignment {
		var out kmsg.Assignment
		names := make([]string, 0, len(a))
		for t := range a {
			names = append(names, t)
		}
		sort.Strings(names)
		for _, t := range names {
			id, ok := ids[t]
			if !ok {
				continue
			}
			at := kmsg.NewAssignmentTopicPartition()
			at.TopicID, at.Topic, at.Partitions = id, t, a[t]
			out.TopicPartitions = append(out.TopicPartitions, at)
		}
		return out
	}
	for _, name := range req.Groups {
		sg := kmsg.NewConsumerGroupDescribeResponseGroup()
		sg.Group = name
		if req.IncludeAuthorizedOperations {
			sg.AuthorizedOperations = cc.authorizedOps(auth.Group, name)
		}
		err := cmp.Or(cc.authGroup(kmsg.ACLOperationDescribe, name), gerr)
		var d group.ConsumerDescription
		if err == nil {
			d, err = gs.DescribeConsumerGroup(ctx, name)
		}
		if err != nil {
			sg.ErrorCode, sg.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		sg.State, sg.Epoch, sg.AssignmentEpoch, sg.AssignorName = d.State, d.Epoch, d.AssignmentEpoch, d.Assignor
		for _, m := range d.Members {
			sm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			sm.MemberID, sm.InstanceID, sm.RackID = m.MemberID, nullable(m.InstanceID), nullable(m.RackID)
			sm.MemberEpoch, sm.ClientID, sm.ClientHost = m.MemberEpoch, m.ClientID, m.ClientHost
			sm.SubscribedTopics = m.SubscribedTopics
			if sm.SubscribedTopics == nil {
				sm.SubscribedTopics = []string{}
			}
			sm.SubscribedTopicRegex = nullable(m.SubscribedRegex)
			sm.Assignment, sm.TargetAssignment = assignment(m.Assigned), assignment(m.Target)
			sm.MemberType = 1 // the consumer protocol (0 would be classic)
			sg.Members = append(sg.Members, sm)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}
