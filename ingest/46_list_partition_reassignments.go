package ingest

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleListPartitionReassignments(ctx context.Context, req *kmsg.ListPartitionReassignmentsRequest) (*kmsg.ListPartitionReassignmentsResponse, error) {
	ctx, cancel := cc.bounded(ctx, req.TimeoutMillis)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if err := cc.authCluster(kmsg.ACLOperationDescribe); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	var names []string
	want := map[string][]int32{}
	if req.Topics != nil {
		names = []string{}
		for _, t := range req.Topics {
			names = append(names, t.Topic)
			want[t.Topic] = t.Partitions
		}
	}
	states, err := cc.s.b.Replicas.Reassignments(ctx, names)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	byTopic := map[string]int{}
	for _, st := range states {
		if ps, ok := want[st.Topic]; req.Topics != nil && (!ok || !slices.Contains(ps, st.Partition)) {
			continue
		}
		i, ok := byTopic[st.Topic]
		if !ok {
			t := kmsg.NewListPartitionReassignmentsResponseTopic()
			t.Topic = st.Topic
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			byTopic[st.Topic] = i
		}
		p := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		p.Partition, p.Replicas = st.Partition, st.Replicas
		p.AddingReplicas, p.RemovingReplicas = st.AddingReplicas, st.RemovingReplicas
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
	return resp, nil
}
