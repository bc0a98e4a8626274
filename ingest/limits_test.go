package ingest

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"
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
