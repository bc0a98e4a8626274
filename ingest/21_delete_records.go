package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords v0-v2: moves each partition's log start offset up to the
// requested offset (-1: the high watermark) on its leader; the response's
// low watermark is the log start after it. Kafka checks DELETE on the
// topic.
func (cc *clientConn) handleDeleteRecords(ctx context.Context, req *kmsg.DeleteRecordsRequest) (*kmsg.DeleteRecordsResponse, error) {
	ctx, cancel := cc.bounded(ctx, req.TimeoutMillis)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		topicErr := cc.authTopic(kmsg.ACLOperationDelete, rt.Topic)
		count := map[int32]int{}
		for _, rp := range rt.Partitions {
			count[rp.Partition]++
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			err := topicErr
			if err == nil && count[rp.Partition] > 1 {
				err = kerr.InvalidRequest // one partition named twice
			}
			var p Partition
			if err == nil {
				p, err = cc.s.b.Partitions.Partition(rt.Topic, rp.Partition)
			}
			if err == nil {
				sp.LowWatermark, err = p.DeleteRecords(ctx, rp.Offset)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.LowWatermark = -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
