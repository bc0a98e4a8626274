package recordbatch

import (
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"
)

// FilterResult says what Filter did with one batch.
type FilterResult struct {
	// Kept is the number of records kept; Dropped the number removed.
	Kept, Dropped int
	// Rewritten is false when the batch came back unchanged (every record
	// kept, no delete horizon to set): out then holds the original bytes.
	Rewritten bool
}

// Filter appends to dst the batch (header h, bytes batch: one whole
// stored batch, CRC checked by the caller) keeping only the records keep
// accepts, as Kafka's log cleaner rewrites a batch (MemoryRecords.filterTo):
// baseOffset, lastOffsetDelta (so the batch's last offset and its producer's
// last sequence stay), partitionLeaderEpoch, the producer fields, the
// timestamp type and the codec stay; recordCount, the CRC and (CreateTime)
// maxTimestamp follow the records kept. With horizon >= 0, a batch that
// keeps a tombstone (a null value) and has no delete horizon yet is marked
// with that one (KIP-534: attribute bit 6, baseTimestamp =
// horizon, every record's timestampDelta rebased so its timestamp is
// unchanged); a batch that has a horizon keeps it. When every record is kept
// and no horizon is to be set, the original bytes are appended. A batch
// left without records is not appended (Kept == 0); see EmptyBatch.
// Records are decompressed to at most maxDecompressed bytes. Errors wrap
// ErrCorrupt or ErrInvalid as Records does.
func Filter(dst []byte, h Header, batch []byte, maxDecompressed int64, horizon int64, keep func(*Record) bool) ([]byte, FilterResult, error) {
	var res FilterResult
	if len(batch) < HeaderSize || len(batch) < h.Size() {
		return dst, res, fmt.Errorf("%w: %d bytes, the batch needs %d", ErrCorrupt, len(batch), h.Size())
	}
	area := batch[HeaderSize:h.Size()]
	if c := h.Compression(); c != CodecNone {
		if err := checkClaim(h, maxDecompressed); err != nil {
			return dst, res, err
		}
		var err error
		if area, err = Decompress(c, area, maxDecompressed); err != nil {
			return dst, res, err
		}
	}
	// First pass: decide, so that the horizon is known before encoding.
	var decisions []bool
	tombstone := false
	if err := walk(h, &sliceBodies{r: kbin.Reader{Src: area}}, false, func(r *Record) error {
		k := keep(r)
		decisions = append(decisions, k)
		if k {
			res.Kept++
			tombstone = tombstone || r.Value == nil
		} else {
			res.Dropped++
		}
		return nil
	}); err != nil {
		return dst, FilterResult{}, err
	}
	if res.Kept == 0 {
		return dst, res, nil
	}
	rebase := horizon >= 0 && tombstone && !h.HasDeleteHorizon()
	if res.Dropped == 0 && !rebase {
		return append(dst, batch[:h.Size()]...), res, nil
	}
	res.Rewritten = true
	nh := h
	nh.NumRecords = int32(res.Kept)
	if rebase {
		nh.Attributes |= attrDeleteHorizon
		nh.BaseTimestamp = horizon
	}
	var (
		recs  []byte
		hdrs  []RecordHeader
		maxTs = int64(math.MinInt64)
		i     int
	)
	_ = walk(h, &sliceBodies{r: kbin.Reader{Src: area}}, false, func(r *Record) error {
		k := decisions[i]
		i++
		if !k {
			return nil
		}
		maxTs = max(maxTs, r.Timestamp)
		hdrs = r.AppendHeaders(hdrs[:0])
		tsDelta := r.TimestampDelta
		if rebase {
			tsDelta = h.BaseTimestamp + r.TimestampDelta - nh.BaseTimestamp
		}
		recs = AppendRecord(recs, r.OffsetDelta, tsDelta, r.Key, r.Value, hdrs)
		return nil
	})
	if !h.LogAppendTime() {
		nh.MaxTimestamp = maxTs
	}
	out, err := Compress(nil, h.Compression(), recs)
	if err != nil {
		return dst, FilterResult{}, fmt.Errorf("rewrite batch at offset %d: %w", h.BaseOffset, err)
	}
	return AppendBatch(dst, nh, out), res, nil
}

// EmptyBatch appends a batch with h's header and no records: what Kafka's
// cleaner leaves of the last batch of an active idempotent producer whose
// records were all removed, so that the producer's last sequence and
// epoch survive (MemoryRecords.writeEmptyHeader). baseOffset,
// lastOffsetDelta, the timestamps, the producer fields and the leader epoch
// are h's; recordCount is 0 and the codec none.
func EmptyBatch(dst []byte, h Header) []byte {
	h.NumRecords = 0
	h.Attributes &^= attrCodecMask
	return AppendBatch(dst, h, nil)
}
