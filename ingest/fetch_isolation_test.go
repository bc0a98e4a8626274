package ingest

import (
	"testing"

	"github.com/stratalog/strata/recordbatch"
)

// batchAt is a one-record batch at offset base spanning n offsets.
func batchAt(base int64, n int32) []byte {
	b := recordbatch.AppendBatch(nil, recordbatch.Header{
		PartitionLeaderEpoch: 0, LastOffsetDelta: n - 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 1,
	}, recordbatch.AppendRecord(nil, 0, 0, nil, []byte("v"), nil))
	recordbatch.SetBaseOffset(b, base)
	return b
}

func TestStablePrefix(t *testing.T) {
	a, b, c := batchAt(10, 2), batchAt(12, 3), batchAt(15, 1)
	all := append(append(append([]byte(nil), a...), b...), c...)
	for _, tc := range []struct {
		lso      int64
		wantN    int
		wantUpTo int64
	}{
		{lso: 10, wantN: 0, wantUpTo: 0},
		{lso: 11, wantN: 0, wantUpTo: 0}, // the LSO inside a batch holds the whole batch back
		{lso: 12, wantN: len(a), wantUpTo: 12},
		{lso: 15, wantN: len(a) + len(b), wantUpTo: 15},
		{lso: 100, wantN: len(all), wantUpTo: 16},
	} {
		if n, upTo := stablePrefix(all, tc.lso); n != tc.wantN || upTo != tc.wantUpTo {
			t.Errorf("LSO %d: %d bytes up to %d, want %d up to %d", tc.lso, n, upTo, tc.wantN, tc.wantUpTo)
		}
	}
	// Bytes that are not a batch end the prefix instead of being served.
	if n, _ := stablePrefix(append(append([]byte(nil), a...), 1, 2, 3), 100); n != len(a) {
		t.Errorf("a torn tail: %d bytes kept, want %d", n, len(a))
	}
}
