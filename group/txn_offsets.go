package group

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/placement"
)

// Transactional offsets (KIP-98, KIP-447). A TxnOffsetCommit stores the
// offsets as pending under the producer id (memory and
// groups/<g>/txn/<pid> in etcd); they are not what OffsetFetch answers
// until the transaction's commit marker reaches the group (the
// transaction coordinator sends it, as Kafka's coordinator writes its
// marker to the group's __consumer_offsets partition), which moves them to
// the committed offsets in one guarded etcd write; an abort marker drops
// them. OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT for
// a partition with a pending commit.

// pendingTxn is one producer's pending offsets.
type pendingTxn struct {
	txnID   string
	epoch   int16
	offsets map[meta.TopicPartition]meta.GroupOffset
}

func newPendingTxn(t meta.GroupTxnOffsets) *pendingTxn {
	p := &pendingTxn{txnID: t.TransactionalID, epoch: t.ProducerEpoch, offsets: map[meta.TopicPartition]meta.GroupOffset{}}
	for _, o := range t.Offsets {
		p.offsets[meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o
	}
	return p
}

func (p *pendingTxn) sorted() []meta.GroupOffset {
	out := slices.Collect(maps.Values(p.offsets))
	slices.SortFunc(out, func(a, b meta.GroupOffset) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}

// txnPending reports whether a transaction has a pending commit of tp
// (g.mu held).
func (g *group) txnPending(tp meta.TopicPartition) bool {
	for _, p := range g.txnOffsets {
		if _, ok := p.offsets[tp]; ok {
			return true
		}
	}
	return false
}

// CommitTxnOffsets handles a TxnOffsetCommit: the offsets join the
// producer's pending offsets. Member id and generation, when given,
// must be the group's current ones (KIP-447: a zombie of a member that
// was rebalanced away is fenced); an older epoch of the producer than
// the one pending is PRODUCER_FENCED. One error per offset.
func (c *Coordinator) CommitTxnOffsets(ctx context.Context, req TxnCommitRequest) []error {
	errs := make([]error, len(req.Offsets))
	fail := func(err error) []error { return failRest(errs, err) }
	if req.Group == "" {
		return fail(errInvalidGroupID())
	}
	if len(req.Offsets) == 0 {
		return errs
	}
	g, err := c.lockGroup(ctx, req.Group, true)
	if err != nil {
		return fail(err)
	}
	if err := g.validateTxnCommit(req); err != nil {
		g.mu.Unlock()
		return fail(err)
	}
	now := time.Now()
	cur := g.txnOffsets[req.ProducerID]
	next := &pendingTxn{txnID: req.TransactionalID, epoch: req.ProducerEpoch, offsets: map[meta.TopicPartition]meta.GroupOffset{}}
	if cur != nil {
		if req.ProducerEpoch < cur.epoch {
			g.mu.Unlock()
			return fail(fmt.Errorf("%w: producer %d epoch %d, group %q has its offsets at epoch %d", kerr.ProducerFenced, req.ProducerID, req.ProducerEpoch, g.name, cur.epoch))
		}
		maps.Copy(next.offsets, cur.offsets)
	}
	for i, o := range req.Offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataBytes {
			errs[i] = fmt.Errorf("%w: %d bytes of metadata for %s/%d, at most %d", kerr.OffsetMetadataTooLarge, len(o.Metadata), o.Topic, o.Partition, c.cfg.MaxMetadataBytes)
			continue
		}
		next.offsets[meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = meta.GroupOffset{
			Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch,
			Metadata: o.Metadata, CommitTimeMs: now.UnixMilli(),
		}
	}
	g.inflight++
	g.mu.Unlock()
	value := meta.GroupTxnOffsets{ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, TransactionalID: req.TransactionalID, Offsets: next.sorted()}
	err = c.writeGuarded(g, "commit transactional offsets", func(ctx context.Context, stateRev int64) error {
		_, err := c.store.SaveGroupTxnOffsets(ctx, g.name, stateRev, value)
		return err
	})
	g.mu.Lock()
	g.inflight--
	if err == nil {
		g.txnOffsets[req.ProducerID] = next
	}
	g.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	return errs
}

// validateTxnCommit is Kafka's validateTxnOffsetCommit (g.mu held).
func (g *group) validateTxnCommit(req TxnCommitRequest) error {
	if g.state == Dead {
		return fmt.Errorf("%w: group %q is being removed", kerr.CoordinatorNotAvailable, g.name)
	}
	if g.cg != nil && (req.MemberID != "" || req.Generation >= 0) {
		// A member of the consumer protocol: its member epoch, as for
		// OffsetCommit.
		return g.cg.validateMemberEpoch(g.name, req.MemberID, req.Generation)
	}
	if req.MemberID != "" || req.Generation >= 0 || req.InstanceID != "" {
		if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
			return err
		}
		if req.Generation != g.generation {
			return fmt.Errorf("%w: generation %d, group %q is at %d", kerr.IllegalGeneration, req.Generation, g.name, g.generation)
		}
	}
	return nil
}

// CompleteTxnOffsets applies a transaction marker that reached this
// broker for partition of __consumer_offsets: producer pid's pending
// offsets in every group this broker coordinates in that partition become
// committed (commit) or are dropped (abort). A marker for a producer with
// nothing pending is a no-op (markers are resent after failovers).
func (c *Coordinator) CompleteTxnOffsets(ctx context.Context, pid int64, commit bool, partition int32, partitions int32) error {
	if err := c.loadAll(ctx, false); err != nil {
		return err
	}
	for _, g := range c.snapshotGroups() {
		if placement.OffsetsPartition(g.name, partitions) != partition {
			continue
		}
		select {
		case <-g.loaded:
		default:
			continue
		}
		g.mu.Lock()
		p := g.txnOffsets[pid]
		if g.removed || p == nil {
			g.mu.Unlock()
			continue
		}
		offsets := p.sorted()
		g.inflight++
		g.mu.Unlock()
		var rev int64
		err := c.writeGuarded(g, "complete transactional offsets", func(ctx context.Context, stateRev int64) error {
			var err error
			rev, err = c.store.CompleteGroupTxnOffsets(ctx, g.name, stateRev, pid, commit, offsets)
			return err
		})
		g.mu.Lock()
		g.inflight--
		if err == nil {
			if g.txnOffsets[pid] == p {
				delete(g.txnOffsets, pid)
			}
			if commit {
				for _, o := range offsets {
					tp := meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}
					if cur, ok := g.offsets[tp]; !ok || cur.Revision < rev {
						o.Revision = rev
						g.offsets[tp] = offsetEntry{o}
					}
				}
				c.metrics.commits.Add(float64(len(offsets)))
			}
		}
		g.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}
