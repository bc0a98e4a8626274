package coldfile

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/stratalog/strata/recordbatch"
)

// TestDecodeBatchesBoundedDecompression: a stored batch that decompresses
// to 1 GiB (a zstd bomb the broker must not have accepted, or one from an
// older broker) is reported as corrupt after at most the decompression
// limit, not decoded into a gigabyte of memory.
func TestDecodeBatchesBoundedDecompression(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	const bombSize = 1 << 30
	bomb := bytes.Repeat(enc.EncodeAll(make([]byte, 8<<20), nil), bombSize/(8<<20))
	raw := recordbatch.AppendBatch(nil, recordbatch.Header{
		Attributes: recordbatch.NewAttributes(recordbatch.CodecZstd, recordbatch.CreateTime, false, false),
		NumRecords: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, bomb)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = DecodeBatches(raw, 0, func(Row) error { return nil })
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decoding a bomb of %d bytes: %v, want corrupt", len(raw), err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	if alloc > bombSize/4 {
		t.Fatalf("%d MiB allocated decoding a batch of %d bytes", alloc>>20, len(raw))
	}
	t.Logf("bomb of %d bytes: %v, after %d MiB allocated", len(raw), err, alloc>>20)
}
