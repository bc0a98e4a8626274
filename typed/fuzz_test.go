package typed

import (
	"encoding/binary"
	"testing"
)

// FuzzWire: any bytes give a payload inside the input or an error, never a
// panic, and a header that parses puts back together as the input.
func FuzzWire(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 0x02, 'x'})
	f.Add([]byte{0, 0, 0, 0, 7, 0})
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x04, 0x02, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, payload, err := ParseWire(b)
		if err != nil {
			return
		}
		var hdr [5]byte
		binary.BigEndian.PutUint32(hdr[1:], uint32(id))
		if string(append(hdr[:], payload...)) != string(b) {
			t.Fatalf("header %d + payload %x is not %x", id, payload, b)
		}
		idx, rest, err := ParseMessageIndexes(payload)
		if err != nil {
			return
		}
		if len(idx) == 0 || len(rest) > len(payload) {
			t.Fatalf("indexes %v, rest %d of %d", idx, len(rest), len(payload))
		}
		for _, i := range idx {
			if i < 0 {
				t.Fatalf("negative index %v", idx)
			}
		}
	})
}
