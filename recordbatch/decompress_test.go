package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
)

// xerialFrame frames raw snappy blocks of chunk bytes each as snappy-java
// does.
func xerialFrame(data []byte, chunk int) []byte {
	out := append([]byte(nil), xerialHeader...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(data) > 0 {
		n := min(chunk, len(data))
		block := s2.EncodeSnappy(nil, data[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		data = data[n:]
	}
	return out
}

func TestDecompressBounded(t *testing.T) {
	payload := bytes.Repeat([]byte("strata hot log record payload 0123456789 "), 5000) // ~200 KB
	tests := []struct {
		name  string
		codec Codec
		data  []byte
	}{
		{"gzip", CodecGzip, kgoCompress(t, kgo.GzipCompression(), payload)},
		{"snappy block", CodecSnappy, kgoCompress(t, kgo.SnappyCompression(), payload)},
		{"snappy xerial", CodecSnappy, xerialFrame(payload, 32<<10)},
		{"lz4 frame", CodecLZ4, kgoCompress(t, kgo.Lz4Compression(), payload)},
		{"zstd", CodecZstd, kgoCompress(t, kgo.ZstdCompression(), payload)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, limit := range []int64{int64(len(payload)), 1 << 20} {
				got, err := Decompress(tc.codec, tc.data, limit)
				if err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("limit %d: %d bytes, %v", limit, len(got), err)
				}
			}
			for _, limit := range []int64{int64(len(payload)) - 1, 1000, 1} {
				_, err := Decompress(tc.codec, tc.data, limit)
				if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrTooLarge) {
					t.Fatalf("limit %d: error %v, want too large", limit, err)
				}
			}
			// Damaged input is corrupt, never a panic.
			for _, cut := range []int{1, len(tc.data) / 2, len(tc.data) - 1} {
				if _, err := Decompress(tc.codec, tc.data[:cut], 1<<20); err == nil {
					t.Fatalf("%d of %d bytes decompressed without error", cut, len(tc.data))
				} else if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
			}
		})
	}
	if _, err := Decompress(5, []byte{1}, 100); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("codec 5: %v", err)
	}
}

// TestDecompressionBomb: a few KiB that expand to 64 MiB cost about the
// limit in memory, not 64 MiB.
func TestDecompressionBomb(t *testing.T) {
	const size = 64 << 20
	var gz bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	io.Copy(gw, io.LimitReader(zeroReader{}, size))
	gw.Close()
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs, zstd.WithEncoderConcurrency(1))
	io.Copy(zw, io.LimitReader(zeroReader{}, size))
	zw.Close()
	var lz bytes.Buffer
	lw := lz4.NewWriter(&lz)
	io.Copy(lw, io.LimitReader(zeroReader{}, size))
	lw.Close()
	// A snappy block only has to claim its length.
	snappyClaim := binary.AppendUvarint(nil, size)
	snappyClaim = append(snappyClaim, 0)
	xerialClaim := append(xerialFrame(nil, 1), 0, 0, 0, 6)
	xerialClaim = append(xerialClaim, binary.AppendUvarint(nil, size)...)
	xerialClaim = append(xerialClaim, 0)

	const limit = 1 << 20
	for _, tc := range []struct {
		name  string
		codec Codec
		data  []byte
	}{
		{"gzip", CodecGzip, gz.Bytes()},
		{"zstd", CodecZstd, zs.Bytes()},
		{"snappy", CodecSnappy, snappyClaim},
		{"snappy xerial", CodecSnappy, xerialClaim},
		{"lz4", CodecLZ4, lz.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Decompress(tc.codec, tc.data, limit)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%d compressed bytes: error %v, want corrupt", len(tc.data), err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 24<<20 {
				t.Fatalf("%d compressed bytes: %d MiB allocated before giving up", len(tc.data), alloc>>20)
			}
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// zstdBomb is a zstd records area of a few hundred KiB that decompresses
// to one record of 1 GiB: concatenated frames, the first holding the
// record's length and fields up to a 1 GiB value, the rest 8 MiB of zeros
// each.
func zstdBomb(tb testing.TB) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		tb.Fatal(err)
	}
	const size = 1 << 30
	head := []byte{0, 0, 0, 1} // attributes, timestampDelta, offsetDelta, null key
	head = kbin.AppendVarint(head, size)
	head = append(kbin.AppendVarint(nil, int32(len(head)+size+1)), head...)
	out := enc.EncodeAll(head, nil)
	zeros := enc.EncodeAll(make([]byte, 8<<20), nil)
	return append(out, bytes.Repeat(zeros, size/(8<<20))...)
}

// TestValidateBombBoundedMemory: produce's check of a compressed batch
// streams its records and refuses a record longer than the limit before
// reading it, so a 1 GiB zstd bomb is refused at once, with the memory of
// the decoder, not of the limit or of what the bomb expands to.
func TestValidateBombBoundedMemory(t *testing.T) {
	bomb := zstdBomb(t)
	b := AppendBatch(nil, Header{Attributes: NewAttributes(CodecZstd, CreateTime, false, false), NumRecords: 1}, bomb)
	for _, limit := range []int64{1 << 20, DefaultMaxDecompressed} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Validate(b, limit)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrTooLarge) {
			t.Fatalf("limit %d: bomb of %d bytes: %v, want too large", limit, len(b), err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
			t.Fatalf("limit %d: bomb of %d bytes: %d MiB allocated", limit, len(b), alloc>>20)
		}
		t.Logf("limit %d: bomb of %d bytes refused (%v) after %d KiB allocated", limit, len(b), err, (after.TotalAlloc-before.TotalAlloc)>>10)
		// Readers, which keep the records, stop at the limit: their
		// memory is a few times the limit (a growing buffer and the
		// decoder's window), far from what the bomb expands to.
		runtime.GC()
		runtime.ReadMemStats(&before)
		h, _ := ParseHeader(b)
		err = Records(h, b, limit, func(*Record) error { return nil })
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("limit %d: Records of the bomb: %v, want too large", limit, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(4*limit+16<<20) {
			t.Fatalf("limit %d: Records of the bomb: %d MiB allocated", limit, alloc>>20)
		}
	}
}
