package txn

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/placement"
)

// noEpoch is Kafka's RecordBatch.NO_PRODUCER_EPOCH.
const noEpoch = -1

// epochExhausted is Kafka's TransactionMetadata.isEpochExhausted: the
// epoch cannot be bumped again, the id gets a new producer id.
func epochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }

// InitProducerID handles InitProducerId with a transactional id, as
// Kafka's TransactionCoordinator.handleInitProducerId: a new id gets a new
// producer at epoch 0; an existing one keeps its producer id with the
// epoch bumped, which fences every older producer of the id (their
// requests get PRODUCER_FENCED, their partitions refuse their records). A
// transaction still open is aborted first, under a bumped epoch, and the
// answer is CONCURRENT_TRANSACTIONS until that is done (the client
// retries). An exhausted epoch rotates to a new producer id. With a
// producer given (KIP-360), only that producer, or the one of the
// previous bump (a retry that lost its answer), may bump.
func (c *Coordinator) InitProducerID(ctx context.Context, req InitRequest) (Producer, error) {
	none := Producer{ID: -1, Epoch: -1}
	if req.TimeoutMs <= 0 || int64(req.TimeoutMs) > c.cfg.MaxTimeout.Milliseconds() {
		return none, fmt.Errorf("%w: transaction timeout %d ms, must be between 1 and %d", kerr.InvalidTransactionTimeout, req.TimeoutMs, c.cfg.MaxTimeout.Milliseconds())
	}
	if req.TransactionalID == "" {
		return none, fmt.Errorf("%w: empty transactional id", kerr.InvalidRequest)
	}
	e, err := c.lockEntry(ctx, req.TransactionalID, true)
	if err != nil {
		return none, err
	}
	defer e.unlock()
	now := c.now().UnixMilli()
	if !e.exists {
		pid, err := c.newProducerID(ctx)
		if err != nil {
			return none, err
		}
		e.st = meta.TxnState{TransactionalID: e.id, ProducerID: pid, ProducerEpoch: noEpoch,
			LastProducerID: -1, LastProducerEpoch: noEpoch, TxnStartMs: -1}
		e.state = Empty
	}
	st := e.st
	expected := req.ProducerID >= 0 || req.ProducerEpoch >= 0
	if expected && !(st.ProducerEpoch == noEpoch || req.ProducerID == st.ProducerID ||
		req.ProducerID == st.LastProducerID && epochExhausted(req.ProducerEpoch)) {
		return none, fmt.Errorf("%w: producer %d epoch %d of transactional id %q is not its current producer %d", kerr.ProducerFenced, req.ProducerID, req.ProducerEpoch, e.id, st.ProducerID)
	}
	if e.completing || e.state.preparing() || e.state == PrepareEpochFence || e.state == Dead {
		return none, fmt.Errorf("%w: transactional id %q is completing a transaction (%s)", kerr.ConcurrentTransactions, e.id, e.state)
	}
	if e.state == Ongoing {
		// Fence the producer of the open transaction and abort it.
		if err := c.fenceAndAbort(e); err != nil {
			return none, err
		}
		return none, fmt.Errorf("%w: transactional id %q: aborting its open transaction", kerr.ConcurrentTransactions, e.id)
	}
	next := st
	next.TimeoutMs, next.UpdateMs, next.TxnStartMs = req.TimeoutMs, now, -1
	next.Partitions, next.Groups = nil, nil
	switch {
	case expected && req.ProducerID == st.LastProducerID && req.ProducerID != st.ProducerID && req.ProducerEpoch == st.LastProducerEpoch,
		expected && req.ProducerID == st.ProducerID && st.ProducerEpoch != noEpoch && req.ProducerEpoch != st.ProducerEpoch && req.ProducerEpoch == st.LastProducerEpoch:
		// A retry of the bump (or rotation) whose answer was lost.
		return Producer{ID: st.ProducerID, Epoch: st.ProducerEpoch}, nil
	case expected && st.ProducerEpoch != noEpoch && req.ProducerEpoch != st.ProducerEpoch:
		return none, fmt.Errorf("%w: producer %d epoch %d of transactional id %q is at epoch %d", kerr.ProducerFenced, req.ProducerID, req.ProducerEpoch, e.id, st.ProducerEpoch)
	case epochExhausted(st.ProducerEpoch):
		pid, err := c.newProducerID(ctx)
		if err != nil {
			return none, err
		}
		next.LastProducerID, next.LastProducerEpoch = st.ProducerID, st.ProducerEpoch
		next.ProducerID, next.ProducerEpoch = pid, 0
	default:
		next.ProducerEpoch = st.ProducerEpoch + 1
		next.LastProducerEpoch = noEpoch
		if expected {
			next.LastProducerEpoch = st.ProducerEpoch
		}
	}
	if err := c.save(e, next, Empty); err != nil {
		return none, err
	}
	return Producer{ID: next.ProducerID, Epoch: next.ProducerEpoch}, nil
}

