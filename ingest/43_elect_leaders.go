package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ElectLeaders: preferred (type 0) moves leadership back to each
// partition's first replica; unclean (type 1) gives a leaderless partition
// any live replica.
func (cc *clientConn) handleElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) (*kmsg.ElectLeadersResponse, error) {
	ctx, cancel := cc.bounded(ctx, req.TimeoutMillis)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	authErr := cc.authCluster(kmsg.ACLOperationAlter)
	if authErr != nil && (req.Version >= 1 || req.Topics == nil) { // no names for the unauthorized
		resp.ErrorCode = errorCode(authErr)
		return resp, nil
	}
	topics := req.Topics
	if topics == nil { // every partition
		for _, t := range cc.s.b.Topics.Topics() {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic = t.Name
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, p.Partition)
			}
			topics = append(topics, rt)
		}
	}
	for _, rt := range topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			err := authErr // v0 has no top-level error: each partition carries it
			if err == nil {
				err = cc.s.b.Replicas.ElectLeader(ctx, rt.Topic, p, req.ElectionType == 1)
			}
			sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
