package local_test

import (
	"context"
	"io"
	"testing"

	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/local"
	"github.com/stratalog/strata/objstore/objstoretest"
)

func TestContract(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		b, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, objstoretest.Options{})
}

// TestSharedRootKeepsOthersUploads: several brokers may share one directory
// as their cold tier. Opening the bucket must clear only what a crash left,
// never another process's upload in flight.
func TestSharedRootKeepsOthersUploads(t *testing.T) {
	root := t.TempDir()
	first, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := first.Put(context.Background(), "a/b/object", pr, 6)
		done <- err
	}()
	if _, err := pw.Write([]byte("hel")); err != nil { // the upload is under way
		t.Fatal(err)
	}
	if _, err := local.New(root); err != nil { // another broker starts on the same root
		t.Fatal(err)
	}
	if _, err := pw.Write([]byte("lo!")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("upload in flight while another bucket opened the root: %v", err)
	}
	rc, err := first.Get(context.Background(), "a/b/object")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); string(got) != "hello!" {
		t.Fatalf("object holds %q", got)
	}
}
