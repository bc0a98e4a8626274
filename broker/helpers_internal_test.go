package broker

import (
	"fmt"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// BatchForTest is an uncompressed RecordBatch v2 of n records with values of
// size bytes and a valid CRC.
func BatchForTest(n, size int) []byte {
	var area []byte
	value := make([]byte, size)
	for i := range n {
		area = recordbatch.AppendRecord(area, int32(i), int64(i), fmt.Appendf(nil, "k%d", i), value, nil)
	}
	now := time.Now().UnixMilli()
	return recordbatch.AppendBatch(nil, recordbatch.Header{LastOffsetDelta: int32(n - 1), BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: int32(n)}, area)
}
