package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/txn"
)

// The transaction coordinator's wiring: its markers go out through the
// broker's inter-broker client, and the protocol layer reaches it through
// ingest's Transactions, TxnVerifier and TxnOffsets.

// txnMarkers sends the coordinator's markers as WriteTxnMarkers requests
// (broker.WriteTxnMarkers) and classifies the answers for it.
type txnMarkers struct{ b *broker.Broker }

func (m txnMarkers) WriteMarkers(ctx context.Context, mk txn.Marker) []error {
	targets := make([]broker.MarkerTarget, len(mk.Targets))
	for i, t := range mk.Targets {
		targets[i] = broker.MarkerTarget{Topic: t.Topic, Partition: t.Partition, Broker: t.Broker}
	}
	errs := m.b.WriteTxnMarkers(ctx, mk.ProducerID, mk.ProducerEpoch, mk.CoordinatorEpoch, mk.Commit, targets)
	for i, err := range errs {
		t := mk.Targets[i]
		switch {
		case err == nil:
		case errors.Is(err, kerr.UnknownTopicOrPartition) && t.Topic != txn.OffsetsTopic:
			if _, ok := m.b.Topic(t.Topic); !ok {
				errs[i] = fmt.Errorf("%w: %w", txn.ErrPartitionGone, err)
			}
		case errors.Is(err, kerr.TransactionCoordinatorFenced), errors.Is(err, kerr.InvalidProducerEpoch):
			errs[i] = fmt.Errorf("%w: %w", txn.ErrFenced, err)
		}
	}
	return errs
}

// kafkaTxns adapts *txn.Coordinator to ingest.Transactions.
type kafkaTxns struct{ c *txn.Coordinator }

func metaParts(parts []ingest.TopicPartition) []meta.TopicPartition {
	out := make([]meta.TopicPartition, len(parts))
	for i, tp := range parts {
		out[i] = meta.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
	}
	return out
}

func (k kafkaTxns) TxnCoordinatorFor(id string) int32 { return k.c.CoordinatorFor(id) }

func (k kafkaTxns) InitTxnProducer(ctx context.Context, id string, timeoutMs int32, pid int64, epoch int16) (int64, int16, error) {
	p, err := k.c.InitProducerID(ctx, txn.InitRequest{TransactionalID: id, TimeoutMs: timeoutMs, ProducerID: pid, ProducerEpoch: epoch})
	return p.ID, p.Epoch, err
}

func (k kafkaTxns) AddPartitionsToTxn(ctx context.Context, p ingest.TxnProducer, parts []ingest.TopicPartition) error {
	return k.c.AddPartitions(ctx, p.TransactionalID, p.ProducerID, p.Epoch, metaParts(parts))
}

func (k kafkaTxns) VerifyTxnPartitions(ctx context.Context, p ingest.TxnProducer, parts []ingest.TopicPartition) ([]error, error) {
	return k.c.VerifyPartitions(ctx, p.TransactionalID, p.ProducerID, p.Epoch, metaParts(parts))
}

func (k kafkaTxns) AddOffsetsToTxn(ctx context.Context, p ingest.TxnProducer, group string) error {
	return k.c.AddOffsets(ctx, p.TransactionalID, p.ProducerID, p.Epoch, group)
}

func (k kafkaTxns) EndTxn(ctx context.Context, p ingest.TxnProducer, commit bool) error {
	return k.c.EndTxn(ctx, p.TransactionalID, p.ProducerID, p.Epoch, commit)
}

func (k kafkaTxns) DescribeTransactions(ctx context.Context, ids []string) []ingest.TxnDescription {
	ds := k.c.Describe(ctx, ids)
	out := make([]ingest.TxnDescription, len(ds))
	for i, d := range ds {
		out[i] = ingest.TxnDescription{TransactionalID: d.TransactionalID, Err: d.Err, State: d.State.KafkaName(),
			TimeoutMs: d.TimeoutMs, StartMs: d.StartMs, ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch}
		for _, tp := range d.Partitions {
			out[i].Partitions = append(out[i].Partitions, ingest.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
		}
	}
	return out
}

func (k kafkaTxns) ListTransactions(ctx context.Context, states []string, pids []int64, minDurationMs int64) ([]ingest.TxnListing, error) {
	ls, err := k.c.List(ctx, states, pids, minDurationMs)
	if err != nil {
		return nil, err
	}
	out := make([]ingest.TxnListing, len(ls))
	for i, l := range ls {
		out[i] = ingest.TxnListing{TransactionalID: l.TransactionalID, ProducerID: l.ProducerID, State: l.State.KafkaName()}
	}
	return out, nil
}

// txnVerifier is KIP-890 part 1 on the partition leader: a transactional
// produce to a partition is appended only once the producer's
// coordinator confirms the partition is in its open transaction (this
// broker's coordinator directly, another's through AddPartitionsToTxn
// VerifyOnly). What was confirmed is cached per producer, epoch and
// partition until a marker of that producer reaches the partition
// (forget), which ends the transaction there: the next transaction must
// add the partition again.
type txnVerifier struct {
	b *broker.Broker
	c *txn.Coordinator

	mu       sync.Mutex
	verified map[verifiedKey]struct{}
}

type verifiedKey struct {
	pid       int64
	epoch     int16
	topic     string
	partition int32
}

// maxVerified bounds the cache; past it, it starts over (a cache miss
// costs one request to the coordinator).
const maxVerified = 1 << 16

func newTxnVerifier(b *broker.Broker, c *txn.Coordinator) *txnVerifier {
	return &txnVerifier{b: b, c: c, verified: map[verifiedKey]struct{}{}}
}

func (v *txnVerifier) VerifyTxnProduce(ctx context.Context, p ingest.TxnProducer, topic string, partition int32) error {
	key := verifiedKey{p.ProducerID, p.Epoch, topic, partition}
	v.mu.Lock()
	_, ok := v.verified[key]
	v.mu.Unlock()
	if ok {
		return nil
	}
	var errs []error
	var err error
	if coord := v.c.CoordinatorFor(p.TransactionalID); coord == v.b.ID() {
		errs, err = v.c.VerifyPartitions(ctx, p.TransactionalID, p.ProducerID, p.Epoch, []meta.TopicPartition{{Topic: topic, Partition: partition}})
	} else {
		errs, err = v.b.VerifyTxnPartitions(ctx, coord, p.TransactionalID, p.ProducerID, p.Epoch, topic, []int32{partition})
	}
	if err == nil && len(errs) == 1 {
		err = errs[0]
	}
	if err != nil {
		if !errors.As(err, new(*kerr.Error)) {
			// The coordinator could not be asked: the producer retries.
			return fmt.Errorf("%w: verify transaction with its coordinator: %v", kerr.NotEnoughReplicas, err)
		}
		if errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.CoordinatorLoadInProgress) || errors.Is(err, kerr.ConcurrentTransactions) {
			return fmt.Errorf("%w: verify transaction: %v", kerr.NotEnoughReplicas, err)
		}
		return err
	}
	v.mu.Lock()
	if len(v.verified) >= maxVerified {
		clear(v.verified)
	}
	v.verified[key] = struct{}{}
	v.mu.Unlock()
	return nil
}

// ForgetTxnProduce drops what was verified for producer pid on a
// partition: its transaction there ended (a marker was written).
func (v *txnVerifier) ForgetTxnProduce(pid int64, topic string, partition int32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k := range v.verified {
		if k.pid == pid && k.topic == topic && k.partition == partition {
			delete(v.verified, k)
		}
	}
}
