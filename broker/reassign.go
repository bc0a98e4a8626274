package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
)

// Reassignment (KIP-455) moves a partition's replicas with no loss: the
// target replicas are added to the replica set and follow the leader; once
// every added replica is in the ISR the controller completes the move —
// the replica set becomes the target, removed replicas leave (and delete
// their copy), and if the leader was removed a target replica in the ISR
// takes over with a new epoch.

func (b *Broker) freshState(ctx context.Context, topic string, partition int32) (meta.PartitionState, error) {
	states, err := b.meta.PartitionStates(ctx, topic)
	if errors.Is(err, meta.ErrTopicNotFound) {
		return meta.PartitionState{}, fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, topic)
	}
	if err != nil {
		return meta.PartitionState{}, err
	}
	if partition < 0 || int(partition) >= len(states) {
		return meta.PartitionState{}, fmt.Errorf("%w: %s/%d", kerr.UnknownTopicOrPartition, topic, partition)
	}
	return states[partition], nil
}

func minus(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// Reassign starts moving a partition to target replicas, or cancels the
// ongoing move when target is nil.
func (b *Broker) Reassign(ctx context.Context, topic string, partition int32, target []int32) error {
	st, err := b.freshState(ctx, topic, partition)
	if err != nil {
		return err
	}
	reassigning := len(st.AddingReplicas) > 0 || len(st.RemovingReplicas) > 0
	next := st
	if target == nil {
		if !reassigning {
			return fmt.Errorf("%w: %s/%d", kerr.NoReassignmentInProgress, topic, partition)
		}
		orig := minus(st.Replicas, st.AddingReplicas)
		next.Replicas, next.ISR = orig, minus(st.ISR, st.AddingReplicas)
		next.AddingReplicas, next.RemovingReplicas = nil, nil
		if !slices.Contains(orig, st.Leader) {
			next.Leader, next.LeaderEpoch = firstIn(orig, next.ISR), st.LeaderEpoch+1
		}
		return b.writeState(ctx, next, st.LeaderEpoch)
	}
	if reassigning {
		return fmt.Errorf("%w: %s/%d is being reassigned; cancel first", kerr.ReassignmentInProgress, topic, partition)
	}
	if err := b.refreshBrokers(ctx); err != nil {
		return err
	}
	live := map[int32]bool{}
	for _, br := range b.Brokers() {
		live[br.ID] = true
	}
	if len(target) == 0 {
		return fmt.Errorf("%w: empty replica list", kerr.InvalidReplicaAssignment)
	}
	for i, r := range target {
		if !live[r] {
			return fmt.Errorf("%w: broker %d is not alive", kerr.InvalidReplicaAssignment, r)
		}
		if slices.Contains(target[:i], r) {
			return fmt.Errorf("%w: broker %d named twice", kerr.InvalidReplicaAssignment, r)
		}
	}
	adding, removing := minus(target, st.Replicas), minus(st.Replicas, target)
	if len(adding) == 0 && len(removing) == 0 {
		return nil
	}
	next.Replicas = append(slices.Clone(target), removing...)
	next.AddingReplicas, next.RemovingReplicas = adding, removing
	if done, ok := completeReassignment(next); ok {
		next = done
	}
	b.log.Info("reassigning partition", "topic", topic, "partition", partition, "from", st.Replicas, "to", target)
	return b.writeState(ctx, next, st.LeaderEpoch)
}

func firstIn(order, set []int32) int32 {
	for _, r := range order {
		if slices.Contains(set, r) {
			return r
		}
	}
	return -1
}

// completeReassignment finishes a reassignment whose added replicas are
// all in sync; ok reports whether it did.
func completeReassignment(st meta.PartitionState) (meta.PartitionState, bool) {
	if len(st.AddingReplicas) == 0 && len(st.RemovingReplicas) == 0 {
		return st, false
	}
	for _, r := range st.AddingReplicas {
		if !slices.Contains(st.ISR, r) {
			return st, false
		}
	}
	target := minus(st.Replicas, st.RemovingReplicas)
	isr := minus(st.ISR, st.RemovingReplicas)
	if len(isr) == 0 {
		return st, false
	}
	next := st
	next.Replicas, next.ISR = target, isr
	next.AddingReplicas, next.RemovingReplicas = nil, nil
	if !slices.Contains(target, st.Leader) {
		next.Leader, next.LeaderEpoch = firstIn(target, isr), st.LeaderEpoch+1
	}
	return next, true
}

func (b *Broker) writeState(ctx context.Context, next meta.PartitionState, epoch int32) error {
	err := b.meta.UpdatePartitionState(ctx, next, epoch)
	if errors.Is(err, meta.ErrConflict) || errors.Is(err, meta.ErrFenced) {
		return fmt.Errorf("%w: partition changed concurrently, retry", kerr.ConcurrentTransactions)
	}
	return err
}

// Reassignments lists partitions being reassigned (all topics when
// topics is nil).
func (b *Broker) Reassignments(ctx context.Context, topics []string) ([]meta.PartitionState, error) {
	if topics == nil {
		for _, t := range b.Topics() {
			topics = append(topics, t.Name)
		}
	}
	var out []meta.PartitionState
	for _, t := range topics {
		states, err := b.meta.PartitionStates(ctx, t)
		if errors.Is(err, meta.ErrTopicNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			if len(st.AddingReplicas) > 0 || len(st.RemovingReplicas) > 0 {
				out = append(out, st)
			}
		}
	}
	return out, nil
}

// ElectLeader moves leadership to the preferred replica (the first one),
// or, with unclean, to any live replica of a partition that has no leader.
func (b *Broker) ElectLeader(ctx context.Context, topic string, partition int32, unclean bool) error {
	st, err := b.freshState(ctx, topic, partition)
	if err != nil {
		return err
	}
	if err := b.refreshBrokers(ctx); err != nil {
		return err
	}
	live := map[int32]bool{}
	for _, br := range b.Brokers() {
		live[br.ID] = true
	}
	next := st
	if unclean {
		if st.Leader >= 0 && live[st.Leader] {
			return fmt.Errorf("%w: %s/%d has leader %d", kerr.ElectionNotNeeded, topic, partition, st.Leader)
		}
		for _, r := range st.Replicas {
			if live[r] {
				next.Leader, next.LeaderEpoch, next.ISR = r, st.LeaderEpoch+1, []int32{r}
				b.log.Warn("unclean leader election: records only the lost replicas had are gone", "topic", topic, "partition", partition, "leader", r)
				return b.writeState(ctx, next, st.LeaderEpoch)
			}
		}
		return fmt.Errorf("%w: no live replica of %s/%d", kerr.EligibleLeadersNotAvailable, topic, partition)
	}
	preferred := st.Replicas[0]
	switch {
	case st.Leader == preferred:
		return fmt.Errorf("%w: %s/%d is led by its preferred replica", kerr.ElectionNotNeeded, topic, partition)
	case !live[preferred] || !slices.Contains(st.ISR, preferred):
		return fmt.Errorf("%w: preferred replica %d of %s/%d is not alive and in sync", kerr.PreferredLeaderNotAvailable, preferred, topic, partition)
	}
	next.Leader, next.LeaderEpoch = preferred, st.LeaderEpoch+1
	return b.writeState(ctx, next, st.LeaderEpoch)
}
