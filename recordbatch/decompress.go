package recordbatch

import (
	"bytes"
	"cmp"
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
	var out []byte
	err := decompressTo(c, src, limit, func(r io.Reader) (err error) {
		out, err = readAll(r, 4*int64(len(src)), limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readAll reads r (a capReader of limit) to its end into a buffer that
// starts at sizeHint and doubles, but never past limit: what is read past
// the limit fails in the capReader, so the output costs at most twice the
// limit in allocations.
func readAll(r io.Reader, sizeHint, limit int64) ([]byte, error) {
	buf := make([]byte, 0, max(min(sizeHint, limit), 512))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				var one [1]byte // at the limit: only the end may follow
				if _, err := r.Read(one[:]); err != io.EOF {
					return nil, cmp.Or(err, ErrTooLarge)
				}
				return buf, nil
			}
			buf = slices.Grow(buf, int(min(int64(2*cap(buf)), limit))-len(buf))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// decompressTo calls consume with a reader of the decompressed bytes of
// src; reading past limit bytes fails with ErrTooLarge. Errors of the
// codec, or consume's that wrap neither sentinel, are wrapped as
// ErrCorrupt.
func decompressTo(c Codec, src []byte, limit int64, consume func(io.Reader) error) error {
	capped := func(r io.Reader) error { return consume(&capReader{r: r, left: limit}) }
	var err error
	switch c {
	case CodecGzip:
		err = gunzip(src, capped)
	case CodecSnappy:
		err = unsnappy(src, limit, capped)
	case CodecLZ4:
		err = unlz4(src, capped)
	case CodecZstd:
		err = unzstd(src, limit, capped)
	default:
		err = fmt.Errorf("unknown compression codec %d", c)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%w: %w (%d bytes)", ErrCorrupt, ErrTooLarge, limit)
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrInvalid):
		return err
	}
	return fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
}

// capReader reads r, failing with ErrTooLarge once r has more than left
// bytes: the decoder never runs further than one read past the limit.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

var gzipPool sync.Pool

func gunzip(src []byte, consume func(io.Reader) error) error {
	zr, _ := gzipPool.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return err
	}
	defer gzipPool.Put(zr)
	return consume(zr)
}

var lz4Pool = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

func unlz4(src []byte, consume func(io.Reader) error) error {
	zr := lz4Pool.Get().(*lz4.Reader)
	defer lz4Pool.Put(zr)
	zr.Reset(bytes.NewReader(src))
	return consume(zr)
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

func unzstd(src []byte, limit int64, consume func(io.Reader) error) error {
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
		return err
	}
	defer func() {
		zr.Reset(nil)
		pool.Put(zr)
	}()
	return consume(zr)
}

// xerialHeader starts snappy data framed by snappy-java (the Java client):
// the magic, then version and compatible-version int32s, then chunks of a
// big-endian int32 length and a raw snappy block.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// unsnappy decodes a raw snappy block (librdkafka, franz-go) or
// xerial-framed blocks; every block's declared length is checked against
// what the limit leaves before anything is allocated. Snappy blocks are not
// streams: the whole output is decoded before consume reads it.
func unsnappy(src []byte, limit int64, consume func(io.Reader) error) error {
	out, err := unsnappyBlocks(src, limit)
	if err != nil {
		return err
	}
	return consume(bytes.NewReader(out))
}

func unsnappyBlocks(src []byte, limit int64) ([]byte, error) {
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
