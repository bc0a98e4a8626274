package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WriteTxnMarkers (key 27) is how a transaction coordinator ends a
// transaction on the partitions it touched: for each marker, every named
// partition this broker leads gets a commit or abort control batch
// (Partition.WriteTxnMarker), appended and replicated as acks=all. Only
// brokers may send it (Kafka asks for ClusterAction on the cluster): any
// other connection gets CLUSTER_AUTHORIZATION_FAILED on every partition.
// The partitions are written in parallel, so the replication waits overlap;
// the request is bounded by the server's request timeout. A partition of
// __consumer_offsets stands for the groups of a transaction (their
// offsets live in etcd, not in a log): the group coordinator makes the
// producer's pending offsets in that partition's groups visible, or drops
// them. A written marker also ends what KIP-890 verification remembered
// for the producer on the partition.
func (cc *clientConn) handleWriteTxnMarkers(ctx context.Context, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	authorized := cc.mayActAsBroker("WriteTxnMarkers")
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	type job struct {
		p      Partition
		topic  string
		marker *kmsg.WriteTxnMarkersRequestMarker
		sp     *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
	}
	var jobs []job
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(req.Markers))
	for mi := range req.Markers {
		m := &req.Markers[mi]
		sm := &resp.Markers[mi]
		*sm = kmsg.NewWriteTxnMarkersResponseMarker()
		sm.ProducerID = m.ProducerID
		sm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
		for ti, rt := range m.Topics {
			st := &sm.Topics[ti]
			*st = kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			st.Topic = rt.Topic
			st.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(rt.Partitions))
			for pi, part := range rt.Partitions {
				sp := &st.Partitions[pi]
				*sp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				sp.Partition = part
				if !authorized {
					sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					continue
				}
				if rt.Topic == offsetsTopicName {
					jobs = append(jobs, job{nil, rt.Topic, m, sp})
					continue
				}
				p, err := cc.s.b.Partitions.Partition(rt.Topic, part)
				if err != nil {
					sp.ErrorCode = errorCode(err)
					continue
				}
				jobs = append(jobs, job{p, rt.Topic, m, sp})
			}
		}
	}
	inParallel(len(jobs), func(i int) string {
		return fmt.Sprintf("writing a transaction marker to %s/%d", jobs[i].topic, jobs[i].sp.Partition)
	}, func(i int) {
		j, m := jobs[i], jobs[i].marker
		var err error
		switch {
		case j.p != nil:
			err = j.p.WriteTxnMarker(ctx, m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed)
			if err == nil && cc.s.b.TxnVerifier != nil {
				cc.s.b.TxnVerifier.ForgetTxnProduce(m.ProducerID, j.topic, j.sp.Partition)
			}
		case cc.s.b.TxnOffsets == nil:
			err = fmt.Errorf("%w: no group coordinator on this broker", kerr.NotCoordinator)
		default:
			err = cc.s.b.TxnOffsets.CompleteTxnOffsets(ctx, m.ProducerID, m.Committed, j.sp.Partition, offsetsTopicPartitions)
		}
		if err != nil {
			cc.log.Info("transaction marker refused", "producer_id", m.ProducerID, "epoch", m.ProducerEpoch,
				"topic", j.topic, "partition", j.sp.Partition, "commit", m.Committed, "err", err)
		}
		j.sp.ErrorCode = errorCode(err)
	})
	return resp, nil
}