func (c *Coordinator) newProducerID(ctx context.Context) (int64, error) {
	pid, err := c.pids.NewProducerID(ctx)
	if err != nil {
		c.log.Error("cannot allocate a producer id", "err", err)
		return -1, fmt.Errorf("%w: allocate producer id: %v", kerr.CoordinatorNotAvailable, err)
	}
	return pid, nil
}

// checkProducer is the check every request of a transaction's producer
// passes (lock held): the id exists, the producer is its current one, and
// no transition is in flight.
func (c *Coordinator) checkProducer(e *entry, pid int64, epoch int16) error {
	switch {
	case pid != e.st.ProducerID:
		return fmt.Errorf("%w: producer %d is not the producer (%d) of transactional id %q", kerr.InvalidProducerIDMapping, pid, e.st.ProducerID, e.id)
	case epoch != e.st.ProducerEpoch:
		return fmt.Errorf("%w: producer %d epoch %d of transactional id %q is at epoch %d", kerr.ProducerFenced, pid, epoch, e.id, e.st.ProducerEpoch)
	}
	return nil
}

func (c *Coordinator) lockProducer(ctx context.Context, id string, pid int64, epoch int16) (*entry, error) {
	e, err := c.lockEntry(ctx, id, false)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("%w: transactional id %q has no producer (InitProducerId first)", kerr.InvalidProducerIDMapping, id)
	}
	if err := c.checkProducer(e, pid, epoch); err != nil {
		e.unlock()
		return nil, err
	}
	return e, nil
}

// AddPartitions handles AddPartitionsToTxn (v0-v3, and v4+ without
// VerifyOnly): the partitions join the transaction, which begins (Ongoing)
// if none was open. While the last one's markers are written the answer is
// CONCURRENT_TRANSACTIONS. Partitions must be checked (topic exists) by
// the caller.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []meta.TopicPartition) error {
	return c.add(ctx, id, pid, epoch, parts, "")
}

// AddOffsets handles AddOffsetsToTxn: the group's partition of
// __consumer_offsets joins the transaction, so that the group coordinator
// gets the transaction's marker and its TxnOffsetCommit offsets become
// visible on commit.
func (c *Coordinator) AddOffsets(ctx context.Context, id string, pid int64, epoch int16, group string) error {
	if group == "" {
		return fmt.Errorf("%w: empty group id", kerr.InvalidGroupID)
	}
	tp := meta.TopicPartition{Topic: OffsetsTopic, Partition: placement.OffsetsPartition(group, OffsetsPartitions)}
	return c.add(ctx, id, pid, epoch, []meta.TopicPartition{tp}, group)
}

