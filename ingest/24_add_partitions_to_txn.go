package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddPartitionsToTxn v0-v5. v0-v3 come from producers: the partitions
// join the producer's transaction, all or none (an unknown partition
// fails with UNKNOWN_TOPIC_OR_PARTITION and the others with
// OPERATION_NOT_ATTEMPTED, as Kafka answers; Write on the transactional
// id and on each topic is needed). v4+ come from brokers
// only (Kafka's ClusterAction; here the connection must be a broker's
// inter-broker identity): several transactions per request, each either
// added or, with VerifyOnly, checked (KIP-890 part 1: a partition leader
// asks before it appends a transactional produce).
func (cc *clientConn) handleAddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	t := cc.s.b.Transactions
	if req.Version >= 4 {
		if !cc.mayActAsBroker("AddPartitionsToTxn") {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp, nil
		}
		if t == nil {
			resp.ErrorCode = errorCode(errNoTransactions())
			return resp, nil
		}
		for _, rt := range req.Transactions {
			st := kmsg.NewAddPartitionsToTxnResponseTransaction()
			st.TransactionalID = rt.TransactionalID
			p := TxnProducer{TransactionalID: rt.TransactionalID, ProducerID: rt.ProducerID, Epoch: rt.ProducerEpoch}
			var parts []TopicPartition
			for _, tt := range rt.Topics {
				parts = appendParts(parts, tt.Topic, tt.Partitions)
			}
			var errs []error
			var err error
			if rt.VerifyOnly {
				errs, err = t.VerifyTxnPartitions(ctx, p, parts)
			} else {
				errs, err = cc.addPartitions(ctx, t, p, parts)
			}
			i := 0
			for _, tt := range rt.Topics {
				rtop := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				rtop.Topic = tt.Topic
				for _, pn := range tt.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					rp.Partition = pn
					rp.ErrorCode = errorCode(nth(errs, i, err))
					rtop.Partitions = append(rtop.Partitions, rp)
					i++
				}
				st.Topics = append(st.Topics, rtop)
			}
			resp.Transactions = append(resp.Transactions, st)
		}
		return resp, nil
	}
	p := TxnProducer{TransactionalID: req.TransactionalID, ProducerID: req.ProducerID, Epoch: req.ProducerEpoch}
	var parts []TopicPartition
	for _, tt := range req.Topics {
		parts = appendParts(parts, tt.Topic, tt.Partitions)
	}
	var errs []error
	err := cc.authTransactionalID(kmsg.ACLOperationWrite, req.TransactionalID)
	switch {
	case err != nil:
	case t == nil:
		err = errNoTransactions()
	default:
		errs, err = cc.addPartitions(ctx, t, p, parts)
	}
	i := 0
	for _, tt := range req.Topics {
		rtop := kmsg.NewAddPartitionsToTxnResponseTopic()
		rtop.Topic = tt.Topic
		for _, pn := range tt.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = pn
			rp.ErrorCode = txnErrorCode(nth(errs, i, err), req.Version, 2)
			rtop.Partitions = append(rtop.Partitions, rp)
			i++
		}
		resp.Topics = append(resp.Topics, rtop)
	}
	return resp, nil
}

// addPartitions checks that every partition exists and adds them all, or
// returns one error per partition: the unknown ones'
// UNKNOWN_TOPIC_OR_PARTITION and OPERATION_NOT_ATTEMPTED for the rest.
func (cc *clientConn) addPartitions(ctx context.Context, t Transactions, p TxnProducer, parts []TopicPartition) ([]error, error) {
	errs := make([]error, len(parts))
	bad := false
	for i, tp := range parts {
		if err := cc.authTopic(kmsg.ACLOperationWrite, tp.Topic); err != nil {
			errs[i] = err
			bad = true
			continue
		}
		if tp.Topic == offsetsTopicName {
			errs[i] = errInternalTopic(tp.Topic)
			bad = true
			continue
		}
		info, ok := cc.s.b.Topics.Topic(tp.Topic)
		if !ok || tp.Partition < 0 || int(tp.Partition) >= len(info.Partitions) {
			errs[i] = fmt.Errorf("%w: %s/%d", kerr.UnknownTopicOrPartition, tp.Topic, tp.Partition)
			bad = true
		}
	}
	if bad {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = kerr.OperationNotAttempted
			}
		}
		return errs, nil
	}
	return nil, t.AddPartitionsToTxn(ctx, p, parts)
}

func appendParts(dst []TopicPartition, topic string, parts []int32) []TopicPartition {
	for _, p := range parts {
		dst = append(dst, TopicPartition{Topic: topic, Partition: p})
	}
	return dst
}

// nth is the error of the i-th partition: all's when set, else errs[i].
func nth(errs []error, i int, all error) error {
	if all == nil && i < len(errs) {
		return errs[i]
	}
	return all
}
