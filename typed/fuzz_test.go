package typed

import (
	"context"
	"encoding/binary"
	"io"
	"testing"

	"github.com/stratalog/strata/schemareg"
	"github.com/stratalog/strata/tiering/coldfile"
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

// FuzzDecode: any value, through each format's decoder and into a typed
// file, is typed columns or a value_error, never a panic or a failed file.
func FuzzDecode(f *testing.F) {
	const avroText = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"s","type":["null","string",{"type":"array","items":"long"}]},
	 {"name":"m","type":{"type":"map","values":{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}}},
	 {"name":"d","type":{"type":"int","logicalType":"date"}},{"name":"u","type":{"type":"string","logicalType":"uuid"}}]}`
	const jsonText = `{"type":"object","properties":{"a":{"type":"integer"},"t":{"type":"array","items":{"type":"string","format":"date-time"}},
	 "o":{"type":"object","additionalProperties":{"type":"number"}},"x":{}}}`
	f.Add(byte(0), []byte{0x02, 0x00, 0x00, 0x00, 0x00})
	f.Add(byte(1), []byte(`{"a":1,"t":["2024-01-01T00:00:00Z"],"o":{"k":1.5},"x":[1]}`))
	f.Add(byte(2), []byte{0x00, 0x08, 0x01, 0x1a, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, format byte, payload []byte) {
		var p schemareg.Parsed
		switch format % 3 {
		case 0:
			p = avroParsed(t, 1, avroText)
		case 1:
			p = jsonParsed(t, 1, jsonText)
		case 2:
			p = protoParsed(t, 1)
		}
		d, err := NewSource(&fakeRegistry{latest: 1, byID: map[int32]schemareg.Parsed{1: p}}).ValueDecoder(context.Background(), "t")
		if err != nil {
			t.Fatal(err)
		}
		fw, err := coldfile.NewTypedFileWriter(io.Discard, "t", [16]byte{}, 0, 0, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Add(coldfile.Row{Value: wireOf(1, payload)}); err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Close(1); err != nil {
			t.Fatal(err)
		}
	})
}
