package recordbatch

import "fmt"

// Frame walks the headers of concatenated batches, checking only the
// framing (CheckFrame, and lastOffsetDelta >= 0): enough that whoever
// stores them can never write something a reader cannot frame again. The
// CRC and the records are not checked (Validate does).
func Frame(b []byte) ([]Header, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no batches", ErrInvalid)
	}
	var hs []Header
	for pos := 0; pos < len(b); {
		h, err := ParseHeader(b[pos:])
		if err == nil {
			err = CheckFrame(h, int64(len(b)-pos))
		}
		if err == nil && h.LastOffsetDelta < 0 {
			err = fmt.Errorf("%w: lastOffsetDelta %d", ErrInvalid, h.LastOffsetDelta)
		}
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, nil
}

// CheckFramed checks that headers, as Frame or Validate returned them for
// some bytes, frame exactly n bytes: what a store that is handed parsed
// headers checks instead of parsing again.
func CheckFramed(hs []Header, n int) error {
	if len(hs) == 0 {
		return fmt.Errorf("%w: no batches", ErrInvalid)
	}
	total := 0
	for i, h := range hs {
		if h.Length < MinLength || h.Magic != Magic || h.LastOffsetDelta < 0 {
			return fmt.Errorf("%w: batch %d: batchLength %d, magic %d, lastOffsetDelta %d", ErrInvalid, i, h.Length, h.Magic, h.LastOffsetDelta)
		}
		total += h.Size()
	}
	if total != n {
		return fmt.Errorf("%w: headers frame %d bytes of %d", ErrInvalid, total, n)
	}
	return nil
}

// Validate checks that b is a sequence of one or more whole batches, as a
// broker does on produce, and returns their headers. Each batch must have
// magic 2, a batchLength that covers the header and fits, a correct CRC-32C,
// recordCount == lastOffsetDelta+1 > 0 and a known compression codec; its
// records, decompressed (to at most maxDecompressed bytes) if need be, must
// decode as Records checks them. Errors wrap ErrCorrupt (the bytes are
// damaged) or ErrInvalid (well formed but not acceptable). It never panics.
func Validate(b []byte, maxDecompressed int64) ([]Header, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no batches", ErrCorrupt)
	}
	var hs []Header
	for pos := 0; pos < len(b); {
		h, err := ParseHeader(b[pos:])
		if err == nil {
			err = Check(h, b[pos:])
		}
		if err == nil {
			err = checkRecords(h, b[pos:pos+h.Size()], maxDecompressed)
		}
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, nil
}

// Check checks everything of one batch but its records: h was parsed from
// the start of b (which may continue past the batch); the batch must have a
// batchLength that covers the header and fits in b, magic 2, a correct
// CRC-32C, a known codec and recordCount == lastOffsetDelta+1 > 0. Records
// checks the rest while it decodes them.
func Check(h Header, b []byte) error {
	if h.Length < MinLength {
		return fmt.Errorf("%w: batchLength %d below minimum %d", ErrCorrupt, h.Length, MinLength)
	}
	if h.Size() > len(b) {
		return fmt.Errorf("%w: batchLength %d runs past the end (%d bytes left)", ErrCorrupt, h.Length, len(b)-lengthOverhead)
	}
	if h.Magic != Magic {
		return fmt.Errorf("%w: magic %d, only %d is supported", ErrInvalid, h.Magic, Magic)
	}
	batch := b[:h.Size()]
	if got := Checksum(batch); got != h.CRC {
		return fmt.Errorf("%w: crc mismatch: header %#08x, computed %#08x", ErrCorrupt, h.CRC, got)
	}
	if c := h.Compression(); c < CodecNone || c > CodecZstd {
		return fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, c)
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta < 0 || int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: recordCount %d with lastOffsetDelta %d", ErrInvalid, h.NumRecords, h.LastOffsetDelta)
	}
	return nil
}
