package tiering

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/tiering/coldfile"
)

// fuzzBucket serves one object from memory.
type fuzzBucket struct {
	objstore.Bucket
	data []byte
}

func (m *fuzzBucket) GetRange(_ context.Context, _ string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n <= 0 || off >= int64(len(m.data)) {
		return nil, errors.New("bad range")
	}
	return io.NopCloser(bytes.NewReader(m.data[off:min(off+n, int64(len(m.data)))])), nil
}

// FuzzColdFile feeds arbitrary bytes to the cold-read path as if they were
// a tiered object: opening, row-group loading, scanning and rebuilding
// must fail with an error, never panic or loop, and whatever batches come
// out must be valid.
func FuzzColdFile(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	batches, _ := mixedBatches(f, r, 0, 12)
	rows := decodeAll(f, batches, 0)
	good, _ := encodeFile(f, rows, 1<<10)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	mut := bytes.Clone(good)
	mut[len(mut)/3] ^= 0xff
	f.Add(mut)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256<<10 {
			return
		}
		b := &fuzzBucket{data: data}
		m := newMetrics()
		ctx := context.Background()
		rf, err := coldfile.Open(ctx, b, "x", int64(len(data)), coldfile.Options{Cache: coldfile.NewCache(4<<20, m), Observer: m})
		if err != nil {
			return
		}
		// Row counts are the file's claim; a forged one (a billion
		// run-length-encoded rows in a few bytes) is legal Parquet and
		// only slow, not a bug: keep the fuzzer on small claims.
		var claimed int64
		for _, rg := range rf.RowGroups() {
			claimed += rg.Rows
		}
		if claimed > 20_000 {
			return
		}
		bb := newBatchBuilder(1<<20, true)
		for j := range rf.RowGroups() {
			if err := rf.LoadRowGroup(ctx, j); err != nil {
				return
			}
			if err := rf.ScanRowGroup(j, 0, func(r *coldfile.Row) error {
				bb.add(r)
				return nil
			}); err != nil {
				return
			}
		}
		out := bb.finish()
		if len(out) > 0 {
			if _, err := recordbatch.Validate(out, recordbatch.DefaultMaxDecompressed); err != nil {
				t.Fatalf("rebuilt batches invalid: %v", err)
			}
		}
	})
}

// FuzzDecodeBatches: arbitrary bytes as a segment's batches decode or fail,
// never panic; what decodes re-encodes to the same records.
func FuzzDecodeBatches(f *testing.F) {
	r := rand.New(rand.NewPCG(2, 2))
	batches, _ := mixedBatches(f, r, 0, 6)
	f.Add(batches)
	f.Add(batches[:100])
	f.Fuzz(func(t *testing.T, data []byte) {
		var rows []coldfile.Row
		if err := coldfile.DecodeBatches(data, 0, func(r coldfile.Row) error {
			rows = append(rows, r)
			return nil
		}); err != nil {
			return
		}
		bb := newBatchBuilder(1<<30, true)
		for i := range rows {
			bb.add(&rows[i])
		}
		out := bb.finish()
		var back []coldfile.Row
		if err := coldfile.DecodeBatches(out, 0, func(r coldfile.Row) error {
			back = append(back, r)
			return nil
		}); err != nil {
			t.Fatalf("rebuilt batches do not decode: %v", err)
		}
		if len(back) != len(rows) {
			t.Fatalf("%d rows back, %d in", len(back), len(rows))
		}
		for i := range rows {
			if err := sameRow(back[i], rows[i]); err != nil {
				t.Fatal(err)
			}
		}
	})
}
