package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Bounded decompression. A batch's records area says nothing trustworthy
// about how big it decompresses to, and a hostile producer can send a few
// KiB that expand to gigabytes, so every codec is run as a stream (or, for
// snappy blocks, checked by its declared length first) and stops with an
// error wrapping ErrCorrupt as soon as the output would pass the limit.
// This is the only decompressor of batches in Strata.

// DefaultMaxDecompressed is the most bytes one batch's records may
// decompress to: what the broker accepts on produce, and so what every
// reader (the hot log's timestamp lookups, tiering, Flight) must be able to
// decode.
const DefaultMaxDecompressed = 64 << 20

// ErrTooLarge is wrapped (beside ErrCorrupt) by the error of a batch that
// decompresses to more than the limit.
var ErrTooLarge = errors.New("decompresses to more than the limit")

// Decompress returns the decompressed records area src of a batch with
// codec c, at most limit bytes. Damaged input, an unknown codec or output
// past limit give an error wrapping ErrCorrupt.
func Decompress(c Codec, src []byte, limit int64) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch c {
	case CodecGzip:
		out, err = gunzip(src, limit)
	case CodecSnappy:
		out, err = unsnappy(src, limit)
	case CodecLZ4:
		out, err = unlz4(src, limit)
	case CodecZstd:
		out, err = unzstd(src, limit)
	default:
		err = fmt.Errorf("unknown compression codec %d", c)
	}
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%w: %w (%d bytes)", ErrCorrupt, err, limit)
		}
		return nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
	}
	return out, nil
}

// readLimited reads r to its end, failing with ErrTooLarge past limit bytes.
func readLimited(r io.Reader, limit int64, sizeHint int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(int64(sizeHint), limit)))
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

var gzipPool sync.Pool

func gunzip(src []byte, limit int64) ([]byte, error) {
	zr, _ := gzipPool.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return nil, err
	}
	defer gzipPool.Put(zr)
	return readLimited(zr, limit, 4*len(src))
}

var lz4Pool = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

func unlz4(src []byte, limit int64) ([]byte, error) {
	zr := lz4Pool.Get().(*lz4.Reader)
	defer lz4Pool.Put(zr)
	zr.Reset(bytes.NewReader(src))
	return readLimited(zr, limit, 4*len(src))
}

// zstd decoders are pooled per window limit (the limit rarely changes).
var (
	zstdMu    sync.Mutex
	zstdPools = map[uint64]*sync.Pool{}
)

// zstdMinWindow lets frames declare a window of up to 8 MiB whatever the
// limit: encoders commonly do for small inputs, and the decoder's memory is
// bounded by the window.
const zstdMinWindow = 8 << 20

func unzstd(src []byte, limit int64) ([]byte, error) {
	window := uint64(max(limit, zstdMinWindow))
	zstdMu.Lock()
	pool := zstdPools[window]
	if pool == nil {
		pool = &sync.Pool{}
		zstdPools[window] = pool
	}
	zstdMu.Unlock()
	zr, _ := pool.Get().(*zstd.Decoder)
	var err error
	if zr == nil {
		zr, err = zstd.NewReader(bytes.NewReader(src),
			zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(window), zstd.WithDecoderMaxMemory(window))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		if zr != nil {
			pool.Put(zr)
		}
		return nil, err
	}
	defer func() {
		zr.Reset(nil)
		pool.Put(zr)
	}()
	return readLimited(zr, limit, 4*len(src))
}

// xerialHeader starts snappy data framed by snappy-java (the Java client):
// the magic, then version and compatible-version int32s, then chunks of a
// big-endian int32 length and a raw snappy block.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// unsnappy decodes a raw snappy block (librdkafka, franz-go) or
// xerial-framed blocks; every block's declared length is checked against
// what the limit leaves before anything is allocated.
func unsnappy(src []byte, limit int64) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialHeader) {
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if int64(n) > limit {
			return nil, ErrTooLarge
		}
		return s2.Decode(nil, src)
	}
	if len(src) < xerialHeaderSize {
		return nil, errors.New("short xerial snappy header")
	}
	rest := src[xerialHeaderSize:]
	var out []byte
	for len(rest) > 0 {
		if len(rest) < 4 {
			return nil, errors.New("short xerial snappy chunk length")
		}
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(size) > uint64(len(rest)) {
			return nil, fmt.Errorf("xerial snappy chunk of %d bytes with %d left", size, len(rest))
		}
		chunk := rest[:size]
		rest = rest[size:]
		n, err := s2.DecodedLen(chunk)
		if err != nil {
			return nil, err
		}
		if int64(len(out))+int64(n) > limit {
			return nil, ErrTooLarge
		}
		out = slices.Grow(out, n)
		dec, err := s2.Decode(out[len(out):len(out)+n], chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, dec...)
	}
	return out, nil
}
