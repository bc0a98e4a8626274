package ingest

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions v0: the state of each transactional id this
// broker coordinates (NOT_COORDINATOR for the others,
// TRANSACTIONAL_ID_NOT_FOUND for unknown ones).
func (cc *clientConn) handleDescribeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) (*kmsg.DescribeTransactionsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	var ds []TxnDescription
	if t := cc.s.b.Transactions; t != nil {
		ds = t.DescribeTransactions(ctx, req.TransactionalIDs)
	}
	for i, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
		if i >= len(ds) {
			st.ErrorCode = errorCode(errNoTransactions())
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		d := ds[i]
		if d.Err != nil {
			st.ErrorCode = errorCode(d.Err)
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State, st.TimeoutMillis, st.StartTimestamp = d.State, d.TimeoutMs, d.StartMs
		st.ProducerID, st.ProducerEpoch = d.ProducerID, d.ProducerEpoch
		for _, tp := range d.Partitions {
			n := len(st.Topics)
			if n == 0 || st.Topics[n-1].Topic != tp.Topic {
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = tp.Topic
				st.Topics = append(st.Topics, t)
				n++
			}
			st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, tp.Partition)
		}
		for i := range st.Topics {
			slices.Sort(st.Topics[i].Partitions)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
