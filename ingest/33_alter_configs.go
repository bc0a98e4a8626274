package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs (legacy) replaces a topic's whole set of explicit configs.
func (cc *clientConn) handleAlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) (*kmsg.AlterConfigsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var changes []ConfigChange
		for _, rc := range rr.Configs {
			changes = append(changes, ConfigChange{Name: rc.Name, Value: rc.Value, Op: kmsg.IncrementalAlterConfigOpSet})
		}
		err := cc.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, changes, true, req.ValidateOnly)
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (cc *clientConn) alterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, changes []ConfigChange, replace, validateOnly bool) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := cc.authTopic(kmsg.ACLOperationAlterConfigs, name); err != nil {
			return err
		}
		return cc.s.b.Configs.AlterTopicConfigs(ctx, name, changes, replace, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		if err := cc.authCluster(kmsg.ACLOperationAlterConfigs); err != nil {
			return err
		}
		return cc.s.b.Configs.AlterBrokerConfigs(ctx, name, changes, replace, validateOnly)
	case kmsg.ConfigResourceTypeBrokerLogger:
		if err := cc.authCluster(kmsg.ACLOperationAlterConfigs); err != nil {
			return err
		}
		if replace {
			return fmt.Errorf("%w: BROKER_LOGGER resources take IncrementalAlterConfigs only", kerr.InvalidRequest)
		}
		if err := cc.thisBroker(name); err != nil {
			return err
		}
		return cc.s.b.Configs.AlterBrokerLoggers(changes, validateOnly)
	}
	return fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, typ)
}
