package recordbatch

import (
	"bufio"
	"fmt"
	"io"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"
)

// minRecordSize is the smallest encoded record: a one-byte length,
// attributes, timestampDelta, offsetDelta, key and value lengths and the
// header count, one byte each. No batch holds more records than its
// (decompressed) records area has bytes for.
const minRecordSize = 7

// Record is one record of a batch, as Records decodes it. Key, Value and
// the headers alias the batch (or its decompressed records area): copy what
// must outlive them.
type Record struct {
	Attributes     int8 // unused by Kafka so far
	TimestampDelta int64
	OffsetDelta    int32
	// Offset is the batch's BaseOffset plus OffsetDelta.
	Offset int64
	// Timestamp is the batch's BaseTimestamp plus TimestampDelta, or for
	// a LogAppendTime batch its MaxTimestamp: the broker's stamp is every
	// record's timestamp.
	Timestamp  int64
	Key, Value []byte // nil means null
	NumHeaders int

	headers []byte // the encoded headers, already checked
}

// RecordHeader is one header of a record. Value nil means null; a key is
// never null.
type RecordHeader struct {
	Key   []byte
	Value []byte
}

// AppendHeaders appends the record's headers to dst (aliasing the batch).
func (r *Record) AppendHeaders(dst []RecordHeader) []RecordHeader {
	rd := kbin.Reader{Src: r.headers}
	for range r.NumHeaders {
		k, _ := varBytes(&rd, "header key", false)
		v, _ := varBytes(&rd, "header value", true)
		dst = append(dst, RecordHeader{Key: k, Value: v})
	}
	return dst
}

// Records calls fn with each record of one whole batch (header h, bytes
// batch), in order, decompressing at most maxDecompressed bytes. It checks
// what Kafka's record reader checks: the records fill the records area
// exactly, each record's fields fit in its length, the offset deltas
// increase within 0..lastOffsetDelta and there are recordCount records (a
// batch the log cleaner rewrote keeps its offsets and lastOffsetDelta but
// not every record, so its deltas may skip; on produce they must run 0, 1,
// ..., lastOffsetDelta, which Validate checks). Damage wraps
// ErrCorrupt, a mismatch with the header ErrInvalid; an error from fn stops
// the walk and is returned as it is. The CRC is the caller's to check. The
// Record passed to fn is reused for the next record.
func Records(h Header, batch []byte, maxDecompressed int64, fn func(*Record) error) error {
	if len(batch) < HeaderSize {
		return fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrCorrupt, len(batch), HeaderSize)
	}
	area := batch[HeaderSize:]
	if c := h.Compression(); c != CodecNone {
		if err := checkClaim(h, maxDecompressed); err != nil {
			return err
		}
		var err error
		if area, err = Decompress(c, area, maxDecompressed); err != nil {
			return err
		}
	}
	return walk(h, &sliceBodies{r: kbin.Reader{Src: area}}, false, fn)
}

// checkRecords checks the records of one batch as Records does, without
// keeping them: a compressed batch's are decompressed as a stream and read
// one record at a time, so checking costs the largest record, not the
// decompressed batch.
func checkRecords(h Header, batch []byte, maxDecompressed int64) error {
	none := func(*Record) error { return nil }
	c := h.Compression()
	if c == CodecNone {
		if len(batch) < HeaderSize {
			return fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrCorrupt, len(batch), HeaderSize)
		}
		return walk(h, &sliceBodies{r: kbin.Reader{Src: batch[HeaderSize:]}}, true, none)
	}
	if err := checkClaim(h, maxDecompressed); err != nil {
		return err
	}
	return decompressTo(c, batch[HeaderSize:], maxDecompressed, func(r io.Reader) error {
		return walk(h, &streamBodies{r: bufio.NewReaderSize(r, 32<<10), left: maxDecompressed}, true, none)
	})
}

// checkClaim refuses, before anything is decompressed, a batch claiming
// more records than maxDecompressed bytes can hold.
func checkClaim(h Header, maxDecompressed int64) error {
	if int64(h.NumRecords) > maxDecompressed/minRecordSize {
		return fmt.Errorf("%w: batch claims %d records, more than %d decompressed bytes can hold", ErrInvalid, h.NumRecords, maxDecompressed)
	}
	return nil
}

// bodies yields the bodies of a records area's records (what follows each
// length), io.EOF after the last.
type bodies interface {
	next() ([]byte, error)
}

