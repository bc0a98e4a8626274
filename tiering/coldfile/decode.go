package coldfile

import (
	"fmt"

	"github.com/stratalog/strata/recordbatch"
)

// DecodeBatches calls fn with one Row per record of the concatenated
// RecordBatch v2 bytes b (any compression codec, decompressed within
// recordbatch.DefaultMaxDecompressed), in order. Batches are checked
// (frame, CRC, record count and offset deltas); damage gives an error
// wrapping ErrCorrupt. An error from fn is returned as it is.
func DecodeBatches(b []byte, partition int32, fn func(Row) error) error {
	var hdrs []recordbatch.RecordHeader
	for pos := 0; pos < len(b); {
		h, err := recordbatch.ParseHeader(b[pos:])
		if err != nil {
			return fmt.Errorf("%w: batch at byte %d: %v", ErrCorrupt, pos, err)
		}
		if err := recordbatch.Check(h, b[pos:]); err != nil {
			return fmt.Errorf("%w: batch at byte %d (offset %d): %v", ErrCorrupt, pos, h.BaseOffset, err)
		}
		batch := b[pos : pos+h.Size()]
		var fnErr error
		err = recordbatch.Records(h, batch, recordbatch.DefaultMaxDecompressed, func(r *recordbatch.Record) error {
			row := Row{
				Offset:          r.Offset,
				Timestamp:       r.Timestamp,
				Key:             r.Key,
				Value:           r.Value,
				ProducerID:      h.ProducerID,
				ProducerEpoch:   h.ProducerEpoch,
				Sequence:        recordbatch.SequenceAt(h.BaseSequence, r.OffsetDelta),
				IsTransactional: h.IsTransactional(),
				IsControl:       h.IsControl(),
				Partition:       partition,
				LeaderEpoch:     h.PartitionLeaderEpoch,
				TimestampType:   int8(h.TimestampType()),
			}
			if r.NumHeaders > 0 {
				hdrs = r.AppendHeaders(hdrs[:0])
				row.Headers = make([]Header, len(hdrs))
				for i, hd := range hdrs {
					row.Headers[i] = Header{Key: string(hd.Key), Value: hd.Value}
				}
			}
			fnErr = fn(row)
			return fnErr
		})
		if err != nil {
			if fnErr != nil {
				return fnErr
			}
			return fmt.Errorf("%w: batch at offset %d: %v", ErrCorrupt, h.BaseOffset, err)
		}
		pos += h.Size()
	}
	return nil
}
