package hotlog

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Index entry sizes (docs/format/index.md).
const (
	offsetEntrySize = 8  // relative offset uint32, position uint32
	timeEntrySize   = 12 // timestamp int64, relative offset uint32
)

// offsetEntry says: the batch whose baseOffset is segment base + rel starts at
// byte pos of the .log file.
type offsetEntry struct {
	rel uint32
	pos uint32
}

// timeEntry says: the batch whose baseOffset is segment base + rel is the
// first of the segment whose maxTimestamp reaches ts; every batch before it
// has a smaller maxTimestamp.
type timeEntry struct {
	ts  int64
	rel uint32
}

func appendOffsetEntries(dst []byte, es []offsetEntry) []byte {
	for _, e := range es {
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
		dst = binary.BigEndian.AppendUint32(dst, e.pos)
	}
	return dst
}

func appendTimeEntries(dst []byte, es []timeEntry) []byte {
	for _, e := range es {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
	}
	return dst
}

// decodeOffsetIndex parses and checks an .index file's bytes: a whole number
// of entries, the first one at position 0, relative offsets and positions strictly
// increasing, positions below logSize.
func decodeOffsetIndex(b []byte, logSize int64) ([]offsetEntry, error) {
	if len(b)%offsetEntrySize != 0 {
		return nil, fmt.Errorf("size %d is not a multiple of %d", len(b), offsetEntrySize)
	}
	es := make([]offsetEntry, len(b)/offsetEntrySize)
	for i := range es {
		e := offsetEntry{
			rel: binary.BigEndian.Uint32(b[i*offsetEntrySize:]),
			pos: binary.BigEndian.Uint32(b[i*offsetEntrySize+4:]),
		}
		switch {
		case i == 0 && e.pos != 0:
			return nil, fmt.Errorf("first entry is (%d, %d), want position 0", e.rel, e.pos)
		case i > 0 && (e.rel <= es[i-1].rel || e.pos <= es[i-1].pos):
			return nil, fmt.Errorf("entry %d (%d, %d) does not follow (%d, %d)", i, e.rel, e.pos, es[i-1].rel, es[i-1].pos)
		case int64(e.pos) >= logSize:
			return nil, fmt.Errorf("entry %d points at byte %d, the log has %d", i, e.pos, logSize)
		}
		es[i] = e
	}
	if len(es) == 0 && logSize > 0 {
		return nil, fmt.Errorf("no entries for a non-empty log")
	}
	return es, nil
}

// decodeTimeIndex parses and checks a .timeindex file's bytes: a whole
// number of entries, timestamps and relative offsets strictly increasing,
// relative offsets below maxRel (exclusive).
func decodeTimeIndex(b []byte, maxRel int64) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("size %d is not a multiple of %d", len(b), timeEntrySize)
	}
	es := make([]timeEntry, len(b)/timeEntrySize)
	for i := range es {
		e := timeEntry{
			ts:  int64(binary.BigEndian.Uint64(b[i*timeEntrySize:])),
			rel: binary.BigEndian.Uint32(b[i*timeEntrySize+8:]),
		}
		switch {
		case e.ts < 0:
			return nil, fmt.Errorf("entry %d has negative timestamp %d", i, e.ts)
		case i > 0 && (e.ts <= es[i-1].ts || e.rel <= es[i-1].rel):
			return nil, fmt.Errorf("entry %d (%d, %d) does not follow (%d, %d)", i, e.ts, e.rel, es[i-1].ts, es[i-1].rel)
		case int64(e.rel) >= maxRel:
			return nil, fmt.Errorf("entry %d has relative offset %d past the segment's %d", i, e.rel, maxRel)
		}
		es[i] = e
	}
	return es, nil
}

// floorOffset returns the last entry whose relative offset is <= rel. The
// first entry is at position 0, its relative offset that of the segment's
// first batch (0 unless the log cleaner removed the batches before it).
func floorOffset(es []offsetEntry, rel int64) (offsetEntry, bool) {
	i := sort.Search(len(es), func(i int) bool { return int64(es[i].rel) > rel })
	if i == 0 {
		return offsetEntry{}, false
	}
	return es[i-1], true
}

// floorTime returns the last entry whose timestamp is <= ts.
func floorTime(es []timeEntry, ts int64) (timeEntry, bool) {
	i := sort.Search(len(es), func(i int) bool { return es[i].ts > ts })
	if i == 0 {
		return timeEntry{}, false
	}
	return es[i-1], true
}
