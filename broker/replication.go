package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
)

// replication is a partition's replication state: its current assignment
// from etcd, and, when this broker leads, what it knows of each follower.
//
// The rules are Kafka's: the high watermark is the smallest log end offset
// among the in-sync replicas; a follower is in sync while it has been fully
// caught up within replica.lag.time.max.ms; the leader grows and shrinks
// the ISR with etcd transactions that compare its leader epoch, so a
// deposed leader cannot change it.
type replication struct {
	mu         sync.Mutex
	state      meta.PartitionState
	followers  map[int32]*followerProgress
	isrPending bool // an ISR change is being written to etcd
	// pendingISR is the ISR being written while isrPending. The high
	// watermark counts its members too (Kafka's maximal ISR, KIP-497): a
	// follower that is being added must hold every record below the high
	// watermark the moment it is in the ISR.
	pendingISR []int32
	termStart  int64    // log end offset when this broker became leader
	fetcher    *fetcher // set while this broker follows the partition
}

type followerProgress struct {
	leo        int64     // the offset the follower fetches next, -1 until its first fetch
	leoAtFetch int64     // the leader's log end when it answered the previous fetch
	caughtUpAt time.Time // the last time the follower had everything the leader had
}

// isLeader reports whether this broker leads the partition.
func (p *Partition) isLeader() bool {
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	return p.repl.state.Leader == p.b.cfg.BrokerID
}

// partitionState is the current assignment as this broker knows it.
func (p *Partition) partitionState() meta.PartitionState {
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	return p.repl.state
}

// applyState takes a new assignment from etcd: it makes this broker the
// leader or a follower (starting or stopping the fetcher) and updates the
// ISR used for the high watermark.
func (p *Partition) applyState(st meta.PartitionState) {
	self := p.b.cfg.BrokerID
	// A new leader term changes what Append checks (leadership) and what
	// it stamps (the epoch) together, with no append in flight: an append
	// accepted in the new term must never carry the old epoch.
	var prev meta.PartitionState
	var termChange bool
	for {
		p.repl.mu.Lock()
		prev = p.repl.state
		p.repl.mu.Unlock()
		termChange = st.Leader != prev.Leader || st.LeaderEpoch != prev.LeaderEpoch
		if termChange {
			p.appendMu.Lock() // lock order: appendMu, then repl.mu
		}
		p.repl.mu.Lock()
		if p.repl.state.Revision == prev.Revision && p.repl.state.LeaderEpoch == prev.LeaderEpoch {
			break
		}
		// Another event was applied between the peek and the locks.
		p.repl.mu.Unlock()
		if termChange {
			p.appendMu.Unlock()
		}
	}
	if prev.Revision > st.Revision && prev.LeaderEpoch >= st.LeaderEpoch {
		p.repl.mu.Unlock()
		if termChange {
			p.appendMu.Unlock()
		}
		return // stale event
	}
	p.leaderEpoch.Store(st.LeaderEpoch)
	p.repl.state = st
	p.repl.isrPending = false
	p.repl.pendingISR = nil
	var stop *fetcher
	if termChange && p.repl.fetcher != nil {
		stop, p.repl.fetcher = p.repl.fetcher, nil
	}
	if st.Leader == self && termChange {
		// KIP-207: until the high watermark reaches where this term
		// starts, the latest offset is not known yet.
		p.repl.termStart = p.log.LogEndOffset()
		p.forgetLogStart()
		go p.loadLogStart(context.Background()) //nolint:errcheck // reads load it again on failure
		now := time.Now()
		p.repl.followers = map[int32]*followerProgress{}
		for _, r := range st.Replicas {
			if r != self {
				// A grace period of one lag interval before an unheard
				// follower counts as out of sync.
				p.repl.followers[r] = &followerProgress{leo: -1, leoAtFetch: -1, caughtUpAt: now}
			}
		}
	}
	if st.Leader == self && !termChange {
		// Same term, new replica set (reassignment): track exactly the
		// current followers.
		for _, r := range st.Replicas {
			if _, ok := p.repl.followers[r]; !ok && r != self {
				p.repl.followers[r] = &followerProgress{leo: -1, leoAtFetch: -1, caughtUpAt: time.Now()}
			}
		}
		for r := range p.repl.followers {
			if !slices.Contains(st.Replicas, r) {
				delete(p.repl.followers, r)
			}
		}
	}
	startFollowing := st.Leader != self && st.Leader >= 0 && termChange && slices.Contains(st.Replicas, self)
	p.repl.mu.Unlock()
	if termChange {
		p.appendMu.Unlock() // before stopping the fetcher, which may wait for it
	}

	if stop != nil {
		stop.stop()
	}
	if startFollowing {
		f := newFetcher(p, st.Leader, st.LeaderEpoch)
		p.repl.mu.Lock()
		if p.repl.state.LeaderEpoch == st.LeaderEpoch && p.repl.fetcher == nil && !p.closedNow() {
			// Started under the lock, so that a stopReplication that
			// finds it always stops a started fetcher.
			p.repl.fetcher = f
			f.start()
		}
		p.repl.mu.Unlock()
	}
	if st.Leader == self {
		p.maybeAdvanceHW()
	}
	p.notify()
}

