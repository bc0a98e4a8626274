package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseHeader(t *testing.T) {
	b := kbatch(t, CodecNone, 1000, kmsg.Record{Value: []byte("x")}, kmsg.Record{TimestampDelta64: 5, Value: []byte("y")})
	SetBaseOffset(b, 42)
	SetPartitionLeaderEpoch(b, 7)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: 42, Length: int32(len(b) - 12), PartitionLeaderEpoch: 7, Magic: 2, CRC: h.CRC,
		LastOffsetDelta: 1, BaseTimestamp: 1000, MaxTimestamp: 1005, ProducerID: -1, ProducerEpoch: -1,
		BaseSequence: -1, NumRecords: 2,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.LastOffset() != 43 || h.Size() != len(b) || h.Compression() != 0 || h.LogAppendTime() || h.IsControl() || h.IsTransactional() {
		t.Fatalf("accessors wrong: %+v", h)
	}
	// The rewritten fields are outside the CRC.
	if _, err := Validate(b, DefaultMaxDecompressed); err != nil {
		t.Fatalf("after SetBaseOffset/SetPartitionLeaderEpoch: %v", err)
	}
	if _, err := ParseHeader(b[:60]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short header: %v", err)
	}
	h.Attributes = NewAttributes(CodecZstd, LogAppendTime, true, true)
	if h.Compression() != 4 || !h.LogAppendTime() || !h.IsTransactional() || !h.IsControl() {
		t.Fatalf("attribute accessors wrong")
	}
}

func TestValidateBatches(t *testing.T) {
	one := plainBatch(t, 1000, 3, 10)
	two := plainBatch(t, 2000, 1, 100)
	withHeaders := kbatch(t, CodecNone, 5,
		kmsg.Record{Key: nil, Value: nil, Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}, {Key: "n", Value: nil}}},
		kmsg.Record{TimestampDelta64: -3, Key: []byte("k"), Value: []byte{}},
	)
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
		binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-lengthOverhead))
		SetCRC(out)
		return out
	}
	tests := []struct {
		name  string
		in    []byte
		want  error // nil, ErrCorrupt or ErrInvalid
		count int
	}{
		{"one batch", one, nil, 1},
		{"two batches", concat(one, two), nil, 2},
		{"headers and null key/value", withHeaders, nil, 1},
		{"gzip", kbatch(t, 1, 0, values("hello")...), nil, 1},
		{"snappy", kbatch(t, 2, 0, values("hello")...), nil, 1},
		{"lz4", kbatch(t, 3, 0, values("hello")...), nil, 1},
		{"zstd", kbatch(t, 4, 0, values("hello", "w")...), nil, 1},
		{"offset and epoch ignored", mod(one, func(b []byte) { SetBaseOffset(b, 99); SetPartitionLeaderEpoch(b, 3) }), nil, 1},

		{"empty", nil, ErrCorrupt, 0},
		{"garbage", []byte("this is not a record batch at all, not even close to one, nope"), ErrCorrupt, 0},
		{"short header", one[:40], ErrCorrupt, 0},
		{"truncated", one[:len(one)-1], ErrCorrupt, 0},
		{"second truncated", concat(one, two[:len(two)-5]), ErrCorrupt, 0},
		{"trailing bytes", concat(one, []byte{1, 2, 3}), ErrCorrupt, 0},
		{"bad crc", mod(one, func(b []byte) { b[len(b)-1] ^= 1 }), ErrCorrupt, 0},
		{"crc field flipped", mod(one, func(b []byte) { b[offCRC] ^= 0x80 }), ErrCorrupt, 0},
		{"second bad crc", concat(one, mod(two, func(b []byte) { b[70] ^= 4 })), ErrCorrupt, 0},
		{"length below minimum", mod(one, func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], 48) }), ErrCorrupt, 0},
		{"negative length", mod(one, func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], 0xffffffff) }), ErrCorrupt, 0},
		{"length past end", mod(one, func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], uint32(len(b))) }), ErrCorrupt, 0},
		{"magic 1", mod(one, func(b []byte) { b[offMagic] = 1 }), ErrInvalid, 0},
		{"magic 0", mod(one, func(b []byte) { b[offMagic] = 0 }), ErrInvalid, 0},
		{"codec 5", mod(one, func(b []byte) { b[offAttributes+1] |= 5; SetCRC(b) }), ErrInvalid, 0},
		{"record count mismatch", mod(one, func(b []byte) { binary.BigEndian.PutUint32(b[offNumRecords:], 2); SetCRC(b) }), ErrInvalid, 0},
		{"zero records", mod(one, func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 0)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0xffffffff)
			SetCRC(b)
		}), ErrInvalid, 0},
		{"count and delta agree, records do not", mod(one, func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 4)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 3)
			SetCRC(b)
		}), ErrInvalid, 0},
		{"offset deltas out of order", recordsWithDeltas(0, 2, 1), ErrInvalid, 0},
		{"offset deltas start at 1", recordsWithDeltas(1, 2), ErrInvalid, 0},
		{"offset deltas in order", recordsWithDeltas(0, 1, 2), nil, 1},
		{"record length too long", mod(one, func(b []byte) { b[HeaderSize] += 2; SetCRC(b) }), ErrCorrupt, 0},
		{"record length too short", mod(one, func(b []byte) { b[HeaderSize] -= 2; SetCRC(b) }), ErrCorrupt, 0},
		{"records area garbage", mod(one, func(b []byte) {
			for i := HeaderSize; i < len(b); i++ {
				b[i] = 0xff
			}
			SetCRC(b)
		}), ErrCorrupt, 0},
		{"no records area", mod(one[:HeaderSize], func(b []byte) {
			binary.BigEndian.PutUint32(b[offLength:], 49)
			SetCRC(b)
		}), ErrInvalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := Validate(tt.in, DefaultMaxDecompressed)
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
			other := ErrInvalid
			if tt.want == ErrInvalid {
				other = ErrCorrupt
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

// fuzzSeeds are valid batches of every kind and damaged ones.
func fuzzSeeds(f *testing.F) {
	one := plainBatch(f, 1000, 3, 10)
	z := kbatch(f, 4, 0, values("hello", "w")...)
	g := kbatch(f, 1, 0, values("hello")...)
	h := kbatch(f, CodecNone, 5, kmsg.Record{Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}})
	for _, seed := range [][]byte{one, z, g, h, concat(one, z), one[:30], one[:len(one)-1], concat(one, g[:70]), {}, {0}} {
		f.Add(seed)
	}
}

// fuzzLimit keeps the fuzzer's decompression small.
const fuzzLimit = 1 << 20

// FuzzParse: Validate and Frame never panic, fail with one of the two
// sentinels, and what Validate accepts frames exactly.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := Validate(b, fuzzLimit)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
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
		fs, err := Frame(b)
		if err != nil || len(fs) != len(hs) || CheckFramed(hs, len(b)) != nil {
			t.Fatalf("Validate accepted what Frame refuses: %v", err)
		}
		// What produce accepts (streaming) every reader decodes (in memory).
		pos := 0
		for _, h := range hs {
			if err := Records(h, b[pos:pos+h.Size()], fuzzLimit, func(*Record) error { return nil }); err != nil {
				t.Fatalf("Validate accepted a batch Records refuses: %v", err)
			}
			pos += h.Size()
		}
	})
}

