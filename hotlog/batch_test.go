package hotlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestParseBatchHeader(t *testing.T) {
	b := buildBatch(t, batchSpec{firstTs: 1000, records: []testRecord{{value: []byte("x")}, {tsDelta: 5, value: []byte("y")}}})
	SetBaseOffset(b, 42)
	SetPartitionLeaderEpoch(b, 7)
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchHeader{
		BaseOffset: 42, Length: int32(len(b) - 12), PartitionLeaderEpoch: 7, Magic: 2, CRC: h.CRC,
		LastOffsetDelta: 1, FirstTimestamp: 1000, MaxTimestamp: 1005, ProducerID: -1, ProducerEpoch: -1,
		BaseSequence: -1, NumRecords: 2,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.LastOffset() != 43 || h.Size() != len(b) || h.Compression() != 0 || h.LogAppendTime() || h.IsControl() || h.IsTransactional() {
		t.Fatalf("accessors wrong: %+v", h)
	}
	// The rewritten fields are outside the CRC.
	if _, err := ValidateBatches(b); err != nil {
		t.Fatalf("after SetBaseOffset/SetPartitionLeaderEpoch: %v", err)
	}
	if _, err := ParseBatchHeader(b[:60]); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("short header: %v", err)
	}
	h.Attributes = 4 | 0x8 | 0x10 | 0x20
	if h.Compression() != 4 || !h.LogAppendTime() || !h.IsTransactional() || !h.IsControl() {
		t.Fatalf("attribute accessors wrong")
	}
}

func TestValidateBatches(t *testing.T) {
	one := simpleBatch(t, 1000, 3, 10)
	two := simpleBatch(t, 2000, 1, 100)
	withHeaders := buildBatch(t, batchSpec{firstTs: 5, records: []testRecord{
		{key: nil, value: nil, headers: []kmsg.Header{{Key: "h", Value: []byte("v")}, {Key: "n", Value: nil}}},
		{tsDelta: -3, key: []byte("k"), value: []byte{}},
	}})
	mod := func(b []byte, f func([]byte)) []byte {
		c := append([]byte(nil), b...)
		f(c)
		return c
	}
	// recordsWithDeltas builds an uncompressed batch whose records carry the
	// given offset deltas.
	recordsWithDeltas := func(deltas ...int32) []byte {
		var raw []byte
		for _, d := range deltas {
			r := kmsg.Record{OffsetDelta: d, Value: []byte("v")}
			body := r.AppendTo(nil)[1:]
			raw = binary.AppendVarint(raw, int64(len(body)))
			raw = append(raw, body...)
		}
		rb := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(len(deltas) - 1), NumRecords: int32(len(deltas)), Records: raw}
		out := rb.AppendTo(nil)
		binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
		fixCRC(out)
		return out
	}
	tests := []struct {
		name  string
		in    []byte
		want  error // nil, ErrCorruptBatch or ErrInvalidBatch
		count int
	}{
		{"one batch", one, nil, 1},
		{"two batches", concat(one, two), nil, 2},
		{"headers and null key/value", withHeaders, nil, 1},
		{"gzip", buildBatch(t, batchSpec{codec: 1, records: []testRecord{{value: []byte("hello")}}}), nil, 1},
		{"snappy", buildBatch(t, batchSpec{codec: 2, records: []testRecord{{value: []byte("hello")}}}), nil, 1},
		{"lz4", buildBatch(t, batchSpec{codec: 3, records: []testRecord{{value: []byte("hello")}}}), nil, 1},
		{"zstd", buildBatch(t, batchSpec{codec: 4, records: []testRecord{{value: []byte("hello")}, {value: []byte("w")}}}), nil, 1},
		{"offset and epoch ignored", mod(one, func(b []byte) { SetBaseOffset(b, 99); SetPartitionLeaderEpoch(b, 3) }), nil, 1},

		{"empty", nil, ErrCorruptBatch, 0},
		{"garbage", []byte("this is not a record batch at all, not even close to one, nope"), ErrCorruptBatch, 0},
		{"short header", one[:40], ErrCorruptBatch, 0},
		{"truncated", one[:len(one)-1], ErrCorruptBatch, 0},
		{"second truncated", concat(one, two[:len(two)-5]), ErrCorruptBatch, 0},
		{"trailing bytes", concat(one, []byte{1, 2, 3}), ErrCorruptBatch, 0},
		{"bad crc", mod(one, func(b []byte) { b[len(b)-1] ^= 1 }), ErrCorruptBatch, 0},
		{"crc field flipped", mod(one, func(b []byte) { b[offCRC] ^= 0x80 }), ErrCorruptBatch, 0},
		{"second bad crc", concat(one, mod(two, func(b []byte) { b[70] ^= 4 })), ErrCorruptBatch, 0},
		{"length below minimum", mod(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], 48) }), ErrCorruptBatch, 0},
		{"negative length", mod(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], 0xffffffff) }), ErrCorruptBatch, 0},
		{"length past end", mod(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], uint32(len(b))) }), ErrCorruptBatch, 0},
		{"magic 1", mod(one, func(b []byte) { b[offMagic] = 1 }), ErrInvalidBatch, 0},
		{"magic 0", mod(one, func(b []byte) { b[offMagic] = 0 }), ErrInvalidBatch, 0},
		{"codec 5", mod(one, func(b []byte) { b[offAttributes+1] |= 5; fixCRC(b) }), ErrInvalidBatch, 0},
		{"record count mismatch", mod(one, func(b []byte) { binary.BigEndian.PutUint32(b[offNumRecords:], 2); fixCRC(b) }), ErrInvalidBatch, 0},
		{"zero records", mod(one, func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 0)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0xffffffff)
			fixCRC(b)
		}), ErrInvalidBatch, 0},
		{"count and delta agree, records do not", mod(one, func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 4)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 3)
			fixCRC(b)
		}), ErrInvalidBatch, 0},
		{"offset deltas out of order", recordsWithDeltas(0, 2, 1), ErrInvalidBatch, 0},
		{"offset deltas start at 1", recordsWithDeltas(1, 2), ErrInvalidBatch, 0},
		{"offset deltas in order", recordsWithDeltas(0, 1, 2), nil, 1},
		{"record length too long", mod(one, func(b []byte) { b[BatchHeaderSize] += 2; fixCRC(b) }), ErrCorruptBatch, 0},
		{"record length too short", mod(one, func(b []byte) { b[BatchHeaderSize] -= 2; fixCRC(b) }), ErrCorruptBatch, 0},
		{"records area garbage", mod(one, func(b []byte) {
			for i := BatchHeaderSize; i < len(b); i++ {
				b[i] = 0xff
			}
			fixCRC(b)
		}), ErrCorruptBatch, 0},
		{"no records area", mod(one[:BatchHeaderSize], func(b []byte) {
			binary.BigEndian.PutUint32(b[8:], 49)
			fixCRC(b)
		}), ErrInvalidBatch, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := ValidateBatches(tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(hs) != tt.count {
					t.Fatalf("%d headers, want %d", len(hs), tt.count)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			other := ErrInvalidBatch
			if tt.want == ErrInvalidBatch {
				other = ErrCorruptBatch
			}
			if errors.Is(err, other) {
				t.Fatalf("error %v also matches %v", err, other)
			}
			if hs != nil {
				t.Fatalf("headers returned with an error")
			}
		})
	}
}

