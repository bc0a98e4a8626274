package broker

import (
	"context"
	"fmt"
	"sync"
)

// producerIDBlock is how many producer ids a broker claims from etcd at a
// time: one etcd transaction per thousand idempotent producers.
const producerIDBlock = 1000

type producerIDs struct {
	mu        sync.Mutex
	next, end int64
}

// NewProducerID hands out a cluster-unique producer id for an idempotent
// producer (InitProducerId without a transactional id).
func (b *Broker) NewProducerID(ctx context.Context) (int64, error) {
	b.pids.mu.Lock()
	defer b.pids.mu.Unlock()
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