// FuzzRecords: arbitrary bytes given a correct frame and CRC, so that the
// record walk sees arbitrary input; records that decode are built again
// with AppendRecord and AppendBatch and decode to the same.
func FuzzRecords(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < HeaderSize {
			return
		}
		c := append([]byte(nil), b...)
		binary.BigEndian.PutUint32(c[offLength:], uint32(len(c)-lengthOverhead))
		c[offMagic] = Magic
		SetCRC(c)
		h, _ := ParseHeader(c)
		var area []byte
		var recs []Record
		var hdrs [][]RecordHeader
		err := Records(h, c, fuzzLimit, func(r *Record) error {
			hd := r.AppendHeaders(nil)
			area = AppendRecord(area, r.OffsetDelta, r.TimestampDelta, r.Key, r.Value, hd)
			recs, hdrs = append(recs, *r), append(hdrs, hd)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			if checkRecords(h, c, fuzzLimit) == nil {
				t.Fatalf("produce would accept a batch Records refuses: %v", err)
			}
			return
		}
		dense := true
		for i, r := range recs {
			dense = dense && r.OffsetDelta == int32(i)
		}
		if err := checkRecords(h, c, fuzzLimit); (err == nil) != dense {
			// Records also reads what the log cleaner leaves (deltas
			// that skip); produce takes only dense deltas.
			t.Fatalf("produce check %v, but the deltas are dense: %v", err, dense)
		}
		if Check(h, c) != nil {
			return // records fine, header not (a count Records does not check)
		}
		h.Attributes &^= attrCodecMask
		rebuilt := AppendBatch(nil, h, area)
		if _, err := Validate(rebuilt, fuzzLimit); err != nil {
			t.Fatalf("rebuilt batch invalid: %v", err)
		}
		i := 0
		err = Records(h, rebuilt, fuzzLimit, func(r *Record) error {
			w := recs[i]
			if r.Offset != w.Offset || r.Timestamp != w.Timestamp || !sameBytes(r.Key, w.Key) || !sameBytes(r.Value, w.Value) || r.NumHeaders != w.NumHeaders {
				t.Fatalf("record %d: %+v, want %+v", i, *r, w)
			}
			for j, hd := range r.AppendHeaders(nil) {
				if !bytes.Equal(hd.Key, hdrs[i][j].Key) || !sameBytes(hd.Value, hdrs[i][j].Value) {
					t.Fatalf("record %d header %d differs", i, j)
				}
			}
			i++
			return nil
		})
		if err != nil || i != len(recs) {
			t.Fatalf("rebuilt batch: %d of %d records, %v", i, len(recs), err)
		}
	})
}

// sameBytes tells null from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }
