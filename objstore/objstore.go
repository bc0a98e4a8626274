// Package objstore is the object-store seam: one small Bucket interface that
// tiering and query use, with one provider per folder — objstore/s3 (any
// S3-compatible store, through minio-go) and objstore/local (a directory) —
// and one contract test suite (objstore/objstoretest) that both pass.
//
// objstore knows nothing about what the objects mean. Keys are
// slash-separated paths relative to the bucket (and its prefix, see
// Prefixed); they never start with '/' and never contain "." or ".."
// segments or empty segments.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNotExist is wrapped by Get, GetRange and Stat when the object does not
// exist.
var ErrNotExist = errors.New("object does not exist")

// ErrInvalidKey is wrapped by every method given a key that is not a clean
// relative path.
var ErrInvalidKey = errors.New("invalid object key")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key          string // relative to the bucket (and its prefix)
	Size         int64
	LastModified time.Time
	ETag         string // provider-specific; "" when the provider has none
}

// Bucket is a flat namespace of immutable objects. Every method is safe for
// concurrent use. Writes are atomic: a reader sees the whole old object, the
// whole new one, or none — never a partial object.
type Bucket interface {
	// Put stores size bytes read from r under key, replacing any object
	// there. It fails (and stores nothing) if r yields fewer or more than
	// size bytes. Large objects may be uploaded in parts; the object
	// appears only once complete.
	Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error)
	// Get returns the whole object. The caller closes the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// GetRange returns length bytes of the object from offset. A range that
	// runs past the end is cut at the end; an offset at or past the end is
	// an error. The caller closes the reader.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// List calls fn for every object whose key starts with prefix, in
	// lexical key order, recursively (no delimiter). An error from fn
	// stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes the object; deleting a missing object is not an
	// error.
	Delete(ctx context.Context, key string) error
	// Stat describes the object; ErrNotExist if there is none.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// String names the bucket for logs, e.g. "s3://bucket/prefix".
	String() string
}

// CheckKey reports whether key is a clean relative object key.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	if strings.ContainsRune(key, 0) || strings.ContainsRune(key, '\\') {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

// checkPrefix accepts "" or a clean key prefix (which may end in '/').
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return CheckKey(strings.TrimSuffix(prefix, "/"))
}

// ReadRange reads length bytes of key from offset into memory. It fails
// unless exactly length bytes come back.
func ReadRange(ctx context.Context, b Bucket, key string, offset, length int64) ([]byte, error) {
	rc, err := b.GetRange(ctx, key, offset, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, length)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("objstore: read %s [%d, +%d): %w", key, offset, length, err)
	}
	return buf, nil
}

// Prefixed returns a view of b in which every key is prefix + "/" + key.
// List, Stat and Put report keys relative to the prefix.
func Prefixed(b Bucket, prefix string) (Bucket, error) {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return b, nil
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	return &prefixed{b: b, prefix: prefix + "/"}, nil
}

type prefixed struct {
	b      Bucket
	prefix string
}

func (p *prefixed) key(k string) (string, error) {
	if err := CheckKey(k); err != nil {
		return "", err
	}
	return p.prefix + k, nil
}

func (p *prefixed) strip(oi ObjectInfo) ObjectInfo {
	oi.Key = strings.TrimPrefix(oi.Key, p.prefix)
	return oi
}

func (p *prefixed) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	k, err := p.key(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	oi, err := p.b.Put(ctx, k, r, size)
	return p.strip(oi), err
}

func (p *prefixed) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := p.key(key)
	if err != nil {
		return nil, err
	}
	return p.b.Get(ctx, k)
}

func (p *prefixed) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	k, err := p.key(key)
	if err != nil {
		return nil, err
	}
	return p.b.GetRange(ctx, k, offset, length)
}

func (p *prefixed) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	return p.b.List(ctx, p.prefix+prefix, func(oi ObjectInfo) error { return fn(p.strip(oi)) })
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	k, err := p.key(key)
	if err != nil {
		return err
	}
	return p.b.Delete(ctx, k)
}

func (p *prefixed) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	k, err := p.key(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	oi, err := p.b.Stat(ctx, k)
	return p.strip(oi), err
}

func (p *prefixed) String() string {
	return strings.TrimSuffix(p.b.String(), "/") + "/" + strings.TrimSuffix(p.prefix, "/")
}

// CheckPrefix is exported for providers: "" or a clean key prefix.
func CheckPrefix(prefix string) error { return checkPrefix(prefix) }
