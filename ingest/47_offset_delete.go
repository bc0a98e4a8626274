package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete v0: deletes committed offsets of an empty group, or of
// topics a consumer group with members does not subscribe to.
func (cc *clientConn) handleOffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) (*kmsg.OffsetDeleteResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	errs := make([][]error, len(req.Topics))
	type pos struct{ t, p int }
	var parts []TopicPartition
	var index []pos
	if err := cc.authGroup(kmsg.ACLOperationDelete, req.Group); err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	for ti, rt := range req.Topics {
		errs[ti] = make([]error, len(rt.Partitions))
		n := cc.partitionCount(rt.Topic)
		topicErr := cc.authTopic(kmsg.ACLOperationRead, rt.Topic)
		for pi, rp := range rt.Partitions {
			if topicErr != nil {
				errs[ti][pi] = topicErr
				continue
			}
			if rp.Partition < 0 || rp.Partition >= n {
				errs[ti][pi] = unknownPartition(rt.Topic, rp.Partition)
				continue
			}
			parts = append(parts, TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			index = append(index, pos{ti, pi})
		}
	}
	gs, err := groupPart(cc.s.b.Offsets)
	var results []error
	if err == nil {
		results, err = gs.DeleteOffsets(ctx, req.Group, parts)
	}
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	for i, at := range index {
		errs[at.t][at.p] = results[i]
	}
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = errorCode(errs[ti][pi])
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
