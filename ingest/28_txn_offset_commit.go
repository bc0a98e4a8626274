package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
)

// TxnOffsetCommit v0-v3: offsets committed in a transaction, sent to the
// group's coordinator. They stay pending (OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for them) until the transaction's marker
// makes them visible or drops them. v3 adds the generation and member id
// (KIP-447), checked as OffsetCommit checks them. Write on the
// transactional id, Read on the group and on each topic are needed.
func (cc *clientConn) handleTxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	gr := group.TxnCommitRequest{
		Group: req.Group, TransactionalID: req.TransactionalID, ProducerID: req.ProducerID,
		ProducerEpoch: req.ProducerEpoch, Generation: -1,
	}
	if req.Version >= 3 {
		gr.Generation, gr.MemberID = req.Generation, req.MemberID
		if req.InstanceID != nil {
			gr.InstanceID = *req.InstanceID
		}
	}
	var topicErr []error
	for _, rt := range req.Topics {
		err := cc.authTopic(kmsg.ACLOperationRead, rt.Topic)
		if err == nil && rt.Topic == offsetsTopicName {
			err = errInternalTopic(rt.Topic)
		} else if _, ok := cc.s.b.Topics.Topic(rt.Topic); err == nil && !ok {
			err = fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, rt.Topic)
		}
		topicErr = append(topicErr, err)
		if err != nil {
			continue
		}
		for _, rp := range rt.Partitions {
			o := group.CommitOffset{Topic: rt.Topic, Partition: rp.Partition, Offset: rp.Offset, LeaderEpoch: -1}
			if req.Version >= 2 {
				o.LeaderEpoch = rp.LeaderEpoch
			}
			if rp.Metadata != nil {
				o.Metadata = *rp.Metadata
			}
			gr.Offsets = append(gr.Offsets, o)
		}
	}
	var errs []error
	all := cc.authTransactionalID(kmsg.ACLOperationWrite, req.TransactionalID)
	if all == nil {
		all = cc.authGroup(kmsg.ACLOperationRead, req.Group)
	}
	switch {
	case all != nil:
	case cc.s.b.TxnOffsets == nil:
		all = errNoTransactions()
	case len(gr.Offsets) > 0:
		errs = cc.s.b.TxnOffsets.CommitTxnOffsets(ctx, gr)
	}
	i := 0
	for ti, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			err := topicErr[ti]
			if err == nil {
				err = all
				if err == nil && i < len(errs) {
					err = errs[i]
				}
				i++
			}
			sp.ErrorCode = txnErrorCode(err, req.Version, 3)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
