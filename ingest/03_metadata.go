package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleMetadata(ctx context.Context, req *kmsg.MetadataRequest) (*kmsg.MetadataResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	c, topics := cc.s.b.Cluster, cc.s.b.Topics
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	live := map[int32]bool{}
	for _, b := range c.Brokers() {
		live[b.ID] = true
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	clusterID := c.ClusterID()
	resp.ClusterID = &clusterID
	resp.ControllerID = c.ControllerID()

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
			resp.Topics = append(resp.Topics, metadataTopic(t, live))
		}
		if withOffsets {
			resp.Topics = append(resp.Topics, internal(offsets))
		}
		return resp, nil
	}
	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			if withOffsets && rt.TopicID == offsets.ID {
				resp.Topics = append(resp.Topics, internal(offsets))
				continue
			}
			t, ok := topics.TopicByID(rt.TopicID)
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, metadataTopic(t, live))
			continue
		}
		name := *rt.Topic
		if name == offsetsTopicName && withOffsets {
			resp.Topics = append(resp.Topics, internal(offsets))
			continue
		}
		t, ok := topics.Topic(name)
		var err error
		switch {
		case ok:
		case name == offsetsTopicName:
			err = kerr.UnknownTopicOrPartition // never auto-created
		default:
			if autoCreate {
				t, err = cc.s.b.TopicAdmin.EnsureTopic(ctx, name)
			} else {
				err = kerr.UnknownTopicOrPartition
			}
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = &name
			mt.ErrorCode = errorCode(err)
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, metadataTopic(t, live))
	}
	return resp, nil
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
