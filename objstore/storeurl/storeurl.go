// Package storeurl opens an objstore.Bucket from the URL `strata serve`
// takes (--object-store):
//
//	file:///var/lib/strata/objects     a local directory (objstore/local)
//	s3://bucket/optional/prefix        an S3-compatible bucket (objstore/s3)
//
// For s3:// URLs the endpoint comes from Options.S3Endpoint (default AWS), and
// the credentials from Options.CredentialsFile (an AWS shared-credentials
// file: "[default]\naws_access_key_id = ...\naws_secret_access_key = ...";
// profile from AWS_PROFILE) or else from AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN).
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/local"
	"github.com/stratalog/strata/objstore/s3"
)

// Options complete the URL.
type Options struct {
	URL             string
	S3Endpoint      string // e.g. http://127.0.0.1:9000; "" = AWS
	S3Region        string
	CredentialsFile string
	// Getenv reads the environment (default os.Getenv); tests replace it.
	Getenv func(string) string
	// MultipartThreshold for s3 (0 = default 64 MiB).
	MultipartThreshold int64
}

// Store is an opened bucket and, for S3, a check that it can be reached.
type Store struct {
	Bucket objstore.Bucket
	// Check verifies the store answers (and the bucket exists); nil for a
	// local directory.
	Check func(ctx context.Context) error
}

// Open parses the URL and builds the bucket. It does not contact the store.
func Open(o Options) (Store, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return Store{}, fmt.Errorf("--object-store %q: %w", o.URL, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Store{}, fmt.Errorf("--object-store %q: a file URL has no host: file:///absolute/path", o.URL)
		}
		if u.Path == "" {
			return Store{}, fmt.Errorf("--object-store %q: no directory", o.URL)
		}
		b, err := local.New(u.Path)
		if err != nil {
			return Store{}, err
		}
		return Store{Bucket: b}, nil
	case "s3":
		if u.Host == "" {
			return Store{}, fmt.Errorf("--object-store %q: no bucket: s3://bucket/prefix", o.URL)
		}
		creds, err := loadCredentials(o)
		if err != nil {
			return Store{}, err
		}
		sb, err := s3.New(s3.Config{
			Endpoint:           o.S3Endpoint,
			Bucket:             u.Host,
			Region:             o.S3Region,
			Credentials:        creds,
			PathStyle:          o.S3Endpoint != "",
			MultipartThreshold: o.MultipartThreshold,
		})
		if err != nil {
			return Store{}, err
		}
		b, err := objstore.Prefixed(sb, strings.Trim(u.Path, "/"))
		if err != nil {
			return Store{}, fmt.Errorf("--object-store %q: prefix: %w", o.URL, err)
		}
		return Store{Bucket: b, Check: sb.CheckBucket}, nil
	default:
		return Store{}, fmt.Errorf("--object-store %q: want s3://bucket/prefix or file:///path", o.URL)
	}
}

func loadCredentials(o Options) (*credentials.Credentials, error) {
	if o.CredentialsFile != "" {
		if _, err := os.Stat(o.CredentialsFile); err != nil {
			return nil, fmt.Errorf("--s3-credentials-file: %w", err)
		}
		c := credentials.NewFileAWSCredentials(o.CredentialsFile, o.Getenv("AWS_PROFILE"))
		v, err := c.GetWithContext(nil)
		if err != nil {
			return nil, fmt.Errorf("--s3-credentials-file %s: %w", o.CredentialsFile, err)
		}
		if v.AccessKeyID == "" || v.SecretAccessKey == "" {
			return nil, fmt.Errorf("--s3-credentials-file %s: no aws_access_key_id / aws_secret_access_key in the profile", o.CredentialsFile)
		}
		return c, nil
	}
	id, secret := o.Getenv("AWS_ACCESS_KEY_ID"), o.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --s3-credentials-file")
	}
	return credentials.NewStaticV4(id, secret, o.Getenv("AWS_SESSION_TOKEN")), nil
}
