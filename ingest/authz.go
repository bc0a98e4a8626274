package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// Authorization. Every handler asks, before it acts, whether the
// connection's principal may perform the operation Kafka checks for that
// API, through one helper per resource type:
//
//	cc.authTopic(op, topic)           TOPIC_AUTHORIZATION_FAILED
//	cc.authGroup(op, group)           GROUP_AUTHORIZATION_FAILED
//	cc.authCluster(op)                CLUSTER_AUTHORIZATION_FAILED
//	cc.authTransactionalID(op, id)    TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//
// Each returns nil when allowed and otherwise the error (a kerr code,
// wrapped) to put in the response; a denial is counted and written as one
// structured audit line (audit=true). Listings that hide what may not be
// seen (Metadata of every topic, ListGroups) use cc.allowed, which logs
// nothing. Without an ACL authorizer (Backend.ACLs nil) everything is
// allowed. Operations are auth's (kmsg.ACLOperation*).

// allowed decides silently.
func (cc *clientConn) allowed(op auth.Operation, rt auth.ResourceType, name string) bool {
	a := cc.s.b.ACLs
	return a == nil || a.Authorize(cc.principal, cc.host, op, rt, name)
}

// authorize decides and, on a denial, logs the audit line and returns
// code.
func (cc *clientConn) authorize(op auth.Operation, rt auth.ResourceType, name string, code *kerr.Error) error {
	if cc.allowed(op, rt, name) {
		return nil
	}
	cc.s.metrics.denied.Inc()
	cc.log.Info("authorization denied", "audit", true, "principal", cc.principal, "host", cc.host,
		"api", kmsg.NameForKey(cc.apiKey), "operation", op.String(), "resource_type", rt.String(),
		"resource_name", name, "listener", cc.listener, "client_id", cc.clientID)
	return code
}

// authTopic checks op on a topic.
func (cc *clientConn) authTopic(op auth.Operation, topic string) error {
	return cc.authorize(op, auth.Topic, topic, kerr.TopicAuthorizationFailed)
}

// authGroup checks op on a consumer group.
func (cc *clientConn) authGroup(op auth.Operation, group string) error {
	return cc.authorize(op, auth.Group, group, kerr.GroupAuthorizationFailed)
}

// authCluster checks op on the cluster.
func (cc *clientConn) authCluster(op auth.Operation) error {
	return cc.authorize(op, auth.Cluster, auth.ClusterName, kerr.ClusterAuthorizationFailed)
}

// authTransactionalID checks op on a transactional id.
func (cc *clientConn) authTransactionalID(op auth.Operation, id string) error {
	return cc.authorize(op, auth.TransactionalID, id, kerr.TransactionalIDAuthorizationFailed)
}

// authCreateTopic checks Create on the cluster or, failing that, on the
// topic (Kafka accepts either for CreateTopics).
func (cc *clientConn) authCreateTopic(topic string) error {
	if cc.allowed(kmsg.ACLOperationCreate, auth.Cluster, auth.ClusterName) {
		return nil
	}
	return cc.authTopic(kmsg.ACLOperationCreate, topic)
}

// ensureTopic is TopicAdmin.EnsureTopic for a principal that may only
// auto-create a topic it may create: a missing topic is
// UNKNOWN_TOPIC_OR_PARTITION to the others, as in Kafka.
func (cc *clientConn) ensureTopic(ctx context.Context, name string) (TopicInfo, error) {
	if t, ok := cc.s.b.Topics.Topic(name); ok {
		return t, nil
	}
	if !cc.allowed(kmsg.ACLOperationCreate, auth.Cluster, auth.ClusterName) && !cc.allowed(kmsg.ACLOperationCreate, auth.Topic, name) {
		return TopicInfo{}, kerr.UnknownTopicOrPartition
	}
	return cc.s.b.TopicAdmin.EnsureTopic(ctx, name)
}

// authIdempotentWrite checks what an idempotent producer needs (KIP-679):
// IdempotentWrite on the cluster, or Write on some topic.
func (cc *clientConn) authIdempotentWrite() error {
	if cc.s.b.ACLs == nil || cc.allowed(kmsg.ACLOperationIdempotentWrite, auth.Cluster, auth.ClusterName) {
		return nil
	}
	for _, t := range cc.s.b.Topics.Topics() {
		if cc.allowed(kmsg.ACLOperationWrite, auth.Topic, t.Name) {
			return nil
		}
	}
	return cc.authCluster(kmsg.ACLOperationIdempotentWrite)
}

// authorizedOps is the authorized-operations bitfield of a resource
// (Metadata, DescribeCluster, DescribeGroups, when asked for).
func (cc *clientConn) authorizedOps(rt auth.ResourceType, name string) int32 {
	return auth.OperationsBitfield(func(op auth.Operation) bool { return cc.allowed(op, rt, name) }, rt)
}

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
// ISR). Kafka asks for ClusterAction on the cluster; here a broker's
// proven identity is needed as well, so that no principal, however
// privileged, moves another broker's progress. A claim alone is refused,
// and the refusal logged, as Kafka's authorizer logs denials.
func (cc *clientConn) mayFetchAsReplica(replicaID int32) bool {
	a := cc.s.b.Authorizer
	if cc.sasl == saslDone && a != nil && a.AuthorizeReplica(cc.principal, replicaID) {
		return true
	}
	cc.s.metrics.deniedReplicaFetches.Inc()
	cc.log.Info("replica fetch refused: the connection is not that broker", "audit", true, "replica_id", replicaID,
		"principal", cc.principal, "host", cc.host, "client_id", cc.clientID)
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
