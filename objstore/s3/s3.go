// Package s3 is the objstore provider for S3-compatible object stores (AWS
// S3, MinIO, Ceph RGW, GCS in interoperability mode, ...), through
// github.com/minio/minio-go/v7.
//
// Objects up to Config.MultipartThreshold bytes are uploaded with one PUT;
// larger ones as a multipart upload in parts of that size (S3 bills per
// request, so small objects never pay for three). An object appears only once
// its upload is complete, so readers never see part of one.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stratalog/strata/objstore"
)

// DefaultMultipartThreshold is the largest object uploaded with a single PUT,
// and the part size of larger ones.
const DefaultMultipartThreshold = 64 << 20

// minPartSize is S3's smallest part (except the last).
const minPartSize = 5 << 20

// Config says where the bucket is and how to reach it.
type Config struct {
	// Endpoint is the store's URL, e.g. "https://s3.eu-west-1.amazonaws.com"
	// or "http://127.0.0.1:9000". Default: AWS S3 over HTTPS.
	Endpoint string
	Bucket   string
	// Region, if the store needs one; "" lets minio-go discover it.
	Region string
	// Credentials; nil means anonymous requests.
	Credentials *credentials.Credentials
	// PathStyle forces path-style requests (http://host/bucket/key), which
	// MinIO and most self-hosted stores want; otherwise minio-go chooses.
	PathStyle bool
	// MultipartThreshold: see DefaultMultipartThreshold. At least 5 MiB.
	MultipartThreshold int64
	// MaxRetries is how often minio-go retries a failed request itself
	// (default 3; callers retry with their own backoff on top).
	MaxRetries int
	// Transport overrides the HTTP transport (tests inject faults here).
	Transport http.RoundTripper
}

// Bucket is an S3 bucket.
type Bucket struct {
	cli       *minio.Client
	bucket    string
	threshold int64
	name      string
}

var _ objstore.Bucket = (*Bucket)(nil)

// New creates the client. It does not contact the store; see CheckBucket.
func New(cfg Config) (*Bucket, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("objstore/s3: no bucket name")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("objstore/s3: endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("objstore/s3: endpoint %q: must not have a path", cfg.Endpoint)
	}
	if cfg.MultipartThreshold == 0 {
		cfg.MultipartThreshold = DefaultMultipartThreshold
	}
	if cfg.MultipartThreshold < minPartSize {
		return nil, fmt.Errorf("objstore/s3: multipart threshold %d below S3's 5 MiB part minimum", cfg.MultipartThreshold)
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 3
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	}
	opts := &minio.Options{
		Creds:      creds,
		Secure:     u.Scheme == "https",
		Region:     cfg.Region,
		MaxRetries: cfg.MaxRetries,
		Transport:  cfg.Transport,
	}
	if cfg.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	cli, err := minio.New(u.Host, opts)
	if err != nil {
		return nil, fmt.Errorf("objstore/s3: %w", err)
	}
	return &Bucket{cli: cli, bucket: cfg.Bucket, threshold: cfg.MultipartThreshold, name: "s3://" + cfg.Bucket}, nil
}

// Client is the underlying minio-go client (tests create buckets with it).
func (b *Bucket) Client() *minio.Client { return b.cli }

func (b *Bucket) String() string { return b.name }

// CheckBucket verifies that the bucket exists and the credentials reach it.
func (b *Bucket) CheckBucket(ctx context.Context) error {
	ok, err := b.cli.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("objstore/s3: bucket %s at %s: %w", b.bucket, b.cli.EndpointURL(), err)
	}
	if !ok {
		return fmt.Errorf("objstore/s3: bucket %s does not exist at %s", b.bucket, b.cli.EndpointURL())
	}
	return nil
}

// MakeBucket creates the bucket if it does not exist.
func (b *Bucket) MakeBucket(ctx context.Context) error {
	ok, err := b.cli.BucketExists(ctx, b.bucket)
	if err == nil && ok {
		return nil
	}
	if err := b.cli.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{}); err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			return nil
		}
		return fmt.Errorf("objstore/s3: create bucket %s: %w", b.bucket, err)
	}
	return nil
}

