package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/recordbatch"
)

// verifyTxnProduce is KIP-890 part 1 for one partition of a
// transactional produce: the batch's producer must have added the
// partition to its open transaction, which the transaction coordinator
// confirms (TxnVerifier caches what it confirmed). A produce that skipped
// AddPartitionsToTxn, or one of a fenced producer, is refused with
// INVALID_TXN_STATE (or the coordinator's PRODUCER_FENCED) and nothing is
// appended. A batch that is not transactional, or that does not parse, is
// left to the partition's own checks.
func (cc *clientConn) verifyTxnProduce(ctx context.Context, txnID, topic string, partition int32, records []byte) error {
	h, err := recordbatch.ParseHeader(records)
	if err != nil || !h.Attributes.IsTransactional() {
		return nil
	}
	v := cc.s.b.TxnVerifier
	if v == nil {
		return fmt.Errorf("%w: this broker cannot verify transactions", kerr.InvalidTxnState)
	}
	return v.VerifyTxnProduce(ctx, TxnProducer{TransactionalID: txnID, ProducerID: h.ProducerID, Epoch: h.ProducerEpoch}, topic, partition)
}