func (p *Partition) closedNow() bool {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	return p.closed
}

// stopReplication stops the fetcher, if any (the partition is closing).
func (p *Partition) stopReplication() {
	p.repl.mu.Lock()
	f := p.repl.fetcher
	p.repl.fetcher = nil
	p.repl.mu.Unlock()
	if f != nil {
		f.stop()
	}
}

// maybeAdvanceHW moves the high watermark to the smallest log end offset
// of the maximal ISR (the ISR and the members an ISR write in flight adds),
// once every member has been heard from in this term.
func (p *Partition) maybeAdvanceHW() {
	self := p.b.cfg.BrokerID
	hw := p.log.LogEndOffset()
	p.repl.mu.Lock()
	if p.repl.state.Leader != self {
		p.repl.mu.Unlock()
		return
	}
	for _, r := range p.repl.maximalISR() {
		if r == self {
			continue
		}
		f, ok := p.repl.followers[r]
		if !ok || f.leo < 0 {
			p.repl.mu.Unlock()
			return // not heard from yet: the high watermark waits
		}
		hw = min(hw, f.leo)
	}
	p.repl.mu.Unlock()
	for {
		cur := p.hw.Load()
		if hw <= cur {
			return
		}
		if p.hw.CompareAndSwap(cur, hw) {
			p.notify()
			return
		}
	}
}

