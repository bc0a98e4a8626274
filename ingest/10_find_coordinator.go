package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator v0-v4 (v4: several keys per request). A group is
// coordinated by the broker the group coordinator places it on, a
// transactional id (key type 1) by the broker the transaction
// coordinator places it on (both a hash of the key over the live
// brokers); without a group coordinator every broker answers for itself
// for groups, and without a transaction coordinator transactional ids
// are refused with a non-retriable error. The principal needs Describe
// on the group or the transactional id.
func (cc *clientConn) handleFindCoordinator(_ context.Context, req *kmsg.FindCoordinatorRequest) (*kmsg.FindCoordinatorResponse, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	answer := func(key string) (int32, string, int32, error) {
		selfHost, selfPort := cc.selfEndpoint()
		self := cc.s.b.Cluster.ID()
		var id int32
		what := "group"
		switch {
		case req.CoordinatorType == 1:
			what = "transactional id"
			if err := cc.authTransactionalID(kmsg.ACLOperationDescribe, key); err != nil {
				return -1, "", -1, err
			}
			if cc.s.b.Transactions == nil {
				// The code InitProducerId answers too, which kgo and
				// librdkafka surface as a fatal error.
				return -1, "", -1, errNoTransactions()
			}
			if key == "" {
				return -1, "", -1, fmt.Errorf("%w: empty transactional id", kerr.InvalidRequest)
			}
			id = cc.s.b.Transactions.TxnCoordinatorFor(key)
		case req.CoordinatorType != 0:
			return -1, "", -1, fmt.Errorf("%w: coordinator type %d", kerr.InvalidRequest, req.CoordinatorType)
		case key == "":
			return -1, "", -1, fmt.Errorf("%w: empty group id", kerr.InvalidGroupID)
		default:
			if err := cc.authGroup(kmsg.ACLOperationDescribe, key); err != nil {
				return -1, "", -1, err
			}
			if cc.s.b.GroupPlacement == nil {
				return self, selfHost, selfPort, nil
			}
			id = cc.s.b.GroupPlacement.CoordinatorFor(key)
		}
		if id == self {
			return self, selfHost, selfPort, nil
		}
		for _, b := range cc.s.b.Cluster.Brokers() {
			if host, port, ok := cc.endpoint(b); ok && b.ID == id {
				return b.ID, host, port, nil
			}
		}
		return -1, "", -1, fmt.Errorf("%w: coordinator broker %d of %s %q is not live", kerr.CoordinatorNotAvailable, id, what, key)
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
