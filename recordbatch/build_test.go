package recordbatch

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAppendBatchMatchesKmsg: AppendRecord and AppendBatch write the same
// bytes as kmsg's encoder, and Records reads back what was written.
func TestAppendBatchMatchesKmsg(t *testing.T) {
	recs := []kmsg.Record{
		{Key: []byte("k"), Value: []byte("v")},
		{TimestampDelta64: -3, Key: nil, Value: []byte{}},
		{TimestampDelta64: 1 << 40, Key: []byte{}, Value: nil, Headers: []kmsg.Header{{Key: "h", Value: []byte("x")}, {Key: "", Value: nil}}},
	}
	want := kbatch(t, CodecNone, 1000, recs...)
	var area []byte
	for i, r := range recs {
		var hs []RecordHeader
		for _, h := range r.Headers {
			hs = append(hs, RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		area = AppendRecord(area, int32(i), r.TimestampDelta64, r.Key, r.Value, hs)
	}
	h := Header{PartitionLeaderEpoch: -1, LastOffsetDelta: 2, BaseTimestamp: 1000, MaxTimestamp: 1000 + 1<<40,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 3}
	got := AppendBatch([]byte("prefix"), h, area)
	if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[6:], want) {
		t.Fatalf("AppendBatch wrote\n%x\nkmsg wrote\n%x", got[6:], want)
	}
	ph, err := ParseHeader(want)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	err = Records(ph, want, DefaultMaxDecompressed, func(r *Record) error {
		w := recs[i]
		if r.Offset != int64(i) || r.Timestamp != 1000+w.TimestampDelta64 || !sameBytes(r.Key, w.Key) || !sameBytes(r.Value, w.Value) {
			t.Fatalf("record %d: %+v", i, *r)
		}
		hs := r.AppendHeaders(nil)
		if len(hs) != len(w.Headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(hs), len(w.Headers))
		}
		for j, hd := range hs {
			if string(hd.Key) != w.Headers[j].Key || !sameBytes(hd.Value, w.Headers[j].Value) {
				t.Fatalf("record %d header %d: %q=%q", i, j, hd.Key, hd.Value)
			}
		}
		i++
		return nil
	})
	if err != nil || i != 3 {
		t.Fatalf("%d records, %v", i, err)
	}
	stop := errors.New("stop")
	if err := Records(ph, want, DefaultMaxDecompressed, func(*Record) error { return stop }); err != stop {
		t.Fatalf("error from fn: %v, want it as it is", err)
	}
}

func TestStampLogAppendTime(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		b := kbatch(t, codec, 1000, values("a", "b")...)
		h, _ := ParseHeader(b)
		StampLogAppendTime(b, &h, 5000)
		hs, err := Validate(b, DefaultMaxDecompressed)
		if err != nil {
			t.Fatalf("codec %d: stamped batch invalid: %v", codec, err)
		}
		if hs[0] != h || !h.LogAppendTime() || h.TimestampType() != LogAppendTime || h.MaxTimestamp != 5000 || h.Compression() != codec {
			t.Fatalf("codec %d: stamped header %+v, parsed %+v", codec, h, hs[0])
		}
		err = Records(h, b, DefaultMaxDecompressed, func(r *Record) error {
			if r.Timestamp != 5000 {
				t.Fatalf("record %d timestamp %d, want the stamp", r.Offset, r.Timestamp)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestControlRecord(t *testing.T) {
	for _, c := range []ControlRecord{
		{Type: ControlCommit, CoordinatorEpoch: 7},
		{Type: ControlAbort, CoordinatorEpoch: -1},
	} {
		got, err := ParseControlRecord(c.Key(), c.Value())
		if err != nil || got != c {
			t.Fatalf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
	// Kafka's commit marker as the Java client writes it.
	got, err := ParseControlRecord([]byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 3})
	if err != nil || got != (ControlRecord{Type: ControlCommit, CoordinatorEpoch: 3}) {
		t.Fatalf("commit marker: %+v, %v", got, err)
	}
	// A later version is read by its version 0 fields.
	if got, err := ParseControlRecord([]byte{0, 1, 0, 0, 9}, []byte{0, 1, 0, 0, 0, 2, 9}); err != nil || got.Type != ControlAbort || got.CoordinatorEpoch != 2 {
		t.Fatalf("later version: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name       string
		key, value []byte
	}{
		{"short key", []byte{0, 0, 1}, []byte{0, 0, 0, 0, 0, 0}},
		{"negative key version", []byte{0xff, 0xff, 0, 1}, []byte{0, 0, 0, 0, 0, 0}},
		{"short value", []byte{0, 0, 0, 1}, []byte{0, 0, 0}},
		{"negative value version", []byte{0, 0, 0, 0}, []byte{0x80, 0, 0, 0, 0, 0}},
	} {
		if _, err := ParseControlRecord(tc.key, tc.value); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want invalid", tc.name, err)
		}
	}
}

func TestControlBatch(t *testing.T) {
	c := ControlRecord{Type: ControlAbort, CoordinatorEpoch: 4}
	b := AppendControlBatch(nil, 77, 3, c, 1234)
	hs, err := Validate(b, DefaultMaxDecompressed)
	if err != nil || len(hs) != 1 {
		t.Fatalf("validate: %v, %d batches", err, len(hs))
	}
	h := hs[0]
	if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 77 || h.ProducerEpoch != 3 || h.BaseSequence != -1 || h.LastOffsetDelta != 0 || h.MaxTimestamp != 1234 {
		t.Fatalf("header %+v", h)
	}
	got, err := ParseControlBatch(h, b)
	if err != nil || got != c {
		t.Fatalf("parse: %+v, %v; want %+v", got, err, c)
	}
	// A data batch is not a control batch.
	data := AppendBatch(nil, Header{ProducerID: -1, BaseSequence: -1, NumRecords: 1}, AppendRecord(nil, 0, 0, nil, []byte("v"), nil))
	dh, _ := ParseHeader(data)
	if _, err := ParseControlBatch(dh, data); !errors.Is(err, ErrInvalid) {
		t.Fatalf("data batch: %v, want invalid", err)
	}
}
