package ingest

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIdleConnectionsClose: a connection that sends nothing for
// ConnectionsMaxIdle is closed (Kafka's connections.max.idle.ms).
func TestIdleConnectionsClose(t *testing.T) {
	s := NewServer(Config{Logger: quiet, ConnectionsMaxIdle: 50 * time.Millisecond}, newFake().backend(false))
	c := dialTest(t, serveTest(t, s))
	if _, err := call(c, kmsg.NewPtrApiVersionsRequest()); err != nil {
		t.Fatal(err)
	}
	if !closedByServer(c) {
		t.Fatal("an idle connection stays open")
	}
}

// TestMaxConnections: past MaxConnections a new connection is closed at
// once (Kafka's max.connections) and the open ones keep working.
func TestMaxConnections(t *testing.T) {
	s := NewServer(Config{Logger: quiet, MaxConnections: 2}, newFake().backend(false))
	addr := serveTest(t, s)
	a, b := dialTest(t, addr), dialTest(t, addr)
	for _, c := range []net.Conn{a, b} {
		if _, err := call(c, kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
	}
	extra := dialTest(t, addr)
	if _, err := call(extra, kmsg.NewPtrApiVersionsRequest()); err == nil {
		t.Fatal("a third connection was served with max connections 2")
	}
	if _, err := call(a, kmsg.NewPtrApiVersionsRequest()); err != nil {
		t.Fatalf("an admitted connection after the refusal: %v", err)
	}
	if n := counterValue(s.metrics.refused); n != 1 {
		t.Fatalf("strata_kafka_connections_refused_total = %v, want 1", n)
	}
}
