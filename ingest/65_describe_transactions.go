package ingest

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions v0: the state of each transactional id this
// broker coordinates (NOT_COORDINATOR for the others,
// TRANSACTIONAL_ID_NOT_FOUND for unknown ones,
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED without Describe on the id).
func (cc *clientConn) handleDescribeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) (*kmsg.DescribeTransactionsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	var allowed []string
	denied := map[int]error{}
	for i, id := range req.TransactionalIDs {
		if err := cc.authTransactionalID(kmsg.ACLOperationDescribe, id); err != nil {
			denied[i] = err
		} else {
			allowed = append(allowed, id)
		}
	}
	var ds []TxnDescription
	if t := cc.s.b.Transactions; t != nil && len(allowed) > 0 {
		ds = t.DescribeTransactions(ctx, allowed)
	}
	j := 0
	for i, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
		if err := denied[i]; err != nil {
			st.ErrorCode = errorCode(err)
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		j++
		if j-1 >= len(ds) {
			st.ErrorCode = errorCode(errNoTransactions())
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		d := ds[j-1]
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
