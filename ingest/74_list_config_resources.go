package ingest

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListConfigResources v0-v1 (KIP-1000, renamed by KIP-1142): the config
// resources of the asked types (v1; none asked: every type), each with
// its type: every topic (TOPIC), every live broker's id (BROKER,
// BROKER_LOGGER). Strata keeps no group configs and no client-metrics
// subscriptions, so GROUP and CLIENT_METRICS list nothing, and v0 (which
// lists client-metrics resources only) answers an empty list. Kafka checks
// DESCRIBE_CONFIGS on the cluster; an unknown type is INVALID_REQUEST.
func (cc *clientConn) handleListConfigResources(_ context.Context, req *kmsg.ListConfigResourcesRequest) (*kmsg.ListConfigResourcesResponse, error) {
	resp := req.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	if err := cc.authCluster(kmsg.ACLOperationDescribeConfigs); err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	if req.Version == 0 {
		return resp, nil // client-metrics resources: none
	}
	supported := []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger,
		configResourceTypeGroup, kmsg.ConfigResourceTypeClientMetrics}
	types := supported
	if len(req.ResourceTypes) > 0 {
		types = nil
		for _, t := range req.ResourceTypes {
			typ := kmsg.ConfigResourceType(t)
			known := false
			for _, s := range supported {
				known = known || s == typ
			}
			if !known {
				resp.ErrorCode = errorCode(fmt.Errorf("%w: config resource type %d", kerr.InvalidRequest, t))
				return resp, nil
			}
			types = append(types, typ)
		}
	}
	add := func(typ kmsg.ConfigResourceType, name string) {
		r := kmsg.NewListConfigResourcesResponseConfigResource()
		r.Name, r.Type = name, int8(typ)
		resp.ConfigResources = append(resp.ConfigResources, r)
	}
	for _, typ := range types {
		switch typ {
		case kmsg.ConfigResourceTypeTopic:
			for _, t := range cc.s.b.Topics.Topics() {
				add(typ, t.Name)
			}
		case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
			for _, b := range cc.s.b.Cluster.Brokers() {
				add(typ, strconv.Itoa(int(b.ID)))
			}
		}
	}
	return resp, nil
}

// configResourceTypeGroup is KIP-848's GROUP config resource (kmsg names
// no constant for it).
const configResourceTypeGroup kmsg.ConfigResourceType = 32
