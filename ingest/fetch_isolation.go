package ingest

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// Isolation levels of Fetch and ListOffsets (KIP-98).
const (
	readUncommitted int8 = 0
	readCommitted   int8 = 1
)

// readCommittedView turns a consumer's fetch result into what a
// read_committed consumer sees (Kafka's FetchIsolation.TXN_COMMITTED):
// the whole batches below the last stable offset, and the aborted
// transactions the returned range overlaps, so that the client drops
// those producers' records up to their abort markers. A result with no
// batch left names no aborted transaction (an empty list, not null: the
// consumer asked for read_committed). Without the list, no records are
// served: the error is the partition's.
func readCommittedView(p Partition, fetchOffset int64, res *FetchResult) ([]kmsg.FetchResponseTopicPartitionAbortedTransaction, error) {
	n, upTo := stablePrefix(res.Records, res.LastStableOffset)
	if n == 0 {
		res.Records = nil
		return []kmsg.FetchResponseTopicPartitionAbortedTransaction{}, nil
	}
	aborted, err := p.AbortedTransactions(fetchOffset, upTo)
	if err != nil {
		res.Records = nil
		return nil, err
	}
	res.Records = res.Records[:n]
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(aborted))
	for i, a := range aborted {
		out[i] = kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		out[i].ProducerID, out[i].FirstOffset = a.ProducerID, a.FirstOffset
	}
	return out, nil
}

// stablePrefix returns how many bytes of records are whole batches whose
// last offset is below lso, and the offset after the last of them.
// Batches come as the log stores them: a header that does not parse ends
// the prefix.
func stablePrefix(records []byte, lso int64) (n int, upTo int64) {
	for n < len(records) {
		h, err := recordbatch.ParseHeader(records[n:])
		if err != nil || h.LastOffset() >= lso || h.Size() > len(records)-n {
			break
		}
		n += h.Size()
		upTo = h.LastOffset() + 1
	}
	return n, upTo
}

// listLatest is ListOffsets' timestamp for the latest offset.
const listLatest int64 = -1
