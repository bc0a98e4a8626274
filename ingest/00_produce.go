package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleProduce(ctx context.Context, req *kmsg.ProduceRequest) (*kmsg.ProduceResponse, error) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	type job struct {
		topic, part int
		p           Partition
		records     []byte
	}
	var jobs []job
	// Auto-creating a topic waits on etcd: bounded like any metadata work.
	ectx, ecancel := cc.bounded(ctx, req.TimeoutMillis)
	defer ecancel()
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for ti, rt := range req.Topics {
		st := &resp.Topics[ti]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		// A transactional produce (TransactionID set) is appended like any
		// other once the principal may write for that transactional id and the
		// partition is verified to be in its transaction (KIP-890 part 1, below):
		// the hot log checks its batches against the producer's
		// transaction state (epoch, ongoing transaction).
		topicErr := cc.authProduce(req.TransactionID, rt.Topic)
		if topicErr == nil && req.TransactionID != nil && cc.s.b.Transactions == nil {
			topicErr = errNoTransactions()
		}
		if topicErr == nil && rt.Topic == offsetsTopicName {
			topicErr = errInternalTopic(rt.Topic)
		} else if topicErr == nil {
			_, topicErr = cc.ensureTopic(ectx, rt.Topic)
		}
		for pi, rp := range rt.Partitions {
			sp := &st.Partitions[pi]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			err := topicErr
			var p Partition
			if err == nil {
				p, err = cc.s.b.Partitions.Partition(rt.Topic, rp.Partition)
			}
			if err != nil {
				setProduceError(sp, err)
				continue
			}
			jobs = append(jobs, job{ti, pi, p, rp.Records})
		}
	}
	// The request's timeout bounds the wait for in-sync replicas
	// (acks=all); past it the partition answers REQUEST_TIMED_OUT.
	if req.TimeoutMillis > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond)
		defer cancel()
	}
	// Partitions append in parallel so that the fsyncs of acks=all overlap.
	inParallel(len(jobs), func(i int) string {
		j := jobs[i]
		return fmt.Sprintf("appending to %s/%d", req.Topics[j.topic].Topic, resp.Topics[j.topic].Partitions[j.part].Partition)
	}, func(i int) {
		j := jobs[i]
		sp := &resp.Topics[j.topic].Partitions[j.part]
		if req.TransactionID != nil {
			if err := cc.verifyTxnProduce(ctx, *req.TransactionID, req.Topics[j.topic].Topic, sp.Partition, j.records); err != nil {
				setProduceError(sp, err)
				return
			}
		}
		res, err := j.p.Append(ctx, j.records, req.Acks)
		if err != nil {
			setProduceError(sp, err)
			return
		}
		sp.BaseOffset = res.BaseOffset
		sp.LogAppendTime = res.LogAppendTime
		sp.LogStartOffset = res.LogStartOffset
	})
	if req.Acks == 0 {
		// No response is sent for acks=0, so, as Kafka does, the only way
		// to tell the producer something failed is to close the connection.
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return nil, fmt.Errorf("acks=0 produce to %s/%d failed: %v", t.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
			}
		}
		return nil, nil
	}
	return resp, nil
}

func setProduceError(sp *kmsg.ProduceResponseTopicPartition, err error) {
	sp.ErrorCode = errorCode(err)
	sp.ErrorMessage = errorMessage(err)
	sp.BaseOffset = -1
}

// authProduce checks Write on the transactional id of a transactional
// produce, then Write on the topic.
func (cc *clientConn) authProduce(transactionalID *string, topic string) error {
	if transactionalID != nil {
		if err := cc.authTransactionalID(kmsg.ACLOperationWrite, *transactionalID); err != nil {
			return err
		}
	}
	return cc.authTopic(kmsg.ACLOperationWrite, topic)
}
