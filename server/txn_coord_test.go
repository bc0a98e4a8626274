package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transaction coordinator end to end with franz-go's transactional
// producer: commit, abort, fencing of a second producer with the same
// transactional id, the markers on the partitions, the admin views.

// produceTxn runs one transaction of n records over the topic's
// partitions (round robin) and ends it.
func produceTxn(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, n int, prefix string, commit bool) error {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for i := range n {
		r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", prefix, i), Partition: int32(i % 2)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := cl.EndTransaction(ctx, end); err != nil {
		return fmt.Errorf("end: %w", err)
	}
	return nil
}

func TestTxnCommitAbortAndFencing(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic = "txn-e2e"
	createTopic(t, tb, topic, 2)
	p1 := tb.client(kgo.TransactionalID("app-1"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(30*time.Second))
	if err := produceTxn(t, ctx, p1, topic, 4, "c1", true); err != nil {
		t.Fatalf("committed transaction: %v", err)
	}
	if err := produceTxn(t, ctx, p1, topic, 2, "a1", false); err != nil {
		t.Fatalf("aborted transaction: %v", err)
	}
	if err := produceTxn(t, ctx, p1, topic, 2, "c2", true); err != nil {
		t.Fatalf("second committed transaction: %v", err)
	}
	// Once the last markers are written (after EndTxn answered), each
	// partition holds its records and one marker per transaction: 4 and 3.
	adm := tb.admin()
	var d kadm.DescribedTransaction
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		d, err = describeOne(t, adm, "app-1")
		if err == nil && d.Err == nil && d.State == "CompleteCommit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("describe: %+v, %v; want CompleteCommit", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	offs, err := tb.admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup(topic, 0); o.Offset != 7 {
		t.Errorf("partition 0 ends at %d, want 7 (4 records, 3 markers)", o.Offset)
	}
	if o, _ := offs.Lookup(topic, 1); o.Offset != 7 {
		t.Errorf("partition 1 ends at %d, want 7 (4 records, 3 markers)", o.Offset)
	}
	ls, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil || len(ls.TransactionalIDs()) != 1 {
		t.Fatalf("list: %+v, %v", ls, err)
	}

	// A second producer with the same id fences the first, even in the
	// middle of a transaction, which is aborted.
	if err := p1.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p1.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie"), Partition: 0}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p2 := tb.client(kgo.TransactionalID("app-1"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(30*time.Second))
	if err := produceTxn(t, ctx, p2, topic, 2, "p2", true); err != nil {
		t.Fatalf("new producer's transaction: %v", err)
	}
	err = p1.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		err = p1.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie2"), Partition: 0}).FirstErr()
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced producer's commit: %v, want PRODUCER_FENCED", err)
	}
	d2, _ := describeOne(t, adm, "app-1")
	if d2.ProducerID != d.ProducerID || d2.ProducerEpoch <= d.ProducerEpoch+1 {
		t.Fatalf("after fencing %+v, before %+v: want the same producer id with its epoch bumped twice", d2, d)
	}
}

func describeOne(t *testing.T, adm *kadm.Client, id string) (kadm.DescribedTransaction, error) {
	t.Helper()
	ds, err := adm.DescribeTransactions(testCtx(t), id)
	if err != nil {
		return kadm.DescribedTransaction{}, err
	}
	return ds.On(id, nil)
}

// TestTxnProduceWithoutAddPartitions: KIP-890 part 1 on the leader: a
// transactional batch for a partition the producer did not add is
// refused with INVALID_TXN_STATE and not appended.
func TestTxnProduceWithoutAddPartitions(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic = "txn-verify"
	createTopic(t, tb, topic, 2)
	d := newTxnDriver(t, tb, topic+"-d", 1) // a registered transactional id
	p := d.newProducer()
	cl := tb.client()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10000, &p.txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 1, txnBatch(p, 1, true, "sneaky")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce without AddPartitionsToTxn: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	offs, _ := tb.admin().ListEndOffsets(ctx, topic)
	if o, _ := offs.Lookup(topic, 1); o.Offset != 0 {
		t.Fatalf("refused batch was appended: end offset %d", o.Offset)
	}
}

// TestTxnVerificationEndsWithTheTransaction: what the leader verified for
// a producer on a partition holds only for that transaction: once the
// commit marker is written there, the next transaction's batch without
// AddPartitionsToTxn is refused again.
func TestTxnVerificationEndsWithTheTransaction(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	d := newTxnDriver(t, tb, "txn-verify-cache", 1)
	p := d.newProducer()
	d.mustProduce(p, 0, true, "first") // adds partition 0, then produces
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = p.txnID, p.id, p.epoch, true
	if resp, err := end.RequestWith(ctx, d.plain); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	adm := tb.admin()
	deadline := time.Now().Add(10 * time.Second)
	for {
		dt, err := describeOne(t, adm, p.txnID)
		if err == nil && dt.State == "CompleteCommit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction not complete: %+v %v", dt, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10000, &p.txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = d.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, txnBatch(p, 0, true, "second, not added")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, d.plain)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTxnState.Code {
		t.Fatalf("next transaction's batch without AddPartitionsToTxn: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
}
