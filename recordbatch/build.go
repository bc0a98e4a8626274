package recordbatch

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"
)

// AppendRecord appends one encoded record (its length first) to dst. key,
// value and header values nil are null.
func AppendRecord(dst []byte, offsetDelta int32, timestampDelta int64, key, value []byte, headers []RecordHeader) []byte {
	size := 1 + kbin.VarlongLen(timestampDelta) + kbin.VarintLen(offsetDelta) +
		bytesLen(key) + bytesLen(value) + kbin.VarintLen(int32(len(headers)))
	for _, h := range headers {
		size += kbin.VarintLen(int32(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	dst = kbin.AppendVarint(dst, int32(size))
	dst = append(dst, 0) // attributes
	dst = kbin.AppendVarlong(dst, timestampDelta)
	dst = kbin.AppendVarint(dst, offsetDelta)
	dst = kbin.AppendVarintBytes(dst, key)
	dst = kbin.AppendVarintBytes(dst, value)
	dst = kbin.AppendVarint(dst, int32(len(headers)))
	for _, h := range headers {
		dst = kbin.AppendVarint(dst, int32(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = kbin.AppendVarintBytes(dst, h.Value)
	}
	return dst
}

func bytesLen(b []byte) int {
	if b == nil {
		return kbin.VarintLen(-1)
	}
	return kbin.VarintLen(int32(len(b))) + len(b)
}

// AppendBatch appends a whole batch to dst: the header h followed by the
// records area (encoded records, compressed as a whole if h's codec says
// so). batchLength, magic and the CRC are computed; every other field is
// h's.
func AppendBatch(dst []byte, h Header, records []byte) []byte {
	h.Length = int32(MinLength + len(records))
	h.Magic = Magic
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	h.Put(dst[start:])
	dst = append(dst, records...)
	SetCRC(dst[start:])
	return dst
}

// StampLogAppendTime marks one whole batch with the broker's clock, as
// Kafka does for message.timestamp.type=LogAppendTime: the timestamp-type
// bit and maxTimestamp are set (both inside the CRC, which is recomputed)
// and h, the batch's parsed header, is updated to match.
func StampLogAppendTime(batch []byte, h *Header, ts int64) {
	h.Attributes |= attrLogAppendTime
	h.MaxTimestamp = ts
	binary.BigEndian.PutUint16(batch[offAttributes:], uint16(h.Attributes))
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	h.CRC = Checksum(batch)
	binary.BigEndian.PutUint32(batch[offCRC:], h.CRC)
}
