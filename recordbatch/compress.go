package recordbatch

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression, for the one writer of compressed batches besides producers:
// the log cleaner, which rewrites a batch it keeps only part of with the
// codec the producer chose (as Kafka's cleaner does). The output is what
// Decompress reads: a gzip stream, a raw snappy block (as librdkafka and
// franz-go write it), an lz4 frame, a zstd frame.

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Writers  = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}
	zstdOnce    sync.Once
	zstdEnc     *zstd.Encoder
	zstdErr     error
)

// Compress appends src compressed with codec c to dst. CodecNone appends
// src as it is; an unknown codec is ErrInvalid.
func Compress(dst []byte, c Codec, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		buf := bytes.NewBuffer(dst)
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		zw.Reset(buf)
		if _, err := zw.Write(src); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		n := s2.MaxEncodedLen(len(src))
		if n < 0 {
			return nil, fmt.Errorf("%w: %d bytes too large for snappy", ErrInvalid, len(src))
		}
		start := len(dst)
		dst = append(dst, make([]byte, n)...)
		out := s2.EncodeSnappy(dst[start:], src)
		return dst[:start+len(out)], nil
	case CodecLZ4:
		buf := bytes.NewBuffer(dst)
		zw := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(zw)
		zw.Reset(buf)
		if _, err := zw.Write(src); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		return buf.Bytes(), nil
	case CodecZstd:
		zstdOnce.Do(func() {
			zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
		})
		if zstdErr != nil {
			return nil, fmt.Errorf("zstd: %w", zstdErr)
		}
		return zstdEnc.EncodeAll(src, dst), nil
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, c)
}

// Recompress appends batch (whose parsed header is h, already validated)
// to dst with its records area compressed with codec c instead, as Kafka
// rewrites batches for a topic whose compression.type is not "producer".
// Offsets, timestamps, producer fields and records are unchanged; the CRC
// is new. It returns the new batch's header. A batch already in c, or a
// control batch (Kafka never recompresses markers), is appended as it is.
// Decompressing stops at maxDecompressed bytes (ErrInvalid beyond).
func Recompress(dst []byte, h Header, batch []byte, c Codec, maxDecompressed int64) ([]byte, Header, error) {
	if h.Compression() == c || h.IsControl() {
		return append(dst, batch...), h, nil
	}
	raw := batch[HeaderSize:]
	if h.Compression() != CodecNone {
		var err error
		if raw, err = Decompress(h.Compression(), raw, maxDecompressed); err != nil {
			return nil, h, err
		}
	}
	records, err := Compress(nil, c, raw)
	if err != nil {
		return nil, h, err
	}
	h.Attributes = h.Attributes&^attrCodecMask | Attributes(c)&attrCodecMask
	start := len(dst)
	dst = AppendBatch(dst, h, records)
	nh, err := ParseHeader(dst[start:])
	return dst, nh, err
}
