package recordbatch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kbatch encodes a real RecordBatch v2 of recs (their OffsetDelta set in
// order) with kmsg, an encoder independent of this package's, compressing
// with kgo's compressor unless codec is none, and computes the CRC32C.
func kbatch(tb testing.TB, codec Codec, firstTs int64, recs ...kmsg.Record) []byte {
	tb.Helper()
	var raw []byte
	maxTs := firstTs
	for i := range recs {
		rec := recs[i]
		rec.OffsetDelta = int32(i)
		body := rec.AppendTo(nil)
		// AppendTo writes Length first; recompute it from the body.
		_, n := binary.Varint(body)
		raw = binary.AppendVarint(raw, int64(len(body)-n))
		raw = append(raw, body[n:]...)
		maxTs = max(maxTs, firstTs+rec.TimestampDelta64)
	}
	if codec != CodecNone {
		raw = kgoCompress(tb, map[Codec]kgo.CompressionCodec{
			1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression(),
		}[codec], raw)
	}
	out := (&kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(codec),
		LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: firstTs, MaxTimestamp: maxTs,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(recs)), Records: raw,
	}).AppendTo(nil)
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-lengthOverhead))
	SetCRC(out)
	return out
}

// values is one record per value.
func values(vs ...string) []kmsg.Record {
	recs := make([]kmsg.Record, len(vs))
	for i, v := range vs {
		recs[i].Value = []byte(v)
	}
	return recs
}

func kgoCompress(tb testing.TB, codec kgo.CompressionCodec, data []byte) []byte {
	tb.Helper()
	c, err := kgo.DefaultCompressor(codec)
	if err != nil {
		tb.Fatal(err)
	}
	out, used := c.Compress(new(bytes.Buffer), data)
	if used == 0 {
		tb.Fatalf("compressor did not compress")
	}
	return append([]byte(nil), out...)
}

// plainBatch is an uncompressed batch of n records with timestamps ts,
// ts+1, ..., keys k0, k1, ... and values of valueLen bytes.
func plainBatch(tb testing.TB, ts int64, n, valueLen int) []byte {
	tb.Helper()
	recs := make([]kmsg.Record, n)
	for i := range recs {
		recs[i] = kmsg.Record{TimestampDelta64: int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: bytes.Repeat([]byte{byte('a' + i%26)}, valueLen)}
	}
	return kbatch(tb, CodecNone, ts, recs...)
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