// walk decodes the records bodies yields, checking them against h: with
// dense, the offset deltas must run 0, 1, ..., lastOffsetDelta (what a
// producer sends); without, they must increase within 0..lastOffsetDelta
// (what a cleaned log holds).
func walk(h Header, src bodies, dense bool, fn func(*Record) error) error {
	var rec Record
	n, prev := 0, int32(-1)
	for ; ; n++ {
		body, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		if err := parseRecord(body, &rec); err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		if dense && (rec.OffsetDelta != int32(n) || n > int(h.LastOffsetDelta)) {
			return fmt.Errorf("%w: record %d has offsetDelta %d, deltas must run 0..%d in order",
				ErrInvalid, n, rec.OffsetDelta, h.LastOffsetDelta)
		}
		if !dense && (rec.OffsetDelta <= prev || rec.OffsetDelta > h.LastOffsetDelta) {
			return fmt.Errorf("%w: record %d has offsetDelta %d after %d, deltas must increase within 0..%d",
				ErrInvalid, n, rec.OffsetDelta, prev, h.LastOffsetDelta)
		}
		prev = rec.OffsetDelta
		rec.Offset = h.BaseOffset + int64(rec.OffsetDelta)
		rec.Timestamp = h.BaseTimestamp + rec.TimestampDelta
		if h.LogAppendTime() {
			rec.Timestamp = h.MaxTimestamp
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if n != int(h.NumRecords) {
		return fmt.Errorf("%w: recordCount %d but %d records present", ErrInvalid, h.NumRecords, n)
	}
	return nil
}

// sliceBodies yields the records of a records area in memory; the bodies
// alias it.
type sliceBodies struct{ r kbin.Reader }

func (s *sliceBodies) next() ([]byte, error) {
	if len(s.r.Src) == 0 {
		return nil, io.EOF
	}
	l := s.r.Varint()
	if !s.r.Ok() || l <= 0 || int(l) > len(s.r.Src) {
		return nil, fmt.Errorf("%w: length %d with %d bytes left", ErrCorrupt, l, len(s.r.Src))
	}
	return s.r.Span(int(l)), nil
}

// streamBodies yields the records of a decompressing stream, each body in
// the same buffer, and decodes lengths exactly as sliceBodies does (kbin's
// varint of at most 5 bytes). A body longer than what is left of the limit
// is refused before it is read.
type streamBodies struct {
	r    *bufio.Reader
	buf  []byte
	left int64 // bytes of the limit not yet read
}

// streamChunk is how much of a record body is read at a time, so that a
// forged length costs only the bytes that are really there.
const streamChunk = 64 << 10

func (s *streamBodies) next() ([]byte, error) {
	var vb [5]byte
	n := 0
	for {
		c, err := s.r.ReadByte()
		if err == io.EOF && n == 0 {
			return nil, io.EOF
		}
		if err == io.EOF {
			return nil, fmt.Errorf("%w: length cut short", ErrCorrupt)
		}
		if err != nil {
			return nil, err
		}
		vb[n] = c
		n++
		if c < 0x80 || n == len(vb) {
			break
		}
	}
	l, k := kbin.Varint(vb[:n])
	if k <= 0 || l <= 0 {
		return nil, fmt.Errorf("%w: length %d", ErrCorrupt, l)
	}
	if s.left -= int64(k) + int64(l); s.left < 0 {
		return nil, ErrTooLarge
	}
	s.buf = s.buf[:0]
	for len(s.buf) < int(l) {
		chunk := min(int(l)-len(s.buf), streamChunk)
		s.buf = slices.Grow(s.buf, chunk)
		m, err := io.ReadFull(s.r, s.buf[len(s.buf):len(s.buf)+chunk])
		s.buf = s.buf[:len(s.buf)+m]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: length %d with %d bytes left", ErrCorrupt, l, len(s.buf))
		}
		if err != nil {
			return nil, err
		}
	}
	return s.buf, nil
}

// parseRecord decodes one record body (what follows its length).
func parseRecord(body []byte, rec *Record) error {
	r := kbin.Reader{Src: body}
	rec.Attributes = r.Int8()
	rec.TimestampDelta = r.Varlong()
	rec.OffsetDelta = r.Varint()
	if !r.Ok() {
		return fmt.Errorf("%w: bad attributes, timestampDelta or offsetDelta", ErrCorrupt)
	}
	var err error
	if rec.Key, err = varBytes(&r, "key", true); err != nil {
		return err
	}
	if rec.Value, err = varBytes(&r, "value", true); err != nil {
		return err
	}
	nh := r.Varint()
	if !r.Ok() || nh < 0 {
		return fmt.Errorf("%w: header count %d", ErrCorrupt, nh)
	}
	rec.NumHeaders, rec.headers = int(nh), r.Src
	for range nh {
		if _, err := varBytes(&r, "header key", false); err != nil {
			return err
		}
		if _, err := varBytes(&r, "header value", true); err != nil {
			return err
		}
	}
	if len(r.Src) != 0 {
		return fmt.Errorf("%w: %d bytes left over after the headers", ErrCorrupt, len(r.Src))
	}
	return nil
}

// varBytes reads a varint-length-prefixed field; a length of -1 is null and
// allowed only if nullable.
func varBytes(r *kbin.Reader, what string, nullable bool) ([]byte, error) {
	l := r.Varint()
	if !r.Ok() {
		return nil, fmt.Errorf("%w: bad varint for the %s length", ErrCorrupt, what)
	}
	if l == -1 && nullable {
		return nil, nil
	}
	if l < 0 || int(l) > len(r.Src) {
		return nil, fmt.Errorf("%w: %s length %d with %d bytes left", ErrCorrupt, what, l, len(r.Src))
	}
	return r.Span(int(l)), nil
}
