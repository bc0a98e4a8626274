package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every broker coordinates the groups it is asked about until group
// placement arrives with the cluster; transactions are not offered.
func (cc *clientConn) handleFindCoordinator(_ context.Context, req *kmsg.FindCoordinatorRequest) (*kmsg.FindCoordinatorResponse, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	answer := func(key string) (int32, string, int32, error) {
		switch {
		case req.CoordinatorType != 0:
			return -1, "", -1, fmt.Errorf("%w: transactions are not supported", kerr.CoordinatorNotAvailable)
		case key == "":
			return -1, "", -1, fmt.Errorf("%w: empty group id", kerr.InvalidGroupID)
		}
		return cc.s.cluster.ID(), cc.s.cfg.AdvertisedHost, cc.s.cfg.AdvertisedPort, nil
	}
	if req.Version >= 4 {
		for _, key := range req.CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key = key
			var err error
			c.NodeID, c.Host, c.Port, err = answer(key)
			c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Coordinators = append(resp.Coordinators, c)
		}
		return resp, nil
	}
	var err error
	resp.NodeID, resp.Host, resp.Port, err = answer(req.CoordinatorKey)
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return resp, nil
}