func FuzzValidateBatches(f *testing.F) {
	one := simpleBatch(f, 1000, 3, 10)
	z := buildBatch(f, batchSpec{codec: 4, records: []testRecord{{value: []byte("hello")}, {value: []byte("w")}}})
	g := buildBatch(f, batchSpec{codec: 1, records: []testRecord{{value: []byte("hello")}}})
	h := buildBatch(f, batchSpec{firstTs: 5, records: []testRecord{{headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}}})
	for _, seed := range [][]byte{one, z, g, h, concat(one, z), one[:30], one[:len(one)-1], concat(one, g[:70]), {}, {0}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkValidate(t, b)
		if len(b) >= BatchHeaderSize {
			// The same bytes with a correct frame and CRC, so that the
			// record walk sees arbitrary input too.
			c := append([]byte(nil), b...)
			binary.BigEndian.PutUint32(c[offLength:], uint32(len(c)-12))
			c[offMagic] = 2
			fixCRC(c)
			checkValidate(t, c)
			h, _ := ParseBatchHeader(c)
			if _, _, _, err := firstRecordAtOrAfter(h, c, 0, 1<<20); err != nil && !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("decoding records: %v", err)
			}
		}
	})
}

func checkValidate(t *testing.T, b []byte) {
	{
		hs, err := ValidateBatches(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrInvalidBatch) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		// Accepted input must frame exactly and append cleanly.
		total := 0
		for _, h := range hs {
			total += h.Size()
			if h.Magic != 2 || h.NumRecords != h.LastOffsetDelta+1 {
				t.Fatalf("accepted bad header %+v", h)
			}
		}
		if total != len(b) {
			t.Fatalf("headers cover %d of %d bytes", total, len(b))
		}
	}
}
