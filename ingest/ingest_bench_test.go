package ingest

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// benchBatch is an uncompressed RecordBatch v2 of n records with values of
// size bytes and a valid CRC.
func benchBatch(n, size int) []byte {
	var area []byte
	value := make([]byte, size)
	for i := range n {
		area = recordbatch.AppendRecord(area, int32(i), int64(i), fmt.Appendf(nil, "k%d", i), value, nil)
	}
	return recordbatch.AppendBatch(nil, recordbatch.Header{LastOffsetDelta: int32(n - 1), BaseTimestamp: 1, MaxTimestamp: int64(n),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: int32(n)}, area)
}

// BenchmarkDecodeProduceRequest takes apart a Produce frame (v9, flexible)
// of 64 KiB batches of 1 KiB records for 1 or 16 partitions: the
// protocol layer's work before the broker sees the records.
func BenchmarkDecodeProduceRequest(b *testing.B) {
	batch := benchBatch(64, 1024)
	for _, parts := range []int{1, 16} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 9, -1, 30000
			t := kmsg.NewProduceRequestTopic()
			t.Topic = "bench"
			for p := range parts {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition, rp.Records = int32(p), batch
				t.Partitions = append(t.Partitions, rp)
			}
			req.Topics = append(req.Topics, t)
			frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)[4:]
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				d, err := decodeRequest(frame)
				if err != nil || d.req == nil {
					b.Fatalf("decode: %v", err)
				}
			}
		})
	}
}

// BenchmarkEncodeFetchResponse frames a Fetch response (v13) carrying
// 1 MiB of stored batches over 1 or 16 partitions: the protocol layer's
// work after the broker read the records.
func BenchmarkEncodeFetchResponse(b *testing.B) {
	batch := benchBatch(64, 1024)
	for _, parts := range []int{1, 16} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			per := max(1, (1<<20)/len(batch)/parts)
			var records []byte
			for range per {
				records = append(records, batch...)
			}
			resp := kmsg.NewPtrFetchResponse()
			resp.Version = 13
			t := kmsg.NewFetchResponseTopic()
			t.TopicID = [16]byte{1}
			for p := range parts {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.HighWatermark, sp.RecordBatches = int32(p), 1<<20, records
				t.Partitions = append(t.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, t)
			hdr := requestHeader{key: 1, version: 13, correlationID: 7}
			b.SetBytes(int64(parts * len(records)))
			for b.Loop() {
				if out := frameResponse(hdr, resp); len(out) < parts*len(records) {
					b.Fatalf("response of %d bytes", len(out))
				}
			}
		})
	}
}
