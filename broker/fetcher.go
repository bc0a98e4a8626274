package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetcher copies a partition from its leader, as a Kafka follower does:
// first it truncates whatever the leader does not have (OffsetForLeaderEpoch,
// KIP-101/279), then it fetches from its log end and appends the batches
// unchanged.
type fetcher struct {
	p      *Partition
	leader int32
	epoch  int32
	cancel context.CancelFunc
	done   chan struct{}
}

func newFetcher(p *Partition, leader, epoch int32) *fetcher {
	return &fetcher{p: p, leader: leader, epoch: epoch, done: make(chan struct{})}
}

func (f *fetcher) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() {
		defer close(f.done)
		f.run(ctx)
	}()
}

func (f *fetcher) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
}

const (
	fetcherMaxWait   = 500 * time.Millisecond
	fetcherBackoff   = 200 * time.Millisecond
	fetcherMaxBytes  = 16 << 20
	fetcherPartBytes = 8 << 20
)

func (f *fetcher) run(ctx context.Context) {
	p := f.p
	log := p.b.log.With("partition", p.String(), "leader", f.leader, "epoch", f.epoch)
	var conn *peerConn
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	truncated := false
	for ctx.Err() == nil {
		if conn == nil {
			addr, ok := p.b.brokerAddr(f.leader)
			if !ok {
				sleepCtx(ctx, fetcherBackoff)
				continue
			}
			conn = newPeerConn(addr, p.b.cfg.BrokerID, p.b.cfg.ClusterSecret, p.b.cfg.PeerTLS)
		}
		if !truncated {
			if err := f.truncate(ctx, conn); err != nil {
				if ctx.Err() == nil {
					log.Warn("follower truncation failed, retrying", "err", err)
					sleepCtx(ctx, fetcherBackoff)
				}
				continue
			}
			truncated = true
		}
		again, err := f.fetchOnce(ctx, conn)
		if err != nil && ctx.Err() == nil {
			log.Debug("follower fetch failed", "err", err)
			sleepCtx(ctx, fetcherBackoff)
		}
		if again {
			truncated = false
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// truncate cuts the local log back to where it agrees with the leader.
func (f *fetcher) truncate(ctx context.Context, conn *peerConn) error {
	p := f.p
	latest := p.log.LatestEpoch()
	if latest < 0 {
		return nil // empty log: nothing that could diverge
	}
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = 3
	req.ReplicaID = p.b.cfg.BrokerID
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = p.topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.index, f.epoch, latest
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := conn.request(rctx, req)
	if err != nil {
		return err
	}
	resp := raw.(*kmsg.OffsetForLeaderEpochResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return errors.New("malformed OffsetForLeaderEpoch response")
	}
	r := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return err
	}
	leo := p.log.LogEndOffset()
	ours := int64(-1)
	if r.LeaderEpoch >= 0 {
		_, ours = p.log.EndOffsetForEpoch(r.LeaderEpoch)
	}
	to := truncationPoint(leo, p.hw.Load(), r.LeaderEpoch, r.EndOffset, ours)
	if to < leo {
		p.b.log.Info("follower truncating divergent log", "partition", p.String(), "from", leo, "to", to, "leader_epoch", r.LeaderEpoch)
		p.appendMu.Lock()
		err := p.log.TruncateTo(to)
		p.appendMu.Unlock()
		if err != nil {
			return fmt.Errorf("truncate to %d: %w", to, err)
		}
		if p.hw.Load() > to {
			p.hw.Store(to)
		}
	}
	return nil
}

// truncationPoint is where a follower's log stops agreeing with the
// leader's (KIP-279): the leader answered OffsetForLeaderEpoch with
// (leaderEpoch, leaderEnd) for our latest epoch, and ourEnd is our own end
// offset for leaderEpoch. If the leader knows no epoch that old, only what
// is committed (below our high watermark) is kept.
func truncationPoint(leo, hw int64, leaderEpoch int32, leaderEnd, ourEnd int64) int64 {
	if leaderEpoch < 0 || leaderEnd < 0 {
		return min(leo, hw)
	}
	to := min(leo, leaderEnd)
	if ourEnd >= 0 {
		to = min(to, ourEnd)
	}
	return to
}

// fetchOnce fetches and appends one response. again asks for a new
// truncation (the logs diverged).
func (f *fetcher) fetchOnce(ctx context.Context, conn *peerConn) (again bool, err error) {
	p := f.p
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = p.b.cfg.BrokerID
	req.MaxWaitMillis = int32(fetcherMaxWait.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = fetcherMaxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = p.topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p.index
	rp.CurrentLeaderEpoch = f.epoch
	rp.FetchOffset = p.log.LogEndOffset()
	rp.LastFetchedEpoch = p.log.LatestEpoch()
	rp.PartitionMaxBytes = fetcherPartBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, fetcherMaxWait+10*time.Second)
	defer cancel()
	raw, err := conn.request(rctx, req)
	if err != nil {
		return false, err
	}
	resp := raw.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return false, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return false, errors.New("malformed fetch response")
	}
	r := resp.Topics[0].Partitions[0]
	switch err := kerr.ErrorForCode(r.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		if leo := p.log.LogEndOffset(); r.LogStartOffset > leo {
			// The leader keeps nothing from our log end on locally (it is
			// in the cold tier, shared by every replica): start over at
			// the leader's local log start.
			p.b.log.Info("follower behind the leader's log start, resetting", "partition", p.String(), "from", leo, "to", r.LogStartOffset)
			p.appendMu.Lock()
			err := p.log.ResetTo(r.LogStartOffset)
			p.appendMu.Unlock()
			return false, err
		}
		return true, err
	default:
		return false, err
	}
	if len(r.RecordBatches) > 0 {
		p.appendMu.Lock()
		_, err := p.log.AppendReplicated(r.RecordBatches, time.Now())
		p.appendMu.Unlock()
		if err != nil {
			return true, fmt.Errorf("append replicated batches: %w", err)
		}
		p.unflushed.Add(1)
	}
	if hw := min(r.HighWatermark, p.log.LogEndOffset()); hw > p.hw.Load() {
		p.hw.Store(hw)
		// The follower's transactions below the high watermark are
		// decided: let the log forget them, as the leader's fetches do.
		p.log.LastStableOffset(hw)
	}
	// The leader's log start (moved by DeleteRecords or its retention):
	// records below it are gone from the leader, and go here too.
	p.advanceLocalStart(r.LogStartOffset)
	return false, nil
}
