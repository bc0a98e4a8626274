package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleIncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) (*kmsg.IncrementalAlterConfigsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var changes []ConfigChange
		for _, rc := range rr.Configs {
			changes = append(changes, ConfigChange{Name: rc.Name, Value: rc.Value, Op: rc.Op})
		}
		err := cc.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, changes, false, req.ValidateOnly)
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
