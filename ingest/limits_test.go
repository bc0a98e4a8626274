package ingest

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFrameAllocationFollowsReceivedBytes claims a 100 MiB request frame
// and sends 1 KiB of it: the server may only allocate about what arrived,
// not what the 4-byte size promised (a thousand such connections would
// otherwise claim 100 GiB).
func TestFrameAllocationFollowsReceivedBytes(t *testing.T) {
	s := NewServer(Config{Logger: quiet}, newFake().backend(false))
	defer s.Close()
	client, server := net.Pipe()
	done := make(chan error, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		cc := &clientConn{s: s, conn: server, log: s.log}
		done <- cc.serve(s.ctx)
	}()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 100<<20)
	if _, err := client.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write(make([]byte, 1<<10)); err != nil {
		t.Fatal(err)
	}
	client.Close()
	if err := <-done; err == nil {
		t.Fatal("a truncated frame did not end the connection")
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Fatalf("allocated %d MiB for a frame of which 1 KiB arrived", got>>20)
	}
}

// TestDecodeAllocationBounded checks what kmsg does with claimed array
// counts: kbin's ArrayLen refuses a count larger than the bytes left (an
// element takes at least one byte), so a decode allocates at most about
// the in-memory size of one element per byte received. For every request
// version we serve, a count at each position of a minimal request, claiming
// all the bytes that follow, must not allocate more than 32 times the
// frame (16 is measured today: string headers are 16 bytes). A kmsg
// upgrade that pre-allocated from counts unchecked would fail here.
func TestDecodeAllocationBounded(t *testing.T) {
	const pad = 16 << 10
	for _, k := range supportedKeys() {
		a := apis[k]
		for v := a.min; v <= a.max; v++ {
			req := kmsg.RequestForKey(k)
			req.SetVersion(v)
			base := req.AppendTo(nil)
			for i := 0; i <= len(base); i++ {
				for _, compact := range []bool{false, true} {
					body := append([]byte(nil), base[:i]...)
					if compact {
						body = binary.AppendUvarint(body, pad+1)
					} else {
						body = binary.BigEndian.AppendUint32(body, pad)
					}
					body = append(body, make([]byte, pad)...)
					var m0, m1 runtime.MemStats
					runtime.ReadMemStats(&m0)
					r := kmsg.RequestForKey(k)
					r.SetVersion(v)
					_ = r.ReadFrom(body)
					runtime.ReadMemStats(&m1)
					if got := m1.TotalAlloc - m0.TotalAlloc; got > 32*uint64(len(body)) {
						t.Fatalf("%s v%d, count at byte %d: decoding %d bytes allocated %d", kmsg.NameForKey(k), v, i, len(body), got)
					}
				}
			}
		}
	}
}
