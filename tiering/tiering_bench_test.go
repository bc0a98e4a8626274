package tiering

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stratalog/strata/objstore/local"
	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/tiering/coldfile"
)

// benchSegment is 8 MiB of uncompressed batches of 64 records of 1 KiB
// random values (random, so that Parquet's zstd has no easy win), from
// offset 0.
func benchSegment(b *testing.B) []byte {
	b.Helper()
	r := rand.NewChaCha8([32]byte{7})
	var seg []byte
	var base int64
	for len(seg) < 8<<20 {
		var area []byte
		for i := range 64 {
			v := make([]byte, 1024)
			_, _ = r.Read(v)
			area = recordbatch.AppendRecord(area, int32(i), int64(i), fmt.Appendf(nil, "key-%d", base+int64(i)), v, nil)
		}
		batch := recordbatch.AppendBatch(nil, recordbatch.Header{
			BaseOffset: base, LastOffsetDelta: 63, BaseTimestamp: 1_700_000_000_000 + base, MaxTimestamp: 1_700_000_000_063 + base,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 64,
		}, area)
		seg = append(seg, batch...)
		base += 64
	}
	return seg
}

// BenchmarkParquetConvert is the upload's conversion: a segment's batches
// decoded into rows and written as a zstd Parquet file (default row-group
// size). Bytes are the segment's.
func BenchmarkParquetConvert(b *testing.B) {
	seg := benchSegment(b)
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		fw := coldfile.NewFileWriter(io.Discard, "bench", [16]byte{1}, 0, 0)
		if err := coldfile.DecodeBatches(seg, 0, fw.Add); err != nil {
			b.Fatal(err)
		}
		if _, err := fw.Close(0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdRebuild turns rows back into RecordBatches (records, headers,
// CRC), as a cold fetch does after reading them. Bytes are the batches'.
func BenchmarkColdRebuild(b *testing.B) {
	seg := benchSegment(b)
	var rows []coldfile.Row
	if err := coldfile.DecodeBatches(seg, 0, func(r coldfile.Row) error { rows = append(rows, r); return nil }); err != nil {
		b.Fatal(err)
	}
	var n, ops int64
	for b.Loop() {
		bb := newBatchBuilder(1<<30, true)
		for i := range rows {
			bb.add(&rows[i])
		}
		n, ops = n+int64(len(bb.finish())), ops+1
	}
	b.SetBytes(n / max(1, ops))
}

// BenchmarkColdRead is a whole cold fetch of a segment from an object in a
// local-directory bucket: open (footer, page index), load each row group,
// decode its rows and rebuild batches. Bytes are the rebuilt batches'.
func BenchmarkColdRead(b *testing.B) {
	seg := benchSegment(b)
	var buf bytes.Buffer
	fw := coldfile.NewFileWriter(&buf, "bench", [16]byte{1}, 0, 2<<20)
	if err := coldfile.DecodeBatches(seg, 0, fw.Add); err != nil {
		b.Fatal(err)
	}
	info, err := fw.Close(0)
	if err != nil {
		b.Fatal(err)
	}
	bucket, err := local.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	key := coldfile.ObjectKey("bench", 0, info.BaseOffset, info.LastOffset)
	if _, err := bucket.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		b.Fatal(err)
	}
	var n, ops int64
	for b.Loop() {
		m := newMetrics()
		rf, err := coldfile.Open(ctx, bucket, key, int64(buf.Len()), coldfile.Options{Cache: coldfile.NewCache(64<<20, m), Observer: m})
		if err != nil {
			b.Fatal(err)
		}
		bb := newBatchBuilder(1<<30, true)
		for j := range rf.RowGroups() {
			if err := rf.LoadRowGroup(ctx, j); err != nil {
				b.Fatal(err)
			}
			if err := rf.ScanRowGroup(j, 0, func(r *coldfile.Row) error { bb.add(r); return nil }); err != nil {
				b.Fatal(err)
			}
		}
		n, ops = n+int64(len(bb.finish())), ops+1
	}
	b.SetBytes(n / max(1, ops))
}
