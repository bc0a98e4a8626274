package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// UpdateFeatures v0-v2 (KIP-584). Strata finalizes no feature: ApiVersions
// lists neither supported nor finalized features (so clients keep the
// behaviour of brokers without them: transaction.version 0, the classic
// group protocol), and an update is refused with INVALID_UPDATE_VERSION
// unless it asks for level 0, where every feature already is (a no-op, as
// Kafka's for a feature not finalized). Kafka checks ALTER on the cluster.
// v2 answers one top-level error (the first failed update's).
func (cc *clientConn) handleUpdateFeatures(_ context.Context, req *kmsg.UpdateFeaturesRequest) (*kmsg.UpdateFeaturesResponse, error) {
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	if err := cc.authCluster(kmsg.ACLOperationAlter); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	seen := map[string]bool{}
	for _, u := range req.FeatureUpdates {
		r := kmsg.NewUpdateFeaturesResponseResult()
		r.Feature = u.Feature
		var err error
		switch {
		case u.Feature == "":
			err = fmt.Errorf("%w: a feature update without a feature name", kerr.InvalidRequest)
		case seen[u.Feature]:
			err = fmt.Errorf("%w: feature %s named twice", kerr.InvalidRequest, u.Feature)
		case u.MaxVersionLevel != 0:
			err = fmt.Errorf("%w: feature %s: Strata supports no level but 0", kerr.InvalidUpdateVersion, u.Feature)
		}
		seen[u.Feature] = true
		if err != nil {
			r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
			if req.Version >= 2 && resp.ErrorCode == 0 {
				resp.ErrorCode, resp.ErrorMessage = r.ErrorCode, r.ErrorMessage
			}
		}
		if req.Version < 2 {
			resp.Results = append(resp.Results, r)
		}
	}
	return resp, nil
}
