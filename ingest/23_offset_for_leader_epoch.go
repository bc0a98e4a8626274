package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleOffsetForLeaderEpoch(_ context.Context, req *kmsg.OffsetForLeaderEpochRequest) (*kmsg.OffsetForLeaderEpochResponse, error) {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	// A follower (replica id >= 0, v3+) needs ClusterAction on the
	// cluster, a consumer Describe on each topic.
	var clusterErr error
	if req.Version >= 3 && req.ReplicaID >= 0 {
		clusterErr = cc.authCluster(kmsg.ACLOperationClusterAction)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		topicErr := clusterErr
		if topicErr == nil && !(req.Version >= 3 && req.ReplicaID >= 0) {
			topicErr = cc.authTopic(kmsg.ACLOperationDescribe, rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			var p Partition
			err := topicErr
			if err == nil {
				p, err = cc.s.b.Partitions.Partition(rt.Topic, rp.Partition)
			}
			if err == nil {
				sp.LeaderEpoch, sp.EndOffset, err = p.EndOffsetForEpoch(rp.LeaderEpoch, rp.CurrentLeaderEpoch)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.LeaderEpoch, sp.EndOffset = -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
