package broker

import (
	"context"
	"fmt"
)

// producerIDBlock is how many producer ids a broker claims from etcd at a
// time: one etcd transaction per thousand idempotent producers.
const producerIDBlock = 1000

// producerIDs is the block of ids being handed out. lock is a one-slot
// channel rather than a mutex so that a caller waiting behind a claim
// stuck on etcd gives up at its own deadline instead of queueing behind
// every earlier one.
type producerIDs struct {
	lock      chan struct{}
	next, end int64
}

// NewProducerID hands out a cluster-unique producer id for an idempotent
// producer (InitProducerId without a transactional id). A slow etcd
// delays it at most until ctx ends.
func (b *Broker) NewProducerID(ctx context.Context) (int64, error) {
	select {
	case b.pids.lock <- struct{}{}:
	case <-ctx.Done():
		return -1, fmt.Errorf("claim producer ids: waiting for another claim: %w", ctx.Err())
	}
	defer func() { <-b.pids.lock }()
	if b.pids.next == b.pids.end {
		first, err := b.meta.ClaimProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return -1, fmt.Errorf("claim producer ids: %w", err)
		}
		b.pids.next, b.pids.end = first, first+producerIDBlock
	}
	id := b.pids.next
	b.pids.next++
	return id, nil
}
