// Package local is the objstore provider for a directory on the local file
// system: the default cold tier of a single broker (file://<data-dir>/objects)
// and the store most tests use.
//
// Each object is one file at <root>/<key>. Put writes a temporary file in
// <root>/.tmp, fsyncs it and renames it into place (then fsyncs the
// directory), so an object is either absent or complete, also after a crash.
// Several brokers may share one root (a cluster whose cold tier is one
// shared directory): New clears only temporary files a crash left behind.
// Local objects have no ETag.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/stratalog/strata/fileutil"
	"github.com/stratalog/strata/objstore"
)

const tmpDir = ".tmp"

// Bucket is a directory used as an object store.
type Bucket struct {
	root string
}

var _ objstore.Bucket = (*Bucket)(nil)

// staleTempAge is how long a temporary file must have gone unwritten before
// New takes it for a crash's leftover. Several brokers may share one root,
// so a younger one may be another process's upload in flight.
const staleTempAge = time.Hour

// New opens (creating if needed) the directory root as a bucket and removes
// temporary files a crash left (those unwritten for staleTempAge).
func New(root string) (*Bucket, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("objstore/local: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), 0o755); err != nil {
		return nil, fmt.Errorf("objstore/local: create %s: %w", abs, err)
	}
	ents, _ := os.ReadDir(filepath.Join(abs, tmpDir))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(abs, tmpDir, e.Name()))
		}
	}
	return &Bucket{root: abs}, nil
}

// Root is the directory.
func (b *Bucket) Root() string { return b.root }

func (b *Bucket) String() string { return "file://" + b.root }

func (b *Bucket) path(key string) (string, error) {
	if err := objstore.CheckKey(key); err != nil {
		return "", err
	}
	if key == tmpDir || strings.HasPrefix(key, tmpDir+"/") {
		return "", fmt.Errorf("%w: %q is reserved", objstore.ErrInvalidKey, key)
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

func notExist(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore/local: %s: %w", key, objstore.ErrNotExist)
	}
	return fmt.Errorf("objstore/local: %s: %w", key, err)
}

func info(key string, st fs.FileInfo) objstore.ObjectInfo {
	return objstore.ObjectInfo{Key: key, Size: st.Size(), LastModified: st.ModTime()}
}

// Put writes the object atomically (temporary file, fsync, rename).
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) (objstore.ObjectInfo, error) {
	p, err := b.path(key)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	if size < 0 {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: negative size %d", key, size)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(b.root, tmpDir, hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: %w", key, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(ctxReader{ctx, r}, size))
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: %w", key, err)
	}
	if n != size {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: got %d bytes, want %d", key, n, size)
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: reader has more than %d bytes", key, size)
	}
	if err := f.Sync(); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: fsync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: %w", key, err)
	}
	dir := filepath.Dir(p)
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	// A concurrent Delete may remove the (empty) directory between MkdirAll
	// and Rename: try again then.
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: %w", key, err)
		}
		err := os.Rename(tmp, p)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 5 {
			return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: %w", key, err)
		}
	}
	ok = true
	// The object is acknowledged only once its name is durable.
	if err := fileutil.SyncDir(dir); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/local: put %s: %w", key, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return objstore.ObjectInfo{}, notExist(key, err)
	}
	return info(key, st), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get opens the whole object.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := b.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist(key, err)
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, notExist(key, fs.ErrNotExist)
	}
	return f, nil
}

type sectionCloser struct {
	*io.SectionReader
	f *os.File
}

func (s sectionCloser) Close() error { return s.f.Close() }

// GetRange opens length bytes of the object from offset.
func (b *Bucket) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length <= 0 {
		return nil, fmt.Errorf("objstore/local: get %s: bad range offset %d length %d", key, offset, length)
	}
	rc, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, notExist(key, err)
	}
	if offset >= st.Size() {
		f.Close()
		return nil, fmt.Errorf("objstore/local: get %s: offset %d at or past the end (%d bytes)", key, offset, st.Size())
	}
	return sectionCloser{io.NewSectionReader(f, offset, min(length, st.Size()-offset)), f}, nil
}

// List walks the objects under prefix in key order.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.ObjectInfo) error) error {
	if err := objstore.CheckPrefix(prefix); err != nil {
		return err
	}
	// Walk from the deepest directory the prefix names.
	start := b.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(b.root, filepath.FromSlash(prefix[:i]))
	}
	var out []objstore.ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(b.root, p)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == tmpDir {
				return filepath.SkipDir
			}
			// Skip directories that cannot hold keys with the prefix.
			if key != "." && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) || !d.Type().IsRegular() {
			return nil
		}
		st, ierr := d.Info()
		if ierr != nil {
			if errors.Is(ierr, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return ierr
		}
		out = append(out, info(key, st))
		return nil
	})
	if err != nil {
		return fmt.Errorf("objstore/local: list %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	for _, oi := range out {
		if err := fn(oi); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the object and then any directories it leaves empty.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore/local: delete %s: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != b.root && strings.HasPrefix(dir, b.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or gone): stop
		}
	}
	return nil
}

// Stat describes the object.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	p, err := b.path(key)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return objstore.ObjectInfo{}, notExist(key, err)
	}
	if !st.Mode().IsRegular() {
		return objstore.ObjectInfo{}, notExist(key, fs.ErrNotExist)
	}
	return info(key, st), nil
}
