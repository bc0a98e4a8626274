package recordbatch

import (
	"fmt"

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
// exactly, each record's fields fit in its length, the offset deltas run 0,
// 1, ..., lastOffsetDelta and there are recordCount records. Damage wraps
// ErrCorrupt, a mismatch with the header ErrInvalid; an error from fn stops
// the walk and is returned as it is. The CRC is the caller's to check. The
// Record passed to fn is reused for the next record.
func Records(h Header, batch []byte, maxDecompressed int64, fn func(*Record) error) error {
	if len(batch) < HeaderSize {
		return fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrCorrupt, len(batch), HeaderSize)
	}
	area := batch[HeaderSize:]
	if c := h.Compression(); c != CodecNone {
		if int64(h.NumRecords) > maxDecompressed/minRecordSize {
			// Refused before decompressing: no batch within the
			// limit holds that many records.
			return fmt.Errorf("%w: batch claims %d records, more than %d decompressed bytes can hold", ErrInvalid, h.NumRecords, maxDecompressed)
		}
		var err error
		if area, err = Decompress(c, area, maxDecompressed); err != nil {
			return err
		}
	}
	var rec Record
	r := kbin.Reader{Src: area}
	n := 0
	for ; len(r.Src) > 0; n++ {
		l := r.Varint()
		if !r.Ok() || l <= 0 || int(l) > len(r.Src) {
			return fmt.Errorf("%w: record %d: length %d with %d bytes left", ErrCorrupt, n, l, len(r.Src))
		}
		if err := parseRecord(r.Span(int(l)), &rec); err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		if rec.OffsetDelta != int32(n) || n > int(h.LastOffsetDelta) {
			return fmt.Errorf("%w: record %d has offsetDelta %d, deltas must run 0..%d in order",
				ErrInvalid, n, rec.OffsetDelta, h.LastOffsetDelta)
		}
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
