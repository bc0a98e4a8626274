// Package placement decides which live broker owns a key (a consumer
// group, a transactional id) by rendezvous hashing, so that every broker
// computes the same owner from the same live set and a broker joining or
// leaving moves only the keys it wins or held. It also maps a group id to
// its partition of __consumer_offsets the way Kafka does, for the clients
// and markers that name that partition.
package placement

import (
	"hash/fnv"
	"slices"
)

// Owner picks, among ids (not empty), the broker whose score for key is
// the highest (rendezvous, or highest-random-weight, hashing). Hashing
// modulo the broker count would move most keys on any change.
func Owner(key string, ids []int32) int32 {
	h := fnv.New64a()
	h.Write([]byte(key))
	keyHash := h.Sum64()
	best, bestScore := ids[0], uint64(0)
	for i, id := range ids {
		score := mix64(keyHash ^ mix64(uint64(uint32(id))))
		if i == 0 || score > bestScore || (score == bestScore && id < best) {
			best, bestScore = id, score
		}
	}
	return best
}

// mix64 is the splitmix64 finalizer: it spreads every input bit over the
// whole word, which FNV alone does not do for the broker id folded in.
// Live is the set Owner picks from: live's broker ids sorted and without
// duplicates, or self alone while no live broker is known (a broker that
// has not yet seen its own registration still serves what it owns).
func Live(live []int32, self int32) []int32 {
	ids := slices.Clone(live)
	if len(ids) == 0 {
		return []int32{self}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// OffsetsPartition is Kafka's partition of __consumer_offsets for group
// among n partitions: abs(Java's String.hashCode) mod n (Kafka's
// Utils.abs maps MinInt32 to 0).
func OffsetsPartition(group string, n int32) int32 {
	var h int32
	for _, r := range utf16(group) {
		h = 31*h + int32(r)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}

// utf16 returns the UTF-16 code units of s, what Java hashes.
func utf16(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}
