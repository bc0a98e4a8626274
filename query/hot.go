package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/tiering/coldfile"
)

const (
	fetchMaxBytes     = 8 << 20
	fetchPartMaxBytes = 4 << 20
)

// fetchHot reads offsets [from, to) of a partition from its leader with raw
// Fetch requests (read_committed unless Plan.ReadUncommitted, control
// records included; aborted rows marked), decodes the
// batches into rows and calls fn for each row in the range. It returns the
// offset after the last one covered (to, unless ctx ends).
func (s *Scanner) fetchHot(ctx context.Context, pi *partInfo, from, to int64, fn func(*coldfile.Row) error) (int64, error) {
	next := from
	maxPart := int32(fetchPartMaxBytes)
	retries := 0
	for next < to {
		if err := ctx.Err(); err != nil {
			return next, err
		}
		leader, err := s.leader(ctx, pi, retries > 0)
		if err != nil {
			return next, err
		}
		req := kmsg.NewPtrFetchRequest()
		if !s.plan.ReadUncommitted {
			req.IsolationLevel = 1 // read_committed: below the LSO, with the aborted transactions
		}
		req.ReplicaID = -1
		req.MaxWaitMillis = 200
		req.MinBytes = 1
		req.MaxBytes = fetchMaxBytes
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = s.plan.Topic
		rt.TopicID = s.plan.topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = pi.partition
		rp.FetchOffset = next
		rp.PartitionMaxBytes = maxPart
		rp.CurrentLeaderEpoch = -1
		rp.LogStartOffset = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := s.cfg.Client.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			if retries < 5 && ctx.Err() == nil {
				retries++
				sleep(ctx, time.Duration(retries)*200*time.Millisecond)
				continue
			}
			return next, fmt.Errorf("fetch %s/%d at offset %d: %w", s.plan.Topic, pi.partition, next, err)
		}
		fr := resp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
			return next, fmt.Errorf("fetch %s/%d: %w", s.plan.Topic, pi.partition, err)
		}
		if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
			return next, fmt.Errorf("fetch %s/%d: response names %d topics", s.plan.Topic, pi.partition, len(fr.Topics))
		}
		p := &fr.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			var ke *kerr.Error
			if errors.As(err, &ke) && ke.Retriable && retries < 10 {
				retries++
				sleep(ctx, time.Duration(retries)*200*time.Millisecond)
				continue
			}
			return next, fmt.Errorf("fetch %s/%d at offset %d: %w", s.plan.Topic, pi.partition, next, err)
		}
		pi.aborts.add(p.AbortedTransactions)
		b := p.RecordBatches
		progressed := false
		for len(b) >= recordbatch.HeaderSize && next < to {
			h, err := recordbatch.ParseHeader(b)
			if err != nil {
				return next, fmt.Errorf("fetch %s/%d: %w", s.plan.Topic, pi.partition, err)
			}
			if h.Size() > len(b) || h.Length <= 0 {
				break // a partial batch at the end of the response
			}
			batch := b[:h.Size()]
			b = b[h.Size():]
			last := h.LastOffset()
			if last < next {
				continue
			}
			if h.Magic != recordbatch.Magic {
				return next, fmt.Errorf("fetch %s/%d: batch at %d has magic %d", s.plan.Topic, pi.partition, h.BaseOffset, h.Magic)
			}
			err = coldfile.DecodeBatches(batch, pi.partition, func(r coldfile.Row) error {
				if r.Offset < next || r.Offset >= to {
					return nil
				}
				pi.aborts.mark(&r)
				return fn(&r)
			})
			if err != nil {
				return next, fmt.Errorf("fetch %s/%d: %w", s.plan.Topic, pi.partition, err)
			}
			next = min(last+1, to)
			progressed = true
		}
		if progressed {
			retries = 0
			continue
		}
		if len(b) > 0 && maxPart < 256<<20 {
			maxPart *= 4 // one batch larger than the partition budget
			continue
		}
		if p.HighWatermark >= 0 && p.HighWatermark <= next {
			return next, fmt.Errorf("%s/%d: high watermark %d is below the range end %d (the log was truncated?)", s.plan.Topic, pi.partition, p.HighWatermark, to)
		}
		retries++
		if retries > 50 {
			return next, fmt.Errorf("fetch %s/%d at offset %d: no progress", s.plan.Topic, pi.partition, next)
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return next, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