func (b *Bucket) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	if resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket" {
		return fmt.Errorf("objstore/s3: %s %s/%s: %w", op, b.bucket, key, objstore.ErrNotExist)
	}
	return fmt.Errorf("objstore/s3: %s %s/%s: %w", op, b.bucket, key, err)
}

func objectInfo(oi minio.ObjectInfo) objstore.ObjectInfo {
	return objstore.ObjectInfo{Key: oi.Key, Size: oi.Size, LastModified: oi.LastModified, ETag: strings.Trim(oi.ETag, `"`)}
}

// countingReader fails a Put whose reader holds more than size bytes.
type exactReader struct {
	r         io.Reader
	remaining int64
	err       error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.remaining <= 0 {
		var one [1]byte
		if n, _ := e.r.Read(one[:]); n > 0 {
			e.err = errors.New("reader holds more bytes than the given size")
			return 0, e.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	if err == io.EOF && e.remaining > 0 {
		e.err = fmt.Errorf("reader ended %d bytes short of the given size", e.remaining)
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// Put uploads the object: one PUT up to the multipart threshold, a
// multipart upload above it.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) (objstore.ObjectInfo, error) {
	if err := objstore.CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, err
	}
	if size < 0 {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/s3: put %s: negative size %d", key, size)
	}
	er := &exactReader{r: r, remaining: size}
	info, err := b.cli.PutObject(ctx, b.bucket, key, er, size, minio.PutObjectOptions{
		PartSize:    uint64(b.threshold),
		ContentType: "application/octet-stream",
	})
	if er.err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/s3: put %s: %w", key, er.err)
	}
	if err != nil {
		return objstore.ObjectInfo{}, b.wrap("put", key, err)
	}
	if info.Size != size {
		return objstore.ObjectInfo{}, fmt.Errorf("objstore/s3: put %s: stored %d bytes, sent %d", key, info.Size, size)
	}
	return objstore.ObjectInfo{Key: key, Size: info.Size, LastModified: info.LastModified, ETag: strings.Trim(info.ETag, `"`)}, nil
}

// Get opens the whole object.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.get(ctx, key, minio.GetObjectOptions{})
}

func (b *Bucket) get(ctx context.Context, key string, opts minio.GetObjectOptions) (io.ReadCloser, error) {
	if err := objstore.CheckKey(key); err != nil {
		return nil, err
	}
	obj, err := b.cli.GetObject(ctx, b.bucket, key, opts)
	if err != nil {
		return nil, b.wrap("get", key, err)
	}
	// The first request is made here, so that a missing object is an
	// error of Get rather than of the first Read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, b.wrap("get", key, err)
	}
	return obj, nil
}

// GetRange opens length bytes of the object from offset.
func (b *Bucket) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length <= 0 {
		return nil, fmt.Errorf("objstore/s3: get %s: bad range offset %d length %d", key, offset, length)
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(offset, offset+length-1); err != nil {
		return nil, fmt.Errorf("objstore/s3: get %s: %w", key, err)
	}
	rc, err := b.get(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// List lists the objects under prefix, recursively, in key order.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.ObjectInfo) error) error {
	if err := objstore.CheckPrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range b.cli.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("objstore/s3: list %s/%s: %w", b.bucket, prefix, oi.Err)
		}
		if strings.HasSuffix(oi.Key, "/") {
			continue // a "directory marker" some tools create
		}
		if err := fn(objectInfo(oi)); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete removes the object; a missing one is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := objstore.CheckKey(key); err != nil {
		return err
	}
	err := b.cli.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{})
	if err != nil && errors.Is(b.wrap("delete", key, err), objstore.ErrNotExist) {
		return nil
	}
	return b.wrap("delete", key, err)
}

// Stat describes the object.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := objstore.CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, err
	}
	oi, err := b.cli.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return objstore.ObjectInfo{}, b.wrap("stat", key, err)
	}
	return objectInfo(oi), nil
}