// maximalISR is the ISR together with the members a pending ISR write
// adds. A pending shrink adds none: until it is written, the members it
// drops still count. Called with mu held.
func (r *replication) maximalISR() []int32 {
	if !r.isrPending {
		return r.state.ISR
	}
	out := slices.Clone(r.state.ISR)
	for _, id := range r.pendingISR {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// isrSize is the number of in-sync replicas.
func (p *Partition) isrSize() int {
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	return len(p.repl.state.ISR)
}

// ReplicaFetch answers a follower's fetch: it records the follower's
// progress, which may advance the high watermark or bring the follower
// back into the ISR, and returns batches up to the log end (followers see
// past the high watermark).
func (p *Partition) ReplicaFetch(replicaID int32, offset int64, maxBytes int, clientEpoch int32) (FetchResult, error) {
	if err := p.checkEpoch(clientEpoch); err != nil {
		return FetchResult{}, err
	}
	leo := p.log.LogEndOffset()
	now := time.Now()
	p.repl.mu.Lock()
	if p.repl.state.Leader != p.b.cfg.BrokerID {
		p.repl.mu.Unlock()
		return FetchResult{}, fmt.Errorf("%w: not the leader", kerr.NotLeaderForPartition)
	}
	f, ok := p.repl.followers[replicaID]
	if !ok {
		p.repl.mu.Unlock()
		return FetchResult{}, fmt.Errorf("%w: broker %d is not a replica of %s", kerr.NotLeaderForPartition, replicaID, p)
	}
	if offset > leo {
		p.repl.mu.Unlock()
		return FetchResult{HighWatermark: p.hw.Load(), LogStartOffset: p.log.LogStartOffset()},
			fmt.Errorf("%w: follower offset %d beyond log end %d", kerr.OffsetOutOfRange, offset, leo)
	}
	f.leo = offset
	if offset >= leo || (f.leoAtFetch >= 0 && offset >= f.leoAtFetch) {
		f.caughtUpAt = now
	}
	f.leoAtFetch = leo
	var expand []int32
	var from meta.PartitionState
	if !slices.Contains(p.repl.state.ISR, replicaID) && !p.repl.isrPending && offset >= p.hw.Load() && offset >= leo {
		expand = append(slices.Clone(p.repl.state.ISR), replicaID)
		slices.Sort(expand)
		// Pending from here on, under the same lock as the check: an
		// append racing in cannot move the high watermark past offset.
		from = p.beginISRChangeLocked(expand)
	}
	p.repl.mu.Unlock()
	if expand != nil {
		p.writeISR(from, expand, "follower caught up", replicaID)
	}
	p.maybeAdvanceHW()

	if _, err := p.loadLogStart(context.Background()); err != nil {
		return FetchResult{}, err
	}
	res := FetchResult{HighWatermark: p.hw.Load(), LogStartOffset: p.log.LogStartOffset()}
	res.LastStableOffset = res.HighWatermark
	if offset == leo {
		return res, nil
	}
	data, err := p.log.Read(offset, leo, maxBytes, true)
	if err != nil {
		return res, p.readError(offset, err)
	}
	res.Records = data
	return res, nil
}

// checkISR shrinks the ISR of a led partition by the followers that have
// not caught up within lagMax.
func (p *Partition) checkISR(now time.Time, lagMax time.Duration) {
	self := p.b.cfg.BrokerID
	p.repl.mu.Lock()
	if p.repl.state.Leader != self || p.repl.isrPending {
		p.repl.mu.Unlock()
		return
	}
	var keep []int32
	var dropped []int32
	for _, r := range p.repl.state.ISR {
		f, ok := p.repl.followers[r]
		if r != self && ok && now.Sub(f.caughtUpAt) > lagMax {
			dropped = append(dropped, r)
			continue
		}
		keep = append(keep, r)
	}
	var from meta.PartitionState
	if len(dropped) > 0 {
		from = p.beginISRChangeLocked(keep)
	}
	p.repl.mu.Unlock()
	if len(dropped) > 0 {
		p.writeISR(from, keep, "followers lagging", dropped...)
	}
}

// beginISRChangeLocked marks isr as being written (so the high watermark
// counts its members) and returns the state the write replaces. The caller
// holds mu, has checked that no change is pending, and then calls writeISR.
func (p *Partition) beginISRChangeLocked(isr []int32) meta.PartitionState {
	p.repl.isrPending = true
	p.repl.pendingISR = isr
	return p.repl.state
}

// writeISR writes a new ISR to etcd in the background, fenced by the
// leader epoch of st; the partition watch then applies it.
func (p *Partition) writeISR(st meta.PartitionState, isr []int32, why string, who ...int32) {
	next := st
	next.ISR = isr
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := p.b.meta.UpdatePartitionState(ctx, next, st.LeaderEpoch)
		if err != nil {
			p.repl.mu.Lock()
			if p.repl.state.Revision == st.Revision {
				p.repl.isrPending = false
				p.repl.pendingISR = nil
			}
			p.repl.mu.Unlock()
			level := p.b.log.Warn
			if errors.Is(err, meta.ErrFenced) {
				level = p.b.log.Info
			}
			level("ISR change not written", "partition", p.String(), "isr", isr, "why", why, "err", err)
			return
		}
		p.b.metrics.isrChanges.Inc()
		p.b.log.Info("ISR changed", "partition", p.String(), "isr", isr, "why", why, "brokers", who)
	}()
}

// waitReplicated blocks until the high watermark passes offset (acks=all),
// the ISR shrinks below minISR, or ctx ends.
func (p *Partition) waitReplicated(ctx context.Context, offset int64, minISR int32) error {
	for {
		ch := p.Wait()
		if p.hw.Load() > offset {
			return nil
		}
		if n := p.isrSize(); n < int(minISR) {
			return fmt.Errorf("%w: %d in-sync replicas, min.insync.replicas=%d", kerr.NotEnoughReplicasAfterAppend, n, minISR)
		}
		if !p.isLeader() {
			return fmt.Errorf("%w: leadership moved while waiting for replication", kerr.NotLeaderForPartition)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for in-sync replicas: %v", kerr.RequestTimedOut, ctx.Err())
		}
	}
}

// underReplicated counts led partitions with fewer in-sync replicas than
// replicas.
func (b *Broker) underReplicated() int {
	n := 0
	for _, p := range b.localPartitions() {
		st := p.partitionState()
		if st.Leader == b.cfg.BrokerID && len(st.ISR) < len(st.Replicas) {
			n++
		}
	}
	return n
}

// termStartOffset is the log end offset at which this broker's current
// leadership began.
func (p *Partition) termStartOffset() int64 {
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	return p.repl.termStart
}
