package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleListOffsets(_ context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		topicErr := cc.authTopic(kmsg.ACLOperationDescribe, rt.Topic)
		// Kafka refuses a partition named twice in one request.
		count := map[int32]int{}
		for _, rp := range rt.Partitions {
			count[rp.Partition]++
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if count[rp.Partition] > 1 {
				sp.ErrorCode = kerr.InvalidRequest.Code
				sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			var p Partition
			err := topicErr
			if err == nil {
				p, err = cc.s.b.Partitions.Partition(rt.Topic, rp.Partition)
			}
			if err == nil {
				var off, ts int64
				var epoch int32
				off, ts, epoch, err = p.ListOffset(rp.Timestamp, rp.CurrentLeaderEpoch)
				if err == nil && rp.Timestamp == listLatest && req.IsolationLevel == readCommitted {
					// read_committed consumers start at the last stable
					// offset, not the high watermark.
					off = p.LastStableOffset()
				}
				sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, ts, epoch
				if req.Version == 0 && err == nil && off >= 0 {
					sp.OldStyleOffsets = []int64{off}
				}
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
