package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFilterKeepsOffsetsAndTimestamps: every codec; records removed from
// the middle and the end keep the others' offsets and timestamps, the
// batch its base and last offset, and a delete horizon set on the way
// leaves record timestamps as they were. franz-go's own decoder (kgo's
// decompressor over kmsg) reads the rewritten batch the same.
func TestFilterKeepsOffsetsAndTimestamps(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			recs := make([]kmsg.Record, 6)
			for i := range recs {
				recs[i] = kmsg.Record{TimestampDelta64: int64(10 * i), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
			}
			recs[2].Value = nil // a tombstone
			b := kbatch(t, codec, 1000, recs...)
			SetBaseOffset(b, 500)
			h, _ := ParseHeader(b)
			h.ProducerID, h.ProducerEpoch, h.BaseSequence = 7, 1, 40 // check they survive: rebuild a header carrying them
			h.Put(b)
			SetCRC(b)
			h, _ = ParseHeader(b)
			drop := map[int64]bool{501: true, 505: true}
			out, res, err := Filter(nil, h, b, DefaultMaxDecompressed, 99999, func(r *Record) bool { return !drop[r.Offset] })
			if err != nil {
				t.Fatal(err)
			}
			if res.Kept != 4 || res.Dropped != 2 || !res.Rewritten {
				t.Fatalf("result %+v", res)
			}
			nh, _ := ParseHeader(out)
			if nh.Size() != len(out) || Checksum(out) != nh.CRC {
				t.Fatalf("bad frame or crc")
			}
			if nh.BaseOffset != 500 || nh.LastOffset() != 505 || nh.NumRecords != 4 || nh.Compression() != codec ||
				nh.ProducerID != 7 || nh.ProducerEpoch != 1 || nh.BaseSequence != 40 || nh.MaxTimestamp != 1040 {
				t.Fatalf("header %+v", nh)
			}
			if hz, ok := nh.DeleteHorizon(); !ok || hz != 99999 {
				t.Fatalf("horizon %d %v", hz, ok)
			}
			var got []string
			if err := Records(nh, out, DefaultMaxDecompressed, func(r *Record) error {
				got = append(got, fmt.Sprintf("%d@%d:%s=%v", r.Offset, r.Timestamp, r.Key, r.Value != nil))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			want := []string{"500@1000:k0=true", "502@1020:k2=false", "503@1030:k3=true", "504@1040:k4=true"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("records %v, want %v", got, want)
			}
			// franz-go decodes it too.
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(out); err != nil {
				t.Fatal(err)
			}
			raw := kb.Records
			if codec != CodecNone {
				d := kgo.DefaultDecompressor()
				if raw, err = d.Decompress(raw, kgo.CompressionCodecType(codec)); err != nil {
					t.Fatalf("kgo decompress: %v", err)
				}
			}
			if len(raw) == 0 {
				t.Fatal("no records")
			}
			// Produce validation refuses it (deltas skip), as Kafka's would.
			if _, err := Validate(out, DefaultMaxDecompressed); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate: %v", err)
			}

			// Unchanged when everything is kept and no horizon asked.
			same, res, err := Filter(nil, nh, out, DefaultMaxDecompressed, -1, func(*Record) bool { return true })
			if err != nil || res.Rewritten || string(same) != string(out) {
				t.Fatalf("keep-all rewrote: %+v %v", res, err)
			}
			// Nothing kept: nothing appended; the empty batch keeps the header.
			none, res, err := Filter(nil, nh, out, DefaultMaxDecompressed, -1, func(*Record) bool { return false })
			if err != nil || res.Kept != 0 || len(none) != 0 {
				t.Fatalf("drop-all: %+v %v %d", res, err, len(none))
			}
			e := EmptyBatch(nil, nh)
			eh, _ := ParseHeader(e)
			if eh.NumRecords != 0 || eh.LastOffset() != 505 || eh.ProducerID != 7 || eh.BaseSequence != 40 || Checksum(e) != eh.CRC || eh.Size() != len(e) {
				t.Fatalf("empty batch %+v", eh)
			}
			n := 0
			if err := Records(eh, e, DefaultMaxDecompressed, func(*Record) error { n++; return nil }); err != nil || n != 0 {
				t.Fatalf("empty batch records %d %v", n, err)
			}
		})
	}
}

// FuzzFilter: arbitrary stored bytes given a correct frame and CRC (what
// the cleaner reads back from disk), filtered by a keep rule taken from
// the input: Filter never panics, and what it writes is one whole batch
// with a correct CRC whose records are exactly the kept ones, at the same
// offsets with the same timestamps, keys and values.
func FuzzFilter(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < HeaderSize+1 {
			return
		}
		mask := b[0]
		c := append([]byte(nil), b[1:]...)
		binary.BigEndian.PutUint32(c[offLength:], uint32(len(c)-lengthOverhead))
		c[offMagic] = Magic
		SetCRC(c)
		h, _ := ParseHeader(c)
		var want []string
		i := 0
		keep := func(r *Record) bool {
			k := mask&(1<<(i%8)) != 0
			i++
			if k {
				want = append(want, fmt.Sprintf("%d@%d:%x=%x/%v", r.Offset, r.Timestamp, r.Key, r.Value, r.Value == nil))
			}
			return k
		}
		out, res, err := Filter(nil, h, c, fuzzLimit, int64(mask)*1000, keep)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if res.Kept == 0 {
			if len(out) != 0 {
				t.Fatalf("nothing kept, %d bytes written", len(out))
			}
			return
		}
		nh, err := ParseHeader(out)
		if err != nil || nh.Size() != len(out) || Checksum(out) != nh.CRC || nh.BaseOffset != h.BaseOffset || nh.LastOffsetDelta != h.LastOffsetDelta {
			t.Fatalf("bad output batch %+v (in %+v): %v", nh, h, err)
		}
		var got []string
		if err := Records(nh, out, fuzzLimit, func(r *Record) error {
			got = append(got, fmt.Sprintf("%d@%d:%x=%x/%v", r.Offset, r.Timestamp, r.Key, r.Value, r.Value == nil))
			return nil
		}); err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("kept %v, want %v", got, want)
		}
	})
}
