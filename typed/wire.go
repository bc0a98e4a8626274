package typed

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrWireFormat is wrapped by errors about a value that is not in the
// Confluent wire format.
var ErrWireFormat = errors.New("not in the schema registry wire format")

// wireHeaderLen is the magic byte and the schema id.
const wireHeaderLen = 5

// maxMessageIndexes bounds the Protobuf message-index list (a nesting
// depth; Confluent's own serializers write a handful at most).
const maxMessageIndexes = 64

// ParseWire splits a wire-format value into its schema id and payload.
func ParseWire(b []byte) (id int32, payload []byte, err error) {
	if len(b) < wireHeaderLen {
		return -1, nil, fmt.Errorf("%w: %d bytes, the header needs %d", ErrWireFormat, len(b), wireHeaderLen)
	}
	if b[0] != 0 {
		return -1, nil, fmt.Errorf("%w: magic byte %#x, want 0", ErrWireFormat, b[0])
	}
	return int32(binary.BigEndian.Uint32(b[1:5])), b[5:], nil
}

// ParseMessageIndexes reads the Protobuf message-index list at the start
// of a payload (a zig-zag varint count, then that many zig-zag varint
// indexes; a lone 0 means [0], the file's first message) and returns the
// indexes and the message bytes after them.
func ParseMessageIndexes(b []byte) ([]int, []byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad message-index count", ErrWireFormat)
	}
	b = b[k:]
	if n == 0 {
		return []int{0}, b, nil
	}
	if n < 0 || n > maxMessageIndexes {
		return nil, nil, fmt.Errorf("%w: %d message indexes", ErrWireFormat, n)
	}
	idx := make([]int, n)
	for i := range idx {
		v, k := binary.Varint(b)
		if k <= 0 || v < 0 || v > 1<<20 {
			return nil, nil, fmt.Errorf("%w: bad message index %d", ErrWireFormat, i)
		}
		idx[i] = int(v)
		b = b[k:]
	}
	return idx, b, nil
}
