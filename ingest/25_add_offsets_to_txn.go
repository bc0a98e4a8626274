package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddOffsetsToTxn v0-v3: the group's offsets join the producer's
// transaction (its partition of __consumer_offsets, as in Kafka), so that
// the TxnOffsetCommit that follows becomes visible when the transaction
// commits. Write on the transactional id and Read on the group are
// needed.
func (cc *clientConn) handleAddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) (*kmsg.AddOffsetsToTxnResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	t := cc.s.b.Transactions
	if t == nil {
		resp.ErrorCode = errorCode(errNoTransactions())
		return resp, nil
	}
	err := cc.authTransactionalID(kmsg.ACLOperationWrite, req.TransactionalID)
	if err == nil {
		err = cc.authGroup(kmsg.ACLOperationRead, req.Group)
	}
	if err == nil {
		p := TxnProducer{TransactionalID: req.TransactionalID, ProducerID: req.ProducerID, Epoch: req.ProducerEpoch}
		err = t.AddOffsetsToTxn(ctx, p, req.Group)
	}
	resp.ErrorCode = txnErrorCode(err, req.Version, 2)
	return resp, nil
}
