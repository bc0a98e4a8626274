package recordbatch

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// recordsOf lists a batch's records as text.
func recordsOf(t testing.TB, b []byte) []string {
	t.Helper()
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = Records(h, b, DefaultMaxDecompressed, func(r *Record) error {
		out = append(out, fmt.Sprintf("%d@%d:%q=%q/%d", r.Offset, r.Timestamp, r.Key, r.Value, len(r.AppendHeaders(nil))))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecompress: every codec to every other keeps the records, offsets,
// timestamps and producer fields, sets the new codec, and writes a batch
// Validate accepts; the same codec, and control batches, stay as they are.
func TestRecompress(t *testing.T) {
	recs := []kmsg.Record{
		{Key: []byte("k"), Value: []byte("value value value value")},
		{TimestampDelta64: 5, OffsetDelta: 1, Value: nil, Headers: []kmsg.Header{{Key: "h", Value: []byte("x")}}},
		{TimestampDelta64: 9, OffsetDelta: 2, Key: []byte{}, Value: []byte("another value")},
	}
	codecs := []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}
	for _, from := range codecs {
		src := kbatch(t, from, 1000, recs...)
		want := recordsOf(t, src)
		sh, err := ParseHeader(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range codecs {
			t.Run(fmt.Sprintf("%d-to-%d", from, to), func(t *testing.T) {
				out, h, err := Recompress([]byte("x"), sh, src, to, DefaultMaxDecompressed)
				if err != nil {
					t.Fatal(err)
				}
				out = out[1:]
				if h.Compression() != to || h.NumRecords != sh.NumRecords || h.MaxTimestamp != sh.MaxTimestamp || h.ProducerID != sh.ProducerID {
					t.Fatalf("header %+v from %+v", h, sh)
				}
				if _, err := Validate(out, DefaultMaxDecompressed); err != nil {
					t.Fatal(err)
				}
				if got := recordsOf(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("records %v, want %v", got, want)
				}
			})
		}
	}
	ctl := AppendControlBatch(nil, 7, 1, ControlRecord{Type: ControlCommit}, 1000)
	ch, _ := ParseHeader(ctl)
	if out, h, err := Recompress(nil, ch, ctl, CodecZstd, DefaultMaxDecompressed); err != nil || h.Compression() != CodecNone || string(out) != string(ctl) {
		t.Fatalf("control batch recompressed: %v %+v", err, h)
	}
}

// FuzzRecompress: any validated batch recompresses to one that validates
// and holds the same records; nothing else crashes.
func FuzzRecompress(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 1 {
			return
		}
		to := Codec(b[0] % 5)
		hs, err := Validate(b[1:], fuzzLimit)
		if err != nil || len(hs) != 1 {
			return
		}
		batch := b[1 : 1+hs[0].Size()]
		out, _, err := Recompress(nil, hs[0], batch, to, fuzzLimit)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if _, err := Validate(out, 4*fuzzLimit); err != nil {
			t.Fatalf("recompressed batch does not validate: %v", err)
		}
	})
}
