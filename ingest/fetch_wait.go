package ingest

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// A consumer Fetch below MinBytes waits as Kafka's DelayedFetch does: it
// counts the bytes that arrive after what the response already holds,
// and is answered once MinBytes have accumulated across its partitions
// (or MaxWait passes). Reading every partition again from its fetch
// offset at each append, as the wait did first, cost one read of all
// accumulated bytes per append: against a producer of small batches, a
// consumer with fetch.min.bytes 1 MiB made the broker read about a
// thousand times what it returned. Here each partition is read on from
// where the response (or the last look) ended, within what is left of its
// partition max bytes, so a byte is read once while waiting and once more
// for the answer.

// minBytesProbe is one partition of a waiting fetch.
type minBytesProbe struct {
	p     Partition
	rp    *kmsg.FetchRequestTopicPartition
	next  int64 // the offset after the bytes counted so far
	room  int   // what is left of the partition's max bytes
	ready bool  // a read was made for this partition since the response
}

// awaitMinBytes waits, after a fill that gathered total bytes, until
// MinBytes have accumulated, MaxWait (deadline) passes, ctx ends or a
// partition fails, waking at appends (waits are the channels the fill
// took). It reports false when it cannot count the partitions' bytes from
// the response (records it cannot walk): the caller then waits for one
// append and fills again.
func (cc *clientConn) awaitMinBytes(ctx context.Context, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, total int, waits []<-chan struct{}, deadline time.Time) bool {
	probes, ok := cc.minBytesProbes(req, resp)
	if !ok {
		return false
	}
	need := int(req.MinBytes) - total
	for need > 0 {
		if !waitAny(ctx, waits, deadline) {
			return true // MaxWait passed, or the request ended
		}
		waits = waits[:0]
		for i := range probes {
			pr := &probes[i]
			// Taken before the read: an append after it fires.
			waits = append(waits, pr.p.Wait())
			if pr.room <= 0 {
				continue
			}
			if req.IsolationLevel == readCommitted && pr.p.LastStableOffset() <= pr.next {
				continue // nothing a read_committed answer could hold yet
			}
			res, err := pr.p.Fetch(pr.next, pr.room, false, pr.rp.CurrentLeaderEpoch)
			if err != nil {
				return true // the fill that answers reports it, at once
			}
			if req.IsolationLevel == readCommitted {
				// Only what a read_committed answer can hold counts:
				// bytes below the last stable offset.
				n, _ := stablePrefix(res.Records, res.LastStableOffset)
				res.Records = res.Records[:n]
			}
			next, ok := offsetAfter(res.Records)
			if !ok {
				return true
			}
			if len(res.Records) > 0 {
				pr.next, pr.room = next, pr.room-len(res.Records)
				need -= len(res.Records)
			}
		}
	}
	return true
}

// minBytesProbes lists the partitions of a response that waits, each
// positioned after the records it holds; false when some records cannot
// be walked or a partition is not found again.
func (cc *clientConn) minBytesProbes(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) ([]minBytesProbe, bool) {
	var probes []minBytesProbe
	for ti := range req.Topics {
		if ti >= len(resp.Topics) || len(resp.Topics[ti].Partitions) != len(req.Topics[ti].Partitions) {
			return nil, false
		}
		st := &resp.Topics[ti]
		for pi := range req.Topics[ti].Partitions {
			rp, sp := &req.Topics[ti].Partitions[pi], &st.Partitions[pi]
			if sp.ErrorCode != 0 {
				return nil, false
			}
			p, err := cc.s.b.Partitions.Partition(st.Topic, rp.Partition)
			if err != nil {
				return nil, false
			}
			next := rp.FetchOffset
			if len(sp.RecordBatches) > 0 {
				var ok bool
				if next, ok = offsetAfter(sp.RecordBatches); !ok {
					return nil, false
				}
			}
			probes = append(probes, minBytesProbe{p: p, rp: rp, next: next, room: int(rp.PartitionMaxBytes) - len(sp.RecordBatches)})
		}
	}
	return probes, true
}

// offsetAfter is the offset after the last whole batch of records (a read
// may end with part of a batch); false when records holds no whole batch
// or something that is not one. Empty records: true, and the caller keeps
// its offset.
func offsetAfter(records []byte) (int64, bool) {
	if len(records) == 0 {
		return 0, true
	}
	next, found := int64(0), false
	for len(records) >= recordbatch.HeaderSize {
		h, err := recordbatch.ParseHeader(records)
		if err != nil || h.Magic != 2 || h.Size() < recordbatch.HeaderSize {
			return 0, false
		}
		if h.Size() > len(records) {
			break // a partial batch at the end
		}
		next, found = h.LastOffset()+1, true
		records = records[h.Size():]
	}
	return next, found
}
