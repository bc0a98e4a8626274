package server

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzBrokerFrames sends arbitrary request frames to a running broker
// that runs with small request bounds (frame size, connections, idle time,
// fetch bytes, request timeout), under a size prefix that may lie (claim
// is the size sent; 0: the true one): a frame may close its own
// connection, but the broker must stay up, keep answering on other
// connections, and no handler may panic (a recovered panic is still a
// bug).
func FuzzBrokerFrames(f *testing.F) {
	tb := startBroker(f, func(c *Config) {
		c.SocketRequestMaxBytes = 1 << 20
		c.MaxConnections = 256
		c.ConnectionsMaxIdle = 2 * time.Second
		c.FetchMaxBytes = 64 << 10
		c.RequestTimeout = 2 * time.Second
	})
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	seed := func(req kmsg.Request, v int16) {
		req.SetVersion(v)
		frame := formatter.AppendRequest(nil, req, 1)[4:]
		f.Add(frame, uint32(0))
		f.Add(frame, uint32(100<<20)) // a size that promises far more than comes
	}
	meta := kmsg.NewPtrMetadataRequest()
	name := "fuzz"
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	meta.Topics = append(meta.Topics, mt)
	seed(meta, 9)
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = 1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "fuzz"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = rawBatch([]byte("seed"))
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)
	seed(produce, 9)
	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "fuzz"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fetch.MaxWaitMillis, fetch.MaxBytes = 1, 1<<31-1
	seed(fetch, 11)
	seed(kmsg.NewPtrListOffsetsRequest(), 5)
	seed(kmsg.NewPtrCreateTopicsRequest(), 5)
	seed(kmsg.NewPtrDescribeConfigsRequest(), 4)
	f.Fuzz(func(t *testing.T, frame []byte, claim uint32) {
		c, err := net.DialTimeout("tcp", tb.srv.KafkaAddr(), 5*time.Second)
		if err != nil {
			t.Fatalf("broker not accepting: %v", err)
		}
		defer c.Close()
		var size [4]byte
		if claim == 0 {
			claim = uint32(len(frame))
		}
		binary.BigEndian.PutUint32(size[:], claim)
		_, _ = c.Write(append(size[:], frame...))
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 1024)
		_, _ = c.Read(buf)
		// The broker still answers a well-formed request on a new connection.
		rc := &rawConn{t: t, conn: dialRaw(t, tb).conn}
		rc.send(kmsg.NewPtrApiVersionsRequest())
		resp := kmsg.NewPtrApiVersionsResponse()
		rc.recv(resp, 18)
		if resp.ErrorCode != 0 {
			t.Fatalf("api versions after fuzz frame: error %d", resp.ErrorCode)
		}
		if n := gathered(t, tb.srv.registry, "strata_kafka_request_panics_total"); n != 0 {
			t.Fatalf("a handler panicked (%v so far); the broker's log has the stack", n)
		}
	})
}

// gathered reads one counter or gauge of the broker's registry.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return sum
	}
	t.Fatalf("no metric %s", name)
	return 0
}
