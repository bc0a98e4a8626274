// Package objstoretest holds the contract every objstore.Bucket provider
// passes (Run), and a helper that runs a real MinIO server for tests
// (StartMinIO). It is imported by tests only.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/objstore"
)

// Options tune the suite to a provider.
type Options struct {
	// LargeSize is the size of the object of the large-object test; set it
	// above the provider's multipart threshold to exercise multipart
	// uploads. Default 1 MiB.
	LargeSize int
}

// Run runs the contract against buckets made by newBucket; each call must
// return an empty bucket.
func Run(t *testing.T, newBucket func(t *testing.T) objstore.Bucket, opts Options) {
	if opts.LargeSize <= 0 {
		opts.LargeSize = 1 << 20
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b objstore.Bucket)
	}{
		{"PutGetStat", testPutGetStat},
		{"Missing", testMissing},
		{"Overwrite", testOverwrite},
		{"ZeroSize", testZeroSize},
		{"PutSizeMismatch", testPutSizeMismatch},
		{"GetRange", testGetRange},
		{"List", testList},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"Concurrent", testConcurrent},
		{"Prefixed", testPrefixed},
		{"Large", func(t *testing.T, b objstore.Bucket) { testLarge(t, b, opts.LargeSize) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBucket(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, b objstore.Bucket, key string, data []byte) objstore.ObjectInfo {
	t.Helper()
	oi, err := b.Put(ctx(t), key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	if oi.Size != int64(len(data)) {
		t.Fatalf("put %s: info size %d, want %d", key, oi.Size, len(data))
	}
	return oi
}

func get(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func list(t *testing.T, b objstore.Bucket, prefix string) []objstore.ObjectInfo {
	t.Helper()
	var out []objstore.ObjectInfo
	if err := b.List(ctx(t), prefix, func(oi objstore.ObjectInfo) error {
		out = append(out, oi)
		return nil
	}); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return out
}

func keys(ois []objstore.ObjectInfo) []string {
	out := make([]string, len(ois))
	for i, oi := range ois {
		out[i] = oi.Key
	}
	return out
}

func testPutGetStat(t *testing.T, b objstore.Bucket) {
	data := randBytes(100_000, 1)
	key := "topic=orders/partition=3/00000000000000000000-00000000000000000099.parquet"
	before := time.Now().Add(-time.Minute)
	oi := put(t, b, key, data)
	if oi.Key != key {
		t.Errorf("put info key %q, want %q", oi.Key, key)
	}
	if got := get(t, b, key); !bytes.Equal(got, data) {
		t.Fatalf("get returned %d bytes, not what was put", len(got))
	}
	st, err := b.Stat(ctx(t), key)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if st.Key != key || st.Size != int64(len(data)) {
		t.Errorf("stat = %+v, want key %q size %d", st, key, len(data))
	}
	if st.LastModified.Before(before) || st.LastModified.After(time.Now().Add(time.Minute)) {
		t.Errorf("stat last modified %v is not about now", st.LastModified)
	}
	if oi.ETag != st.ETag {
		t.Errorf("put etag %q, stat etag %q", oi.ETag, st.ETag)
	}
}

func testMissing(t *testing.T, b objstore.Bucket) {
	if _, err := b.Stat(ctx(t), "nope/x"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("stat of missing object: %v, want ErrNotExist", err)
	}
	if _, err := b.Get(ctx(t), "nope/x"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("get of missing object: %v, want ErrNotExist", err)
	}
	if _, err := b.GetRange(ctx(t), "nope/x", 0, 10); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("get range of missing object: %v, want ErrNotExist", err)
	}
	if got := list(t, b, "nope/"); len(got) != 0 {
		t.Errorf("list of empty prefix: %v", keys(got))
	}
}

func testOverwrite(t *testing.T, b objstore.Bucket) {
	put(t, b, "a/b", []byte("first version"))
	put(t, b, "a/b", []byte("second"))
	if got := get(t, b, "a/b"); string(got) != "second" {
		t.Fatalf("after overwrite got %q", got)
	}
	if st, _ := b.Stat(ctx(t), "a/b"); st.Size != 6 {
		t.Errorf("size after overwrite %d, want 6", st.Size)
	}
}

func testZeroSize(t *testing.T, b objstore.Bucket) {
	put(t, b, "empty", nil)
	if got := get(t, b, "empty"); len(got) != 0 {
		t.Fatalf("empty object read back as %d bytes", len(got))
	}
	if st, err := b.Stat(ctx(t), "empty"); err != nil || st.Size != 0 {
		t.Fatalf("stat empty: %+v %v", st, err)
	}
}

func testPutSizeMismatch(t *testing.T, b objstore.Bucket) {
	if _, err := b.Put(ctx(t), "short", bytes.NewReader([]byte("abc")), 10); err == nil {
		t.Error("put of a reader shorter than size succeeded")
	}
	if _, err := b.Stat(ctx(t), "short"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("short put left an object: %v", err)
	}
	if _, err := b.Put(ctx(t), "long", bytes.NewReader([]byte("abcdefgh")), 3); err == nil {
		t.Error("put of a reader longer than size succeeded")
	}
	if _, err := b.Stat(ctx(t), "long"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("long put left an object: %v", err)
	}
	// A failed overwrite keeps the old object whole.
	put(t, b, "keep", []byte("old content"))
	if _, err := b.Put(ctx(t), "keep", bytes.NewReader([]byte("x")), 5); err == nil {
		t.Error("short overwrite succeeded")
	}
	if got := get(t, b, "keep"); string(got) != "old content" {
		t.Errorf("failed overwrite changed the object to %q", got)
	}
}

func testGetRange(t *testing.T, b objstore.Bucket) {
	data := randBytes(10_000, 2)
	put(t, b, "r", data)
	for _, c := range []struct{ off, n int64 }{{0, 1}, {0, 10_000}, {1234, 100}, {9_999, 1}, {9_000, 5_000}} {
		got, err := objstore.ReadRange(ctx(t), b, "r", c.off, min(c.n, 10_000-c.off))
		if err != nil {
			t.Fatalf("range %d+%d: %v", c.off, c.n, err)
		}
		if !bytes.Equal(got, data[c.off:c.off+min(c.n, 10_000-c.off)]) {
			t.Fatalf("range %d+%d: wrong bytes", c.off, c.n)
		}
		// Asking past the end returns what is there.
		rc, err := b.GetRange(ctx(t), "r", c.off, c.n)
		if err != nil {
			t.Fatalf("range %d+%d: %v", c.off, c.n, err)
		}
		all, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(all, data[c.off:min(c.off+c.n, 10_000)]) {
			t.Fatalf("range %d+%d past the end: %d bytes, %v", c.off, c.n, len(all), err)
		}
	}
	if rc, err := b.GetRange(ctx(t), "r", 10_000, 10); err == nil {
		rc.Close()
		t.Error("range starting at the end succeeded")
	}
	if _, err := b.GetRange(ctx(t), "r", -1, 10); err == nil {
		t.Error("negative offset accepted")
	}
}

func testList(t *testing.T, b objstore.Bucket) {
	all := []string{
		"topic=a-b/partition=0/x",
		"topic=a/partition=0/00000000000000000000-00000000000000000009.parquet",
		"topic=a/partition=0/00000000000000000010-00000000000000000019.parquet",
		"topic=a/partition=1/00000000000000000000-00000000000000000004.parquet",
		"topic=a/partition=10/00000000000000000000-00000000000000000004.parquet",
		"topic=ab/partition=0/y",
		"z",
	}
	for i, k := range all {
		put(t, b, k, []byte(strings.Repeat("x", i+1)))
	}
	check := func(prefix string, want ...string) {
		t.Helper()
		got := list(t, b, prefix)
		if fmt.Sprint(keys(got)) != fmt.Sprint(want) {
			t.Errorf("list %q:\n got %v\nwant %v", prefix, keys(got), want)
		}
		for _, oi := range got {
			for i, k := range all {
				if k == oi.Key && oi.Size != int64(i+1) {
					t.Errorf("list %q: %s size %d, want %d", prefix, k, oi.Size, i+1)
				}
			}
		}
	}
	check("", all...)
	check("topic=a/", all[1:5]...)
	check("topic=a/partition=0/", all[1:3]...)
	check("topic=a/partition=1", all[3:5]...)
	check("topic=a", all[:6]...)
	check("topic=c/")
	stop := errors.New("stop")
	n := 0
	err := b.List(ctx(t), "", func(objstore.ObjectInfo) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("list stopped by fn: err %v after %d calls", err, n)
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	put(t, b, "d/1", []byte("1"))
	put(t, b, "d/2", []byte("2"))
	if err := b.Delete(ctx(t), "d/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx(t), "d/1"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("deleted object still there: %v", err)
	}
	if err := b.Delete(ctx(t), "d/1"); err != nil {
		t.Errorf("deleting a missing object: %v", err)
	}
	if got := keys(list(t, b, "d/")); fmt.Sprint(got) != "[d/2]" {
		t.Errorf("list after delete: %v", got)
	}
	if err := b.Delete(ctx(t), "d/2"); err != nil {
		t.Fatal(err)
	}
	// The "directory" can be written again after it was emptied.
	put(t, b, "d/3", []byte("3"))
	if got := keys(list(t, b, "")); fmt.Sprint(got) != "[d/3]" {
		t.Errorf("list after re-put: %v", got)
	}
}

func testInvalidKeys(t *testing.T, b objstore.Bucket) {
	for _, k := range []string{"", "/abs", "a//b", "a/../b", "./a", "a/", ".."} {
		if _, err := b.Put(ctx(t), k, bytes.NewReader(nil), 0); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.Stat(ctx(t), k); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("stat %q: %v, want ErrInvalidKey", k, err)
		}
	}
}

func testConcurrent(t *testing.T, b objstore.Bucket) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randBytes(20_000+i, uint64(i))
			key := fmt.Sprintf("c/%02d/obj", i)
			if _, err := b.Put(ctx(t), key, bytes.NewReader(data), int64(len(data))); err != nil {
				errs <- err
				return
			}
			rc, err := b.Get(ctx(t), key)
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				errs <- fmt.Errorf("%s read back wrong (%v)", key, err)
				return
			}
			if i%2 == 0 {
				errs <- b.Delete(ctx(t), key)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := list(t, b, "c/"); len(got) != 8 {
		t.Errorf("after concurrent puts and deletes: %d objects, want 8", len(got))
	}
}

func testPrefixed(t *testing.T, b objstore.Bucket) {
	p, err := objstore.Prefixed(b, "some/prefix/")
	if err != nil {
		t.Fatal(err)
	}
	put(t, p, "topic=t/partition=0/f", []byte("hello"))
	put(t, b, "some/prefixes-are-not-dirs", []byte("no"))
	if got := get(t, b, "some/prefix/topic=t/partition=0/f"); string(got) != "hello" {
		t.Errorf("object under prefix: %q", got)
	}
	if got := keys(list(t, p, "")); fmt.Sprint(got) != "[topic=t/partition=0/f]" {
		t.Errorf("prefixed list: %v", got)
	}
	st, err := p.Stat(ctx(t), "topic=t/partition=0/f")
	if err != nil || st.Key != "topic=t/partition=0/f" || st.Size != 5 {
		t.Errorf("prefixed stat: %+v %v", st, err)
	}
	if err := p.Delete(ctx(t), "topic=t/partition=0/f"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, p, ""); len(got) != 0 {
		t.Errorf("prefixed list after delete: %v", keys(got))
	}
}

func testLarge(t *testing.T, b objstore.Bucket, size int) {
	data := randBytes(size, 3)
	put(t, b, "large/object", data)
	if got := get(t, b, "large/object"); !bytes.Equal(got, data) {
		t.Fatalf("large object read back as %d bytes, wrong", len(got))
	}
	mid := int64(size / 2)
	got, err := objstore.ReadRange(ctx(t), b, "large/object", mid-10, 4096)
	if err != nil || !bytes.Equal(got, data[mid-10:mid-10+4096]) {
		t.Fatalf("range across the middle of the large object: %v", err)
	}
}
