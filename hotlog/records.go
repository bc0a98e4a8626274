package hotlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// record is what hotlog needs of one record inside a batch: where it sits in
// time and offset relative to the batch header.
type record struct {
	timestampDelta int64
	offsetDelta    int32
}

// recordReader reads the zig-zag varints of the record format from a byte
// slice, remembering the first failure.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrCorruptBatch}, args...)...)
	}
}

func (r *recordReader) varlong(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint for %s", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint(what string) int32 {
	v := r.varlong(what)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("%s %d out of int32 range", what, v)
		return 0
	}
	return int32(v)
}

func (r *recordReader) int8(what string) {
	if r.err != nil {
		return
	}
	if len(r.b) < 1 {
		r.fail("short record reading %s", what)
		return
	}
	r.b = r.b[1:]
}

// skipBytes skips a varint-length-prefixed field; a length of -1 is null and
// allowed only if nullable.
func (r *recordReader) skipBytes(what string, nullable bool) {
	l := r.varint(what) // "what" names the field; its length is what is read here
	if r.err != nil {
		return
	}
	if l == -1 && nullable {
		return
	}
	if l < 0 || int(l) > len(r.b) {
		r.fail("%s length %d with %d bytes left", what, l, len(r.b))
		return
	}
	r.b = r.b[l:]
}

// walkRecords parses an uncompressed records area: varint length-prefixed
// records that must fill it exactly. fn is called for each record in order;
// an error from fn stops the walk and is returned.
func walkRecords(area []byte, fn func(record) error) error {
	r := recordReader{b: area}
	for i := 0; len(r.b) > 0; i++ {
		l := r.varint("record length")
		if r.err != nil {
			return fmt.Errorf("record %d: %w", i, r.err)
		}
		if l <= 0 || int(l) > len(r.b) {
			return fmt.Errorf("%w: record %d: length %d with %d bytes left", ErrCorruptBatch, i, l, len(r.b))
		}
		body := recordReader{b: r.b[:l]}
		r.b = r.b[l:]
		var rec record
		body.int8("attributes")
		rec.timestampDelta = body.varlong("timestampDelta")
		rec.offsetDelta = body.varint("offsetDelta")
		body.skipBytes("key", true)
		body.skipBytes("value", true)
		nh := body.varint("header count")
		if body.err == nil && nh < 0 {
			body.fail("header count %d", nh)
		}
		for h := int32(0); h < nh && body.err == nil; h++ {
			body.skipBytes("header key", false)
			body.skipBytes("header value", true)
		}
		if body.err != nil {
			return fmt.Errorf("record %d: %w", i, body.err)
		}
		if len(body.b) != 0 {
			return fmt.Errorf("%w: record %d: %d bytes left over after the headers", ErrCorruptBatch, i, len(body.b))
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// errStopWalk ends a walkRecords early without an error.
var errStopWalk = errors.New("stop walk")

// firstRecordAtOrAfter decodes a stored batch (header h, bytes batch,
// CRC already checked; decompressing at most maxDecompressed bytes) and
// returns the offset and timestamp of its first record whose timestamp is
// >= ts. For LogAppendTime batches every record carries the batch's
// MaxTimestamp.
func firstRecordAtOrAfter(h BatchHeader, batch []byte, ts, maxDecompressed int64) (offset, timestamp int64, found bool, err error) {
	if h.LogAppendTime() {
		if h.MaxTimestamp >= ts {
			return h.BaseOffset, h.MaxTimestamp, true, nil
		}
		return 0, 0, false, nil
	}
	area := batch[BatchHeaderSize:]
	if c := h.Compression(); c != CompressionNone {
		area, err = decompress(c, area, maxDecompressed)
		if err != nil {
			return 0, 0, false, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	err = walkRecords(area, func(r record) error {
		if t := h.FirstTimestamp + r.timestampDelta; t >= ts {
			offset, timestamp, found = h.BaseOffset+int64(r.offsetDelta), t, true
			return errStopWalk
		}
		return nil
	})
	if found {
		return offset, timestamp, true, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	return 0, 0, false, nil
}
