package broker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/stratalog/strata/meta"
)

// The controller is the one broker, chosen by etcd election, that moves
// partition leadership when brokers die or come back: when a leader's
// registration expires it elects the first live in-sync replica (in
// replica order) and bumps the leader epoch; dead followers leave the ISR.
// Without a live in-sync replica the partition stays offline (leader -1):
// unclean leader election is off, so no acknowledged record is lost.
// Every change is an etcd transaction fenced on the epoch it read.

// runController campaigns for controllership and, once elected,
// reconciles partition leadership until the claim is lost.
func (b *Broker) runController(ctx context.Context) {
	defer b.wg.Done()
	for ctx.Err() == nil {
		claim, err := b.meta.CampaignController(ctx, b.cfg.BrokerID, b.cfg.ControllerTTL)
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("controller: campaign failed", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		b.log.Info("this broker is the controller", "broker_id", b.cfg.BrokerID)
		b.controllerID.Store(b.cfg.BrokerID)
		b.control(ctx, claim)
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = claim.Resign(rctx) // the lease expires anyway
		cancel()
		b.log.Info("controller stepped down", "broker_id", b.cfg.BrokerID)
	}
}

// control reconciles on every broker change and every second, until the
// claim to controllership or ctx ends.
func (b *Broker) control(ctx context.Context, claim *meta.Controllership) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := b.meta.WatchBrokers(wctx)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-claim.Done():
			return
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-tick.C:
		}
		if err := b.reconcile(wctx); err != nil && ctx.Err() == nil {
			b.log.Warn("controller: reconcile failed", "err", err)
		}
	}
}

// pendingGrace is how long a topic creation (or partition addition) in
// steps is left to the broker that started it before the controller
// completes it: that broker crashed or lost etcd half-way.
const pendingGrace = 30 * time.Second

// reconcile completes interrupted topic writes, then applies the leadership
// rules to every partition.
func (b *Broker) reconcile(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	done, err := b.meta.CompletePendingTopics(ctx, pendingGrace)
	for _, name := range done {
		b.log.Warn("controller: completed a topic write its broker left half-done", "topic", name)
	}
	if err != nil && ctx.Err() == nil {
		// Leadership must not wait on it: the next pass tries again.
		b.log.Warn("controller: cannot complete an interrupted topic write", "err", err)
	}
	brokers, err := b.meta.Brokers(ctx)
	if err != nil {
		return err
	}
	live := map[int32]bool{}
	for _, br := range brokers {
		live[br.ID] = true
	}
	topics, err := b.meta.Topics(ctx)
	if err != nil {
		return err
	}
	for _, t := range topics {
		states, err := b.meta.PartitionStates(ctx, t.Name)
		if errors.Is(err, meta.ErrTopicNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		for _, st := range states {
			next, changed := electLeader(st, live)
			if done, ok := completeReassignment(next); ok {
				next, changed = done, true
			}
			if !changed {
				continue
			}
			err := b.meta.UpdatePartitionState(ctx, next, st.LeaderEpoch)
			switch {
			case errors.Is(err, meta.ErrConflict), errors.Is(err, meta.ErrFenced):
				continue // changed under us; the next round sees the new state
			case err != nil:
				return err
			}
			if next.Leader != st.Leader {
				b.metrics.elections.Inc()
				b.log.Info("controller: partition leader changed", "topic", st.Topic, "partition", st.Partition,
					"from", st.Leader, "to", next.Leader, "epoch", next.LeaderEpoch, "isr", next.ISR)
			} else {
				b.log.Info("controller: dead brokers left the ISR", "topic", st.Topic, "partition", st.Partition, "isr", next.ISR)
			}
		}
	}
	return nil
}

// electLeader is the leadership rule for one partition given the live
// brokers; it reports whether the state must change.
func electLeader(st meta.PartitionState, live map[int32]bool) (meta.PartitionState, bool) {
	var isrLive []int32
	for _, r := range st.ISR {
		if live[r] {
			isrLive = append(isrLive, r)
		}
	}
	next := st
	next.Replicas = slices.Clone(st.Replicas)
	if !live[st.Leader] {
		for _, r := range st.Replicas {
			if slices.Contains(isrLive, r) {
				next.Leader, next.LeaderEpoch, next.ISR = r, st.LeaderEpoch+1, isrLive
				return next, true
			}
		}
		if st.Leader != -1 {
			// No in-sync replica is alive: offline until one returns. The
			// ISR keeps its last members, the only ones that may lead.
			next.Leader, next.LeaderEpoch, next.ISR = -1, st.LeaderEpoch+1, slices.Clone(st.ISR)
			return next, true
		}
		return st, false
	}
	if len(isrLive) < len(st.ISR) && len(isrLive) > 0 {
		next.ISR = isrLive
		return next, true
	}
	return st, false
}

// refreshController reads who holds the controller election.
func (b *Broker) refreshController(ctx context.Context) {
	if id, ok, err := b.meta.Controller(ctx); err == nil && ok {
		b.controllerID.Store(id)
	}
}