func (c *Coordinator) add(ctx context.Context, id string, pid int64, epoch int16, parts []meta.TopicPartition, group string) error {
	e, err := c.lockProducer(ctx, id, pid, epoch)
	if err != nil {
		return err
	}
	defer e.unlock()
	if e.completing || !(e.state == Ongoing || e.state.complete()) {
		return fmt.Errorf("%w: transactional id %q is %s", kerr.ConcurrentTransactions, id, e.state)
	}
	next := e.st
	next.Partitions = slices.Clone(e.st.Partitions)
	next.Groups = slices.Clone(e.st.Groups)
	if e.state != Ongoing {
		next.Partitions, next.Groups = nil, nil
		next.TxnStartMs = c.now().UnixMilli()
	}
	changed := e.state != Ongoing
	for _, tp := range parts {
		if i, found := slices.BinarySearchFunc(next.Partitions, tp, cmpTP); !found {
			next.Partitions = slices.Insert(next.Partitions, i, tp)
			changed = true
		}
	}
	if group != "" {
		if i, found := slices.BinarySearch(next.Groups, group); !found {
			next.Groups = slices.Insert(next.Groups, i, group)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	next.UpdateMs = c.now().UnixMilli()
	return c.save(e, next, Ongoing)
}

func cmpTP(a, b meta.TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

// VerifyPartitions answers AddPartitionsToTxn with VerifyOnly (KIP-890
// part 1, sent by a partition leader before it takes a transactional
// produce): one error per partition, nil when the partition is in the
// producer's open transaction, INVALID_TXN_STATE when not. The error
// returned alone is for the whole id (NOT_COORDINATOR, PRODUCER_FENCED).
func (c *Coordinator) VerifyPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []meta.TopicPartition) ([]error, error) {
	e, err := c.lockProducer(ctx, id, pid, epoch)
	if err != nil {
		return nil, err
	}
	defer e.unlock()
	errs := make([]error, len(parts))
	for i, tp := range parts {
		if _, found := slices.BinarySearchFunc(e.st.Partitions, tp, cmpTP); !found || e.state != Ongoing {
			errs[i] = fmt.Errorf("%w: %s/%d is not in an open transaction of transactional id %q (%s)", kerr.InvalidTxnState, tp.Topic, tp.Partition, id, e.state)
		}
	}
	return errs, nil
}

// EndTxn handles EndTxn: commit or abort the open transaction. The answer
// comes once the decision (PrepareCommit or PrepareAbort) is in etcd; the
// markers are written after, and the next transaction of the id waits
// (CONCURRENT_TRANSACTIONS) until they are. A retry of an EndTxn that
// completed succeeds; one that contradicts it is INVALID_TXN_STATE.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) error {
	e, err := c.lockProducer(ctx, id, pid, epoch)
	if err != nil {
		return err
	}
	defer e.unlock()
	want, done := PrepareAbort, CompleteAbort
	if commit {
		want, done = PrepareCommit, CompleteCommit
	}
	switch e.state {
	case Ongoing:
		next := e.st
		next.UpdateMs = c.now().UnixMilli()
		if err := c.save(e, next, want); err != nil {
			return err
		}
		c.startMarkers(e)
		return nil
	case done:
		return nil
	case want:
		return fmt.Errorf("%w: transactional id %q is completing its %s", kerr.ConcurrentTransactions, id, e.state)
	case PrepareEpochFence, Dead:
		return fmt.Errorf("%w: transactional id %q is %s", kerr.ConcurrentTransactions, id, e.state)
	default:
		return fmt.Errorf("%w: EndTxn(commit=%v) of transactional id %q in state %s", kerr.InvalidTxnState, commit, id, e.state)
	}
}

// fenceAndAbort aborts e's open transaction (lock held) under a bumped
// producer epoch, so that the producer that opened it is fenced: a
// timeout, or an InitProducerId of a new producer of the id.
func (c *Coordinator) fenceAndAbort(e *entry) error {
	if !canTransition(e.state, PrepareEpochFence) {
		return fmt.Errorf("%w: cannot fence transactional id %q in state %s", kerr.InvalidTxnState, e.id, e.state)
	}
	e.state = PrepareEpochFence
	next := e.st
	if !epochExhausted(next.ProducerEpoch) {
		next.ProducerEpoch++
	}
	next.LastProducerEpoch = noEpoch
	next.UpdateMs = c.now().UnixMilli()
	if err := c.save(e, next, PrepareAbort); err != nil {
		return err
	}
	c.startMarkers(e)
	return nil
}
