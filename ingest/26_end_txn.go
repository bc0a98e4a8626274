package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn v0-v3: commit or abort the producer's transaction. The answer
// comes once the decision is durable; the markers follow, and the
// producer's next transaction waits (CONCURRENT_TRANSACTIONS) until they
// are written. v4 and v5 belong to transactions v2 (KIP-890 part 2),
// which Strata does not advertise, so they are not offered.
func (cc *clientConn) handleEndTxn(ctx context.Context, req *kmsg.EndTxnRequest) (*kmsg.EndTxnResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	t := cc.s.b.Transactions
	if t == nil {
		resp.ErrorCode = errorCode(errNoTransactions())
		return resp, nil
	}
	err := cc.authTransactionalID(kmsg.ACLOperationWrite, req.TransactionalID)
	if err == nil {
		p := TxnProducer{TransactionalID: req.TransactionalID, ProducerID: req.ProducerID, Epoch: req.ProducerEpoch}
		err = t.EndTxn(ctx, p, req.Commit)
	}
	resp.ErrorCode = txnErrorCode(err, req.Version, 2)
	return resp, nil
}
