package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers v0 (KIP-664): per partition this broker leads, the
// producers its log remembers, with the first offset of each one's open
// transaction (kafka-transactions.sh find-hanging). A partition led
// elsewhere is NOT_LEADER_OR_FOLLOWER, an unknown one
// UNKNOWN_TOPIC_OR_PARTITION; the topic needs Read
// (TOPIC_AUTHORIZATION_FAILED), as in Kafka.
func (cc *clientConn) handleDescribeProducers(_ context.Context, req *kmsg.DescribeProducersRequest) (*kmsg.DescribeProducersResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		topicErr := cc.authTopic(kmsg.ACLOperationRead, rt.Topic)
		for _, partition := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = partition
			err := topicErr
			var p Partition
			if err == nil {
				p, err = cc.s.b.Partitions.Partition(rt.Topic, partition)
			}
			var producers []ProducerState
			if err == nil {
				producers, err = p.Producers()
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				msg := err.Error()
				sp.ErrorMessage = &msg
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, ps := range producers {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = ps.ProducerID, ps.ProducerEpoch, ps.LastSequence
				ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = ps.LastTimestamp, ps.CoordinatorEpoch, ps.CurrentTxnStartOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
