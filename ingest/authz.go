package ingest

import "github.com/twmb/franz-go/pkg/kmsg"

// fetchReplicaID is the replica a Fetch names (ReplicaState from v15);
// negative for a consumer.
func fetchReplicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// mayFetchAsReplica reports whether the connection proved to be the
// broker replicaID: only then may its fetches read past the high
// watermark and move a follower's progress (the high watermark, the
// ISR). A claim alone is refused, and the refusal logged, as Kafka's
// authorizer logs denials.
func (cc *clientConn) mayFetchAsReplica(replicaID int32) bool {
	a := cc.s.b.Authorizer
	if cc.sasl == saslDone && a != nil && a.AuthorizeReplica(cc.principal, replicaID) {
		return true
	}
	cc.s.metrics.deniedReplicaFetches.Inc()
	cc.log.Info("replica fetch refused: the connection is not that broker", "replica_id", replicaID, "principal", cc.principal, "client_id", cc.clientID)
	return false
}

// refuseFetch answers every partition of a Fetch with code, as Kafka
// answers a replica fetch without ClusterAction (TOPIC_AUTHORIZATION_FAILED
// per partition, no offsets, no records).
func refuseFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, code int16) *kmsg.FetchResponse {
	resp.Topics = resp.Topics[:0]
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.RecordBatches = []byte{} // empty, not null (kafka-python)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// mayActAsBroker reports whether the connection proved to be one of the
// cluster's brokers, which alone may send the inter-broker APIs (Kafka's
// ClusterAction on the cluster): WriteTxnMarkers. A refusal is logged.
func (cc *clientConn) mayActAsBroker(apiName string) bool {
	a := cc.s.b.Authorizer
	if cc.sasl == saslDone && a != nil && a.AuthorizeBroker(cc.principal) {
		return true
	}
	cc.log.Info("inter-broker request refused: the connection is not a broker", "api", apiName, "principal", cc.principal, "client_id", cc.clientID)
	return false
}
