package meta

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClusterID(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			id, err := c.ClusterID(ctx)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids differ: %v", ids)
		}
	}
	if len(ids[0]) != 22 || strings.ContainsAny(ids[0], "+/=") {
		t.Fatalf("id %q: want 22 chars of raw URL base64", ids[0])
	}
	again, err := c.ClusterID(ctx)
	if err != nil || again != ids[0] {
		t.Fatalf("second call: %q, %v", again, err)
	}
	other, err := newTestClient(t).ClusterID(ctx)
	if err != nil || other == ids[0] {
		t.Fatalf("other cluster: %q, %v", other, err)
	}
}

func TestNewTopicID(t *testing.T) {
	seen := map[[16]byte]bool{}
	for range 1000 {
		id := NewTopicID()
		if id == ([16]byte{}) || seen[id] || id[6]>>4 != 4 || id[8]>>6 != 2 || encodeID(id)[0] == '-' {
			t.Fatalf("bad id %x", id)
		}
		seen[id] = true
		back, err := decodeID(encodeID(id))
		if err != nil || back != id {
			t.Fatalf("round trip %x: %x, %v", id, back, err)
		}
	}
}

func TestDial(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c, err := Dial(ctx, testEtcd.Endpoints(), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Keys().Root() != "/strata/default/" {
		t.Fatalf("root %q", c.Keys().Root())
	}
	if _, err := c.Topics(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// New does not own the client: Close leaves it usable.
	if err := New(testCli, "x").Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := testCli.Get(ctx, "/strata/"); err != nil {
		t.Fatalf("shared client closed by New(...).Close: %v", err)
	}
}

func TestDialDeadEndpoint(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	start := time.Now()
	_, err = Dial(testCtx(t), []string{"http://" + addr}, "")
	if err == nil {
		t.Fatal("Dial to a dead endpoint succeeded")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("Dial failed after %s, want within a few seconds", d)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("error does not name the endpoint: %v", err)
	}
	t.Logf("dead endpoint: %v", err)
}

// TestClusterSecret: every broker of a cluster reads the same secret,
// created once by whichever asked first; another cluster has its own.
func TestClusterSecret(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	secrets := make([][]byte, 8)
	for i := range secrets {
		wg.Go(func() {
			s, err := c.ClusterSecret(ctx)
			if err != nil {
				t.Error(err)
			}
			secrets[i] = s
		})
	}
	wg.Wait()
	for _, s := range secrets {
		if !bytes.Equal(s, secrets[0]) {
			t.Fatalf("secrets differ: %x", secrets)
		}
	}
	if len(secrets[0]) != ClusterSecretBytes || bytes.Equal(secrets[0], make([]byte, ClusterSecretBytes)) {
		t.Fatalf("secret %x: want %d random bytes", secrets[0], ClusterSecretBytes)
	}
	other, err := newTestClient(t).ClusterSecret(ctx)
	if err != nil || bytes.Equal(other, secrets[0]) {
		t.Fatalf("other cluster: %x, %v", other, err)
	}
}
