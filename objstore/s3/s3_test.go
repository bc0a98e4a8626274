package s3_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/objstoretest"
)

// TestContract runs the shared objstore contract against a real MinIO
// server, with a 5 MiB multipart threshold so that the large-object test
// uploads in parts.
func TestContract(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		return m.Bucket(t, 5<<20)
	}, objstoretest.Options{LargeSize: 12<<20 + 123})
}

// TestStoreDown: with the server stopped every operation fails promptly
// with an error (not ErrNotExist), and works again after a restart.
func TestStoreDown(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	b := m.Bucket(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.Put(ctx, "k", bytesReader("v"), 1); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	start := time.Now()
	_, err := b.Stat(ctx, "k")
	if err == nil || errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("stat with the store down: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("stat with the store down took %s", d)
	}
	m.Start()
	if st, err := b.Stat(ctx, "k"); err != nil || st.Size != 1 {
		t.Fatalf("stat after restart: %+v %v", st, err)
	}
}
