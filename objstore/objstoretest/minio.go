package objstoretest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stratalog/strata/objstore/s3"
)

// MinIO credentials of the test server.
const (
	MinIOAccessKey = "strata-test"
	MinIOSecretKey = "strata-test-secret"
)

// MinIOBinary returns the path of the MinIO server binary that
// scripts/minio.sh builds: $STRATA_MINIO_BIN, else
// $STRATA_CACHE_DIR/bin/minio, else $HOME/.cache/strata/bin/minio. "" if
// there is none.
func MinIOBinary() string {
	var cands []string
	if p := os.Getenv("STRATA_MINIO_BIN"); p != "" {
		cands = append(cands, p)
	}
	if d := os.Getenv("STRATA_CACHE_DIR"); d != "" {
		cands = append(cands, filepath.Join(d, "bin", "minio"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(h, ".cache", "strata", "bin", "minio"))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return c
		}
	}
	return ""
}

// MinIO is a MinIO server run by a test: a child process on a free
// loopback port with its data in a temporary directory.
type MinIO struct {
	t       testing.TB
	bin     string
	dir     string
	host    string
	addr    string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	buckets atomic.Int64
	logFile string
}

// StartMinIO starts a MinIO server for the test and stops it at cleanup.
// Without the binary the test is skipped (run scripts/minio.sh), unless
// STRATA_MINIO_REQUIRED=1, when it fails.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	return StartMinIOOn(t, "127.0.0.1")
}

// StartMinIOOn is StartMinIO listening on host (an address of this
// machine, e.g. a test bridge that processes in network namespaces reach).
func StartMinIOOn(t testing.TB, host string) *MinIO {
	t.Helper()
	bin := MinIOBinary()
	if bin == "" {
		msg := "no MinIO binary: run scripts/minio.sh (builds it into ~/.cache/strata/bin/minio) or set STRATA_MINIO_BIN"
		if os.Getenv("STRATA_MINIO_REQUIRED") == "1" {
			t.Fatal(msg + " (STRATA_MINIO_REQUIRED=1)")
		}
		t.Skip(msg)
	}
	m := &MinIO{t: t, bin: bin, dir: t.TempDir(), host: host, addr: freeAddr(t, host)}
	m.logFile = filepath.Join(m.dir, "minio.log")
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

func freeAddr(t testing.TB, host string) string {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Endpoint is the server's URL, http://127.0.0.1:<port>.
func (m *MinIO) Endpoint() string { return "http://" + m.addr }

// Start starts (or restarts, on the same port and data) the server and
// waits until it answers.
func (m *MinIO) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	data := filepath.Join(m.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		m.t.Fatal(err)
	}
	logf, err := os.OpenFile(m.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		m.t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		cmd := exec.Command(m.bin, "server", data, "--address", m.addr, "--console-address", "127.0.0.1:0", "--quiet")
		cmd.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+MinIOAccessKey,
			"MINIO_ROOT_PASSWORD="+MinIOSecretKey,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
			"MINIO_CI_CD=1",
			"MINIO_API_REQUESTS_DEADLINE=30s",
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			m.t.Fatalf("start minio: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		if lastErr = waitLive(m.Endpoint(), done, 30*time.Second); lastErr == nil {
			m.cmd, m.done = cmd, done
			logf.Close()
			return
		}
		cmd.Process.Kill()
		<-done
		// The port may have been taken between freeAddr and the start.
		if m.buckets.Load() == 0 {
			m.addr = freeAddr(m.t, m.host)
		}
	}
	logf.Close()
	log, _ := os.ReadFile(m.logFile)
	m.t.Fatalf("minio did not come up: %v\n%s", lastErr, tail(string(log), 2000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func waitLive(endpoint string, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	cl := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("minio exited")
		default:
		}
		// Ready when its health check passes and an S3 request is no
		// longer answered "Server not initialized yet" (503).
		resp, err := cl.Get(endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if r2, err := cl.Get(endpoint + "/"); err == nil {
					r2.Body.Close()
					if r2.StatusCode != http.StatusServiceUnavailable {
						return nil
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %s", timeout)
}

// Stop kills the server (SIGKILL: as abrupt as a crash); the data stays,
// and Start brings it back on the same port.
func (m *MinIO) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	<-m.done
	m.cmd, m.done = nil, nil
}

// Bucket creates a new bucket with a unique name and returns a provider for
// it; threshold is the multipart threshold (0 = the smallest S3 allows, 5
// MiB, so that tests exercise multipart uploads cheaply).
func (m *MinIO) Bucket(t testing.TB, threshold int64) *s3.Bucket {
	t.Helper()
	if threshold == 0 {
		threshold = 5 << 20
	}
	name := fmt.Sprintf("strata-test-%d", m.buckets.Add(1))
	b, err := s3.New(s3.Config{
		Endpoint:           m.Endpoint(),
		Bucket:             name,
		Credentials:        credentials.NewStaticV4(MinIOAccessKey, MinIOSecretKey, ""),
		PathStyle:          true,
		MultipartThreshold: threshold,
		MaxRetries:         1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A freshly started server may answer "not initialized yet" for a
	// moment after its health check passes.
	for {
		err := b.MakeBucket(ctx)
		if err == nil {
			return b
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BucketName is the name of the n-th bucket Bucket created (1-based), for
// building s3:// URLs.
func BucketName(n int64) string { return fmt.Sprintf("strata-test-%d", n) }

// BucketURLName returns the bucket name of b ("s3://name" -> "name").
func BucketURLName(b fmt.Stringer) string { return strings.TrimPrefix(b.String(), "s3://") }
