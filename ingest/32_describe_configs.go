package ingest

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleDescribeConfigs(_ context.Context, req *kmsg.DescribeConfigsRequest) (*kmsg.DescribeConfigsResponse, error) {
	configs := cc.s.b.Configs
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []ConfigEntry
		var err error
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if err = cc.authTopic(kmsg.ACLOperationDescribeConfigs, rr.ResourceName); err == nil {
				entries, err = configs.DescribeTopicConfigs(rr.ResourceName)
			}
		case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
			if err = cc.authCluster(kmsg.ACLOperationDescribeConfigs); err != nil {
				break
			}
			if err = cc.thisBroker(rr.ResourceName); err != nil {
				break
			}
			switch {
			case rr.ResourceType == kmsg.ConfigResourceTypeBrokerLogger:
				entries = configs.BrokerLoggers()
			case rr.ResourceName == "":
				// Kafka: the cluster-wide dynamic defaults alone.
				entries = configs.BrokerDefaultConfigs()
			default:
				entries = configs.BrokerConfigs()
			}
		default:
			err = fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, rr.ResourceType)
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		want := map[string]bool{}
		for _, n := range rr.ConfigNames {
			want[n] = true
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !want[e.Name] {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name = e.Name
			v := e.Value
			rc.Value = &v
			rc.ReadOnly = e.ReadOnly
			rc.IsDefault = e.Default
			rc.Source = configSource(e)
			rc.IsSensitive = e.Sensitive
			rc.ConfigType = kmsg.ConfigType(e.Type)
			if req.IncludeDocumentation && e.Doc != "" {
				doc := e.Doc
				rc.Documentation = &doc
			}
			if req.IncludeSynonyms {
				if len(e.Synonyms) == 0 {
					syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					syn.Name, syn.Value, syn.Source = e.Name, rc.Value, rc.Source
					rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn)
				}
				for _, s := range e.Synonyms {
					syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					v := s.Value
					syn.Name, syn.Value, syn.Source = s.Name, &v, kmsg.ConfigSource(s.Source)
					rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn)
				}
			}
			sr.Configs = append(sr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// thisBroker refuses a broker resource naming another broker: each
// broker answers for itself, as clients send such requests to the broker
// named.
func (cc *clientConn) thisBroker(resource string) error {
	if resource != "" && resource != strconv.Itoa(int(cc.s.b.Cluster.ID())) {
		return fmt.Errorf("%w: broker %s: ask that broker for its configs", kerr.InvalidRequest, resource)
	}
	return nil
}

func configSource(e ConfigEntry) kmsg.ConfigSource {
	switch {
	case e.Source != 0:
		return kmsg.ConfigSource(e.Source)
	case e.ReadOnly:
		return kmsg.ConfigSourceStaticBrokerConfig
	case e.Default:
		return kmsg.ConfigSourceDefaultConfig
	}
	return kmsg.ConfigSourceDynamicTopicConfig
}
