package recordbatch

import "math"

// SequenceAt is the sequence number of the record delta places after a
// batch's base sequence: it wraps from MaxInt32 to 0, as Kafka's does. No
// sequence (-1) stays -1.
func SequenceAt(base int32, delta int32) int32 {
	if base < 0 {
		return -1
	}
	s := int64(base) + int64(delta)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}
