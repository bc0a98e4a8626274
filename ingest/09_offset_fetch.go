package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/group"
)

// OffsetFetch v0-v9: v2+ a null topic list means every committed
// partition and errors are group-level, v5+ the leader epoch, v7+
// require_stable, v8+ several groups per request (KIP-709), v9 the KIP-848
// member id and epoch (checked for consumer groups: STALE_MEMBER_EPOCH). Partitions without a
// commit answer offset -1. (v10 names topics by id: not offered.)
func (cc *clientConn) handleOffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) (*kmsg.OffsetFetchResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			var parts []TopicPartition
			if rg.Topics != nil {
				parts = []TopicPartition{}
				for _, rt := range rg.Topics {
					for _, p := range rt.Partitions {
						parts = append(parts, TopicPartition{Topic: rt.Topic, Partition: p})
					}
				}
			}
			fetched, err := cc.fetchMemberOffsets(ctx, req.Version, rg, parts, req.RequireStable)
			sg.ErrorCode = errorCode(err)
			for _, ft := range groupByTopic(fetched) {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = ft[0].Topic
				for _, f := range ft {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch = f.Partition, f.Offset, f.LeaderEpoch
					md := f.Metadata
					sp.Metadata = &md
					sp.ErrorCode = errorCode(f.Err)
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp, nil
	}

	var parts []TopicPartition
	if req.Topics != nil || req.Version < 2 {
		parts = []TopicPartition{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				parts = append(parts, TopicPartition{Topic: rt.Topic, Partition: p})
			}
		}
	}
	fetched, err := cc.fetchOffsets(ctx, req.Group, parts, req.RequireStable)
	if err != nil {
		if req.Version >= 2 {
			resp.ErrorCode = errorCode(err)
		}
		// Before v2 there is no group-level error: every partition carries it.
		fetched = fetched[:0]
		for _, tp := range parts {
			fetched = append(fetched, group.FetchedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: -1, LeaderEpoch: -1, Err: err})
		}
	}
	for _, ft := range groupByTopic(fetched) {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = ft[0].Topic
		for _, f := range ft {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch = f.Partition, f.Offset, f.LeaderEpoch
			md := f.Metadata
			sp.Metadata = &md
			sp.ErrorCode = errorCode(f.Err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// fetchOffsets needs Describe on the group; of the topics, those the
// principal may not Describe answer TOPIC_AUTHORIZATION_FAILED when named
// and are left out of an answer for every committed partition.
func (cc *clientConn) fetchOffsets(ctx context.Context, groupID string, parts []TopicPartition, requireStable bool) ([]group.FetchedOffset, error) {
	if err := cc.authGroup(kmsg.ACLOperationDescribe, groupID); err != nil {
		return nil, err
	}
	gs, err := groupPart(cc.s.b.Offsets)
	if err != nil {
		return nil, err
	}
	fetched, err := gs.FetchOffsets(ctx, groupID, parts, requireStable)
	if err != nil || cc.s.b.ACLs == nil {
		return fetched, err
	}
	decided := map[string]error{}
	out := fetched[:0]
	for _, f := range fetched {
		authErr, ok := decided[f.Topic]
		if !ok {
			if parts == nil {
				if !cc.allowed(kmsg.ACLOperationDescribe, auth.Topic, f.Topic) {
					authErr = kerr.TopicAuthorizationFailed
				}
			} else {
				authErr = cc.authTopic(kmsg.ACLOperationDescribe, f.Topic)
			}
			decided[f.Topic] = authErr
		}
		switch {
		case authErr == nil:
		case parts == nil:
			continue // every committed partition: hide the topic
		default:
			f.Offset, f.LeaderEpoch, f.Metadata, f.Err = -1, -1, "", authErr
		}
		out = append(out, f)
	}
	return out, nil
}

// groupByTopic splits offsets into runs of one topic, in order of first
// appearance.
func groupByTopic(fs []group.FetchedOffset) [][]group.FetchedOffset {
	var out [][]group.FetchedOffset
	at := map[string]int{}
	for _, f := range fs {
		i, ok := at[f.Topic]
		if !ok {
			i = len(out)
			at[f.Topic] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], f)
	}
	return out
}

// fetchMemberOffsets is fetchOffsets after the v9 check of a consumer
// group member's id and epoch.
func (cc *clientConn) fetchMemberOffsets(ctx context.Context, version int16, rg kmsg.OffsetFetchRequestGroup, parts []TopicPartition, requireStable bool) ([]group.FetchedOffset, error) {
	if version >= 9 && cc.s.b.Consumers != nil {
		if err := cc.authGroup(kmsg.ACLOperationDescribe, rg.Group); err != nil {
			return nil, err
		}
		if err := cc.s.b.Consumers.CheckFetchMember(ctx, rg.Group, deref(rg.MemberID), rg.MemberEpoch); err != nil {
			return nil, err
		}
	}
	return cc.fetchOffsets(ctx, rg.Group, parts, requireStable)
}
