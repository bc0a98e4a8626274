package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId for idempotent producers: every call gets a new producer
// id at epoch 0, as Kafka does when there is no transactional id (a client
// that lost track of its sequences, KIP-360, simply starts over with a new
// id). Transactional ids are refused: Strata has no transactions.
func (cc *clientConn) handleInitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (*kmsg.InitProducerIDResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		if err := cc.authTransactionalID(kmsg.ACLOperationWrite, *req.TransactionalID); err != nil {
			resp.ErrorCode = errorCode(err)
			return resp, nil
		}
		err := fmt.Errorf("%w: transactions are not supported", kerr.TransactionalIDAuthorizationFailed)
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	if err := cc.authIdempotentWrite(); err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	id, err := cc.s.b.ProducerIDs.NewProducerID(ctx)
	if err != nil {
		cc.log.Error("cannot allocate a producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
