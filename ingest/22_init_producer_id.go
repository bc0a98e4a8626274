package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId v0-v4. Without a transactional id (idempotent
// producers) every call gets a new producer id at epoch 0, as Kafka does
// (a client that lost track of its sequences, KIP-360, simply starts
// over with a new id). With one (Write on the transactional id), the
// transaction coordinator answers: the id's producer id with its epoch
// bumped (fencing older producers), CONCURRENT_TRANSACTIONS while an open
// transaction of the id is aborted first, INVALID_TRANSACTION_TIMEOUT,
// PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4) for a stale producer
// given with v3+.
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
		t := cc.s.b.Transactions
		if t == nil {
			resp.ErrorCode = errorCode(errNoTransactions())
			return resp, nil
		}
		pid, epoch := req.ProducerID, req.ProducerEpoch
		if req.Version < 3 {
			pid, epoch = -1, -1
		}
		id, ep, err := t.InitTxnProducer(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, pid, epoch)
		if err != nil {
			resp.ErrorCode = txnErrorCode(err, req.Version, 4)
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id, ep
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
