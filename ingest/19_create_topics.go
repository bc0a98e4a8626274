package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

func (cc *clientConn) handleCreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) (*kmsg.CreateTopicsResponse, error) {
	ctx, cancel := cc.bounded(ctx, req.TimeoutMillis)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		if seen[rt.Topic] > 1 {
			err := fmt.Errorf("%w: topic %s named more than once", kerr.InvalidRequest, rt.Topic)
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if err := cc.authCreateTopic(rt.Topic); err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if rt.Topic == offsetsTopicName {
			err := fmt.Errorf("%w: %s is an internal topic", kerr.TopicAlreadyExists, rt.Topic)
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		creq := CreateTopicRequest{
			Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor,
			ValidateOnly: req.ValidateOnly, Configs: map[string]string{},
		}
		for _, ra := range rt.ReplicaAssignment {
			if creq.Assignment == nil {
				creq.Assignment = map[int32][]int32{}
			}
			creq.Assignment[ra.Partition] = ra.Replicas
		}
		var err error
		for _, rc := range rt.Configs {
			if rc.Value == nil {
				err = fmt.Errorf("%w: null value for %s", kerr.InvalidConfig, rc.Name)
				break
			}
			creq.Configs[rc.Name] = *rc.Value
		}
		if err == nil && !req.ValidateOnly {
			err = cc.spendMutations(resp, req.Version >= 6, max(int(rt.NumPartitions), len(rt.ReplicaAssignment), 1))
		}
		var t TopicInfo
		if err == nil {
			t, err = cc.s.b.TopicAdmin.CreateTopic(ctx, creq)
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = t.ID
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = t.ReplicationFactor
		entries, _ := cc.s.b.Configs.DescribeTopicConfigs(t.Name)
		if req.ValidateOnly || !cc.allowed(kmsg.ACLOperationDescribeConfigs, auth.Topic, t.Name) {
			entries = nil
		}
		for _, e := range entries {
			rc := kmsg.NewCreateTopicsResponseTopicConfig()
			rc.Name = e.Name
			v := e.Value
			rc.Value = &v
			rc.ReadOnly = e.ReadOnly
			rc.Source = int8(configSource(e))
			rc.IsSensitive = e.Sensitive
			st.Configs = append(st.Configs, rc)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
