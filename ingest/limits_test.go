package ingest

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest/ingesttest"
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
					// TotalAlloc counts the whole process: the least of
					// three decodes leaves out what ran beside them.
					got := uint64(math.MaxUint64)
					for range 3 {
						var m0, m1 runtime.MemStats
						runtime.ReadMemStats(&m0)
						r := kmsg.RequestForKey(k)
						r.SetVersion(v)
						_ = r.ReadFrom(body)
						runtime.ReadMemStats(&m1)
						got = min(got, m1.TotalAlloc-m0.TotalAlloc)
					}
					if got > 32*uint64(len(body)) {
						t.Fatalf("%s v%d, count at byte %d: decoding %d bytes allocated %d", kmsg.NameForKey(k), v, i, len(body), got)
					}
				}
			}
		}
	}
}

// serveTest runs s on a loopback listener and returns its address.
func serveTest(t *testing.T, s *Server) string {
	t.Helper()
	return serveListenerTest(t, s, ListenerOptions{})
}

// serveListenerTest is serveTest with a listener admitting as opts say.
func serveListenerTest(t *testing.T, s *Server, opts ListenerOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeListener(ln, opts)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

func dialTest(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// call sends req on c and reads its response; an error means the server
// closed the connection (or did not answer within 10 s).
func call(c net.Conn, req kmsg.Request) (kmsg.Response, error) {
	return ingesttest.Call(c, req, 10*time.Second)
}

// closedByServer reports whether the server closed c: a read sees EOF
// (not the 10 s deadline of a connection left open).
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// TestHandlerPanicClosesOnlyItsConnection makes a handler panic, on the
// request's goroutine (ElectLeaders) and on one a handler started
// (Produce's parallel appends): the server logs it, counts it, closes that
// connection and goes on serving the others.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	for _, tc := range []struct {
		method string
		req    kmsg.Request
	}{
		{"ElectLeader", kmsg.NewPtrElectLeadersRequest()},
		{"Append", produce(1, false, 0)()},
	} {
		t.Run(tc.method, func(t *testing.T) {
			f := newFake()
			f.errs[tc.method] = errPanic
			s := NewServer(Config{Logger: quiet}, f.backend(false))
			addr := serveTest(t, s)
			bystander, victim := dialTest(t, addr), dialTest(t, addr)
			if _, err := call(victim, tc.req); err == nil {
				t.Fatal("the panicking request was answered")
			}
			if !closedByServer(victim) {
				t.Fatal("the connection of the panicking request stays open")
			}
			if _, err := call(bystander, kmsg.NewPtrApiVersionsRequest()); err != nil {
				t.Fatalf("another connection after the panic: %v", err)
			}
			if n := counterValue(s.metrics.panics); n != 1 {
				t.Fatalf("strata_kafka_request_panics_total = %v, want 1", n)
			}
		})
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// TestFetchResponseBoundedByFetchMaxBytes: a client asking for 2 GiB over
// several partitions gets at most FetchMaxBytes of records (Kafka's
// fetch.max.bytes), and the first batch, which KIP-74 lets past the
// client's own limit, does not pass the server's.
func TestFetchResponseBoundedByFetchMaxBytes(t *testing.T) {
	const serverMax = 1000
	for _, tc := range []struct {
		name    string
		replica int32
		read    func(maxBytes int, minOneBatch bool) int
	}{
		{"consumer, batches within limits", -1, func(maxBytes int, _ bool) int { return min(maxBytes, 800) }},
		{"follower, batches within limits", 2, func(maxBytes int, _ bool) int { return min(maxBytes, 800) }},
		{"consumer, first batch over the server limit", -1, func(maxBytes int, minOne bool) int {
			if minOne {
				return 1500
			}
			return min(maxBytes, 800)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.fetchBytes = tc.read
			f.topics = append(f.topics, TopicInfo{Name: "big", ID: [16]byte{8}, Partitions: make([]PartitionInfo, 3)})
			s := NewServer(Config{Logger: quiet, FetchMaxBytes: serverMax}, f.backend(false))
			defer s.Close()
			req := fetch(12, func(r *kmsg.FetchRequest) {
				r.MaxBytes, r.ReplicaID = 1<<31-1, tc.replica
				r.Topics[0].Topic = "big"
				for i := range r.Topics[0].Partitions {
					r.Topics[0].Partitions[i].PartitionMaxBytes = 1 << 30
				}
			}, 0, 1, 2)()
			principal := Anonymous
			if tc.replica >= 0 {
				principal = brokerPrincipal(tc.replica)
			}
			resp, err := exchangeAs(t, s, principal, req)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, p := range resp.(*kmsg.FetchResponse).Topics[0].Partitions {
				if p.ErrorCode != 0 {
					t.Fatalf("partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
				total += len(p.RecordBatches)
			}
			if total > serverMax {
				t.Fatalf("fetch response carries %d bytes of records, fetch max bytes %d", total, serverMax)
			}
		})
	}
}
