package broker

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BatchForTest is an uncompressed RecordBatch v2 of n records with values of
// size bytes and a valid CRC.
func BatchForTest(n, size int) []byte {
	var area []byte
	value := make([]byte, size)
	for i := range n {
		rec := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: value}
		enc := rec.AppendTo(nil)
		_, skip := binary.Varint(enc) // AppendTo wrote Length 0: replace it
		area = binary.AppendVarint(area, int64(len(enc)-skip))
		area = append(area, enc[skip:]...)
	}
	rb := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: area,
	}
	rb.Length = int32(49 + len(area))
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
