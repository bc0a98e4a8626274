package tiering

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/tiering/coldfile"
)

// countingBucket counts the bytes ranged GETs return.
type countingBucket struct {
	objstore.Bucket
	read atomic.Int64
}

func (b *countingBucket) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	rc, err := b.Bucket.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	return countingReader{rc, &b.read}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// tierPartitions creates a topic of parts partitions, each with one cold
// file of rows records of valueBytes random (incompressible) bytes, written
// with the default row group size, and commits them to the manifest.
func tierPartitions(t testing.TB, mc *meta.Client, b objstore.Bucket, parts, rows, valueBytes int) string {
	t.Helper()
	ctx := context.Background()
	topic := "budget" + fmt.Sprint(testCounter.Add(1))
	id := meta.NewTopicID()
	states := make([]meta.PartitionState, parts)
	for p := range states {
		states[p] = meta.PartitionState{Topic: topic, Partition: int32(p), Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}
	}
	if err := mc.CreateTopic(ctx, meta.Topic{Name: topic, ID: id, Partitions: int32(parts)}, states); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(parts), uint64(rows)))
	for p := range parts {
		var buf bytes.Buffer
		fw := coldfile.NewFileWriter(&buf, topic, id, int32(p), 0)
		for i := range rows {
			v := make([]byte, valueBytes)
			for k := range v {
				v[k] = byte(r.Uint32())
			}
			if err := fw.Add(coldfile.Row{Offset: int64(i), Timestamp: 1_700_000_000_000 + int64(i), Key: fmt.Appendf(nil, "k%d", i),
				Value: v, ProducerID: -1, ProducerEpoch: -1, Sequence: -1, Partition: int32(p)}); err != nil {
				t.Fatal(err)
			}
		}
		info, err := fw.Close(int64(rows * valueBytes))
		if err != nil {
			t.Fatal(err)
		}
		key := coldfile.ObjectKey(topic, int32(p), info.BaseOffset, info.LastOffset)
		oi, err := b.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		seg := meta.TierSegment{Topic: topic, Partition: int32(p), BaseOffset: info.BaseOffset, LastOffset: info.LastOffset,
			Records: info.Records, Object: key, Size: oi.Size, ETag: oi.ETag, LogBytes: info.LogBytes,
			MinTimestamp: info.MinTimestamp, MaxTimestamp: info.MaxTimestamp, LeaderEpochs: info.LeaderEpochs,
			Format: coldfile.FormatVersion, UploadedAt: time.Now().UnixMilli()}
		if _, err := mc.AddTierSegment(ctx, seg, 0); err != nil {
			t.Fatal(err)
		}
	}
	return topic
}

// TestColdReadWithinBudget: cold reads of many partitions with a small
// max bytes (a consumer group starting from earliest) read from the store
// and allocate about what they return, not the whole row group (64 MiB by
// default) that holds the offset.
func TestColdReadWithinBudget(t *testing.T) {
	const parts, rows, valueBytes, maxBytes = 8, 4000, 512, 128 << 10
	b := &countingBucket{Bucket: localBucket(t)}
	mc := newMeta(t)
	topic := tierPartitions(t, mc, b, parts, rows, valueBytes)
	tier, err := New(Config{Bucket: b, Meta: mc, Logger: testLogger(), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	ctx := testCtx(t)
	// Open the files first: footers and page indexes are not what this
	// test counts.
	for p := range parts {
		if _, _, err := tier.ColdRange(ctx, topic, int32(p)); err != nil {
			t.Fatal(err)
		}
		segs, err := tier.manifest(ctx, topic, int32(p))
		if err != nil || len(segs) != 1 {
			t.Fatalf("manifest of %d: %v, %v", p, segs, err)
		}
		if _, err := tier.open(ctx, segs[0]); err != nil {
			t.Fatal(err)
		}
	}
	b.read.Store(0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	returned := 0
	for p := range parts {
		out, err := tier.ColdRead(ctx, topic, int32(p), 100, rows, maxBytes, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 || len(out) > maxBytes {
			t.Fatalf("partition %d: %d bytes, want 1..%d", p, len(out), maxBytes)
		}
		got := decodeAll(t, out, int32(p))
		if got[0].Offset != 100 || len(got[0].Value) != valueBytes {
			t.Fatalf("partition %d: first row %d with %d value bytes", p, got[0].Offset, len(got[0].Value))
		}
		returned += len(out)
	}
	runtime.ReadMemStats(&after)
	read, alloc := b.read.Load(), int64(after.TotalAlloc-before.TotalAlloc)
	t.Logf("%d partitions at max bytes %d: %d bytes returned, %d read from the store (%.1fx), %d allocated (%.1fx)",
		parts, maxBytes, returned, read, float64(read)/float64(returned), alloc, float64(alloc)/float64(returned))
	if read > 3*int64(returned) {
		t.Errorf("read %d bytes from the store to return %d", read, returned)
	}
	if alloc > 20*int64(returned) {
		t.Errorf("allocated %d bytes to return %d", alloc, returned)
	}
}

// BenchmarkColdFetchBudget is a consumer reading a cold partition with
// fetches of 1 MiB from an object whose one row group holds ~20 MiB (the
// default row group size): each fetch loads the pages its budget needs.
// read/returned is the bytes read from the store per byte returned.
func BenchmarkColdFetchBudget(b *testing.B) {
	const rows, valueBytes, maxBytes = 40000, 512, 1 << 20
	bucket := &countingBucket{Bucket: localBucket(b)}
	mc := newMeta(b)
	topic := tierPartitions(b, mc, bucket, 1, rows, valueBytes)
	tier, err := New(Config{Bucket: bucket, Meta: mc, Logger: testLogger(), TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer tier.Close()
	ctx := context.Background()
	if _, err := tier.ColdRead(ctx, topic, 0, 0, rows, 1, true); err != nil { // opens the file
		b.Fatal(err)
	}
	bucket.read.Store(0)
	var returned, off int64
	for b.Loop() {
		out, err := tier.ColdRead(ctx, topic, 0, off, rows, maxBytes, true)
		if err != nil || len(out) == 0 {
			b.Fatalf("at %d: %d bytes, %v", off, len(out), err)
		}
		returned += int64(len(out))
		off = (off + int64(len(out))/(valueBytes+40)) % (rows - 100)
	}
	b.SetBytes(returned / int64(b.N))
	b.ReportMetric(float64(bucket.read.Load())/float64(returned), "read/returned")
}
