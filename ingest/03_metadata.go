package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

func (cc *clientConn) handleMetadata(ctx context.Context, req *kmsg.MetadataRequest) (*kmsg.MetadataResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	c, topics := cc.s.b.Cluster, cc.s.b.Topics
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	live, listed := map[int32]bool{}, map[int32]bool{}
	for _, b := range c.Brokers() {
		live[b.ID] = true
		host, port, ok := cc.endpoint(b)
		if !ok {
			continue // not on this listener
		}
		listed[b.ID] = true
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.ID, host, port
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	clusterID := c.ClusterID()
	resp.ClusterID = &clusterID
	resp.ControllerID = cc.clientControllerID(listed)
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = cc.authorizedOps(auth.Cluster, auth.ClusterName)
	}
	// A topic the principal may not Describe is left out of a listing
	// and, when named, answered TOPIC_AUTHORIZATION_FAILED: its name never
	// reaches a client that may not see it.
	topicOut := func(mt kmsg.MetadataResponseTopic) {
		if req.IncludeTopicAuthorizedOperations && mt.ErrorCode == 0 && mt.Topic != nil {
			mt.AuthorizedOperations = cc.authorizedOps(auth.Topic, *mt.Topic)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	denied := func(name *string, id [16]byte) {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = name, id
		mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		resp.Topics = append(resp.Topics, mt)
	}

	// v0: an empty list means every topic; v1+: null means every topic.
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	offsets, withOffsets := cc.offsetsTopic()
	internal := func(t TopicInfo) kmsg.MetadataResponseTopic {
		mt := metadataTopic(t, live)
		mt.IsInternal = true
		return mt
	}
	if all {
		for _, t := range topics.Topics() {
			if cc.allowed(kmsg.ACLOperationDescribe, auth.Topic, t.Name) {
				topicOut(metadataTopic(t, live))
			}
		}
		if withOffsets && cc.allowed(kmsg.ACLOperationDescribe, auth.Topic, offsetsTopicName) {
			topicOut(internal(offsets))
		}
		return resp, nil
	}
	// A topic this request auto-creates is answered as Kafka answers it,
	// LEADER_NOT_AVAILABLE with no partitions (the client asks again),
	// not with the new topic's partitions. A client
	// that asks for auto-creation on every Metadata (kafka-go's
	// ReadPartitions: v1-v3, or v4+ with AllowAutoTopicCreation) and reads
	// a topic it just deleted learns it is gone, instead of seeing the
	// partitions of a topic its own question created again.
	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			if withOffsets && rt.TopicID == offsets.ID {
				if cc.authTopic(kmsg.ACLOperationDescribe, offsetsTopicName) != nil {
					denied(nil, rt.TopicID)
					continue
				}
				topicOut(internal(offsets))
				continue
			}
			t, ok := topics.TopicByID(rt.TopicID)
			if ok && cc.authTopic(kmsg.ACLOperationDescribe, t.Name) != nil {
				denied(nil, rt.TopicID)
				continue
			}
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			topicOut(metadataTopic(t, live))
			continue
		}
		name := *rt.Topic
		if cc.authTopic(kmsg.ACLOperationDescribe, name) != nil {
			denied(&name, [16]byte{})
			continue
		}
		if name == offsetsTopicName && withOffsets {
			topicOut(internal(offsets))
			continue
		}
		t, ok := topics.Topic(name)
		var err error
		switch {
		case ok:
		case name == offsetsTopicName:
			err = kerr.UnknownTopicOrPartition // never auto-created
		case !autoCreate:
			err = kerr.UnknownTopicOrPartition
		default:
			if _, err = cc.ensureTopic(ctx, name); err == nil {
				err = kerr.LeaderNotAvailable // created now: listed from the next Metadata on
			}
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = &name
			mt.ErrorCode = errorCode(err)
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		topicOut(metadataTopic(t, live))
	}
	return resp, nil
}

// clientControllerID is the controller as a client is told it: the broker
// it sends CreateTopics, DeleteTopics and the other admin requests to
// (kafka-go's Conn.Controller dials the listed broker with that id).
// Every Strata broker serves those requests, so while no controller is
// elected (-1, for a moment after startup) or the elected one is not
// listed on this listener, this broker names itself, as a KRaft broker
// names some live broker: -1 or an unlisted id leaves such a client with
// nowhere to go.
func (cc *clientConn) clientControllerID(listed map[int32]bool) int32 {
	c := cc.s.b.Cluster
	if id := c.ControllerID(); listed[id] {
		return id
	}
	return c.ID()
}

func metadataTopic(t TopicInfo, live map[int32]bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	for _, st := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = st.Partition
		mp.Leader = st.Leader
		mp.LeaderEpoch = st.LeaderEpoch
		mp.Replicas = append([]int32(nil), st.Replicas...)
		mp.ISR = append([]int32(nil), st.ISR...)
		for _, r := range st.Replicas {
			if !live[r] {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if !live[st.Leader] {
			mp.Leader = -1
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
