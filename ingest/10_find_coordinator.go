package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator v0-v4 (v4: several keys per request). A group is
// coordinated by the broker the group coordinator places it on (a hash of
// the group id over the live brokers); without a coordinator every broker
// answers for itself. Transactions are not offered: a transaction
// coordinator is refused with a non-retriable error.
func (cc *clientConn) handleFindCoordinator(_ context.Context, req *kmsg.FindCoordinatorRequest) (*kmsg.FindCoordinatorResponse, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	answer := func(key string) (int32, string, int32, error) {
		switch {
		case req.CoordinatorType == 1:
			if err := cc.authTransactionalID(kmsg.ACLOperationDescribe, key); err != nil {
				return -1, "", -1, err
			}
			fallthrough
		case req.CoordinatorType != 0:
			// Non-retriable, so that a transactional client fails at
			// once instead of retrying COORDINATOR_NOT_AVAILABLE for
			// its whole timeout; the code InitProducerId answers too,
			// which kgo and librdkafka surface as a fatal error.
			return -1, "", -1, fmt.Errorf("%w: transactions are not supported", kerr.TransactionalIDAuthorizationFailed)
		case key == "":
			return -1, "", -1, fmt.Errorf("%w: empty group id", kerr.InvalidGroupID)
		}
		if err := cc.authGroup(kmsg.ACLOperationDescribe, key); err != nil {
			return -1, "", -1, err
		}
		selfHost, selfPort := cc.selfEndpoint()
		self := cc.s.b.Cluster.ID()
		placement := cc.s.b.GroupPlacement
		if placement == nil {
			return self, selfHost, selfPort, nil
		}
		id := placement.CoordinatorFor(key)
		if id == self {
			return self, selfHost, selfPort, nil
		}
		for _, b := range cc.s.b.Cluster.Brokers() {
			if host, port, ok := cc.endpoint(b); ok && b.ID == id {
				return b.ID, host, port, nil
			}
		}
		return -1, "", -1, fmt.Errorf("%w: coordinator broker %d of group %q is not live", kerr.CoordinatorNotAvailable, id, key)
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
