package ingest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchBatch is an uncompressed RecordBatch v2 of n records with values of
// size bytes and a valid CRC.
func benchBatch(n, size int) []byte {
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
		Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: 1, MaxTimestamp: int64(n),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: area,
	}
	rb.Length = int32(49 + len(area))
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
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
