package main

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
)

// TestCertsMinioLayout: `strata certs --minio-certs-dir` puts the broker
// certificate where MinIO's --certs-dir looks (public.crt, private.key
// readable by the owner only, CAs/ca.crt), and a second run reuses the CA.
func TestCertsMinioLayout(t *testing.T) {
	dir := t.TempDir()
	minio := filepath.Join(dir, "minio")
	var firstCA []byte
	for run := range 2 {
		cmd := newCertsCmd()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetArgs([]string{"--dir", dir, "--hosts", "minio,localhost", "--minio-certs-dir", minio})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			firstCA = ca
		} else if !bytes.Equal(ca, firstCA) {
			t.Fatal("the second run made another CA")
		}
	}
	same := func(a, b string) {
		t.Helper()
		x, err1 := os.ReadFile(a)
		y, err2 := os.ReadFile(b)
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Fatalf("%s and %s differ (%v, %v)", a, b, err1, err2)
		}
	}
	same(filepath.Join(dir, "broker.pem"), filepath.Join(minio, "public.crt"))
	same(filepath.Join(dir, "broker-key.pem"), filepath.Join(minio, "private.key"))
	same(filepath.Join(dir, "ca.pem"), filepath.Join(minio, "CAs", "ca.crt"))
	if _, err := tls.LoadX509KeyPair(filepath.Join(minio, "public.crt"), filepath.Join(minio, "private.key")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(minio, "private.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private.key: %v %v, want mode 0600", st.Mode(), err)
	}
}
