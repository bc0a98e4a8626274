package server

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzBrokerFrames sends arbitrary request frames to a running broker: a
// frame may close its own connection, but the broker must stay up and
// keep answering on other connections.
func FuzzBrokerFrames(f *testing.F) {
	tb := startBroker(f)
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	seed := func(req kmsg.Request, v int16) {
		req.SetVersion(v)
		f.Add(formatter.AppendRequest(nil, req, 1)[4:])
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
	fetch.MaxWaitMillis = 1
	seed(fetch, 11)
	seed(kmsg.NewPtrListOffsetsRequest(), 5)
	seed(kmsg.NewPtrCreateTopicsRequest(), 5)
	seed(kmsg.NewPtrDescribeConfigsRequest(), 4)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := net.DialTimeout("tcp", tb.srv.KafkaAddr(), 5*time.Second)
		if err != nil {
			t.Fatalf("broker not accepting: %v", err)
		}
		defer c.Close()
		var size [4]byte
		binary.BigEndian.PutUint32(size[:], uint32(len(frame)))
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
	})
}
