package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnStates are the state names ListTransactions filters on.
var txnStates = map[string]bool{
	"Empty": true, "Ongoing": true, "PrepareCommit": true, "PrepareAbort": true,
	"CompleteCommit": true, "CompleteAbort": true, "Dead": true, "PrepareEpochFence": true,
}

// ListTransactions v0-v1: the transactional ids this broker coordinates,
// filtered by state and producer id, and (v1, KIP-994) by how long their
// transaction is open. Unknown state names come back in
// UnknownStateFilters and match nothing.
func (cc *clientConn) handleListTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) (*kmsg.ListTransactionsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	t := cc.s.b.Transactions
	if t == nil {
		resp.ErrorCode = errorCode(errNoTransactions())
		return resp, nil
	}
	var states []string
	for _, s := range req.StateFilters {
		if txnStates[s] {
			states = append(states, s)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return resp, nil
	}
	dur := int64(-1)
	if req.Version >= 1 {
		dur = req.DurationFilterMillis
	}
	ls, err := t.ListTransactions(ctx, states, req.ProducerIDFilters, dur)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	for _, l := range ls {
		if cc.authTransactionalID(kmsg.ACLOperationDescribe, l.TransactionalID) != nil {
			continue // listed only to who may describe it, as Kafka
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = l.TransactionalID, l.ProducerID, l.State
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
