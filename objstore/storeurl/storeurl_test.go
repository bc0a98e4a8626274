package storeurl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(Options{URL: "file://" + dir, Getenv: env(nil)})
	if err != nil || st.Check != nil || !strings.HasPrefix(st.Bucket.String(), "file://") {
		t.Fatalf("file URL: %+v %v", st, err)
	}
	creds := map[string]string{"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}
	st, err = Open(Options{URL: "s3://lake/strata/cold", S3Endpoint: "http://127.0.0.1:9000", Getenv: env(creds)})
	if err != nil || st.Check == nil || st.Bucket.String() != "s3://lake/strata/cold" {
		t.Fatalf("s3 URL: %v %v", st.Bucket, err)
	}
	if _, err := Open(Options{URL: "s3://lake", Getenv: env(nil)}); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("s3 without credentials: %v", err)
	}
	file := filepath.Join(dir, "credentials")
	os.WriteFile(file, []byte("[default]\naws_access_key_id = fid\naws_secret_access_key = fsecret\n"), 0o600)
	if _, err := Open(Options{URL: "s3://lake", CredentialsFile: file, Getenv: env(nil)}); err != nil {
		t.Errorf("credentials file: %v", err)
	}
	os.WriteFile(file, []byte("[other]\naws_access_key_id = x\n"), 0o600)
	if _, err := Open(Options{URL: "s3://lake", CredentialsFile: file, Getenv: env(nil)}); err == nil {
		t.Error("credentials file without the default profile accepted")
	}
	for _, bad := range []string{"s3:///nobucket", "gs://b/p", "file://host/x", "s3://b/../x", "http://x"} {
		if _, err := Open(Options{URL: bad, Getenv: env(creds)}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
