package server

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// rawConn speaks the Kafka protocol by hand, to send what no well-behaved
// client would.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	corr int32
}

func dialRaw(t *testing.T, tb *testBroker) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tb.srv.KafkaAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c}
}

func (rc *rawConn) send(req kmsg.Request) {
	rc.t.Helper()
	rc.corr++
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, rc.corr)
	rc.write(frame)
}

func (rc *rawConn) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.conn.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// recv reads one response into resp (already set to the expected version).
func (rc *rawConn) recv(resp kmsg.Response, key int16) {
	rc.t.Helper()
	body, err := rc.readFrame()
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != rc.corr {
		rc.t.Fatalf("correlation id %d, want %d", got, rc.corr)
	}
	body = body[4:]
	if resp.IsFlexible() && key != 18 {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decode %T: %v", resp, err)
	}
}

func (rc *rawConn) readFrame() ([]byte, error) {
	_ = rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.conn, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(rc.conn, body)
	return body, err
}

// expectClosed checks that the broker closed the connection.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	if _, err := rc.readFrame(); err == nil {
		rc.t.Fatal("connection still open, want it closed")
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			rc.t.Fatal("connection still open (read timed out), want it closed")
		}
	}
}

func TestApiVersions(t *testing.T) {
	tb := startBroker(t)
	for v := int16(0); v <= 3; v++ {
		rc := dialRaw(t, tb)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
		rc.send(req)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = v
		rc.recv(resp, 18)
		if resp.ErrorCode != 0 || len(resp.ApiKeys) < 10 {
			t.Fatalf("v%d: error %d, %d keys", v, resp.ErrorCode, len(resp.ApiKeys))
		}
	}
	// A version from the future gets UNSUPPORTED_VERSION in a v0 response
	// with our ranges (KIP-511), on a connection that stays usable.
	rc := dialRaw(t, tb)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
	binary.BigEndian.PutUint16(frame[6:], 99) // api version field
	rc.corr = 1
	rc.write(frame)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	rc.recv(resp, 18)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error code %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	var produceMax int16 = -1
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 0 {
			produceMax = k.MaxVersion
		}
	}
	if produceMax < 7 {
		t.Fatalf("produce max version %d in the fallback response", produceMax)
	}
}

func TestUnsupportedVersionGetsErrorCode(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb)
	// Produce v2 predates RecordBatch v2; we do not offer it.
	req := kmsg.NewPtrProduceRequest()
	req.Version = 2
	req.Acks = 1
	req.TimeoutMillis = 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc.send(req)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Version = 2
	rc.recv(resp, 0)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("response %+v, want UNSUPPORTED_VERSION for t/0", resp.Topics)
	}
	// Flexible versions too: Metadata v13 is beyond what we offer.
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 13
	name := "t"
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	mreq.Topics = append(mreq.Topics, mt)
	rc.send(mreq)
	mresp := mreq.ResponseKind().(*kmsg.MetadataResponse)
	mresp.Version = 13
	rc.recv(mresp, 3)
	if mresp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("metadata v13 error %d, want UNSUPPORTED_VERSION", mresp.ErrorCode)
	}
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	tb := startBroker(t)
	cases := map[string][]byte{
		"huge frame":      {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"negative size":   {0xff, 0xff, 0xff, 0xf0},
		"tiny frame":      {0, 0, 0, 2, 0, 1},
		"unknown api key": append([]byte{0, 0, 0, 10}, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff),
		"truncated body":  append([]byte{0, 0, 0, 12}, 0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0, 0),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, tb)
			rc.write(frame)
			rc.expectClosed()
		})
	}
	// The broker is still fine.
	rc := dialRaw(t, tb)
	req := kmsg.NewPtrApiVersionsRequest()
	rc.send(req)
	resp := kmsg.NewPtrApiVersionsResponse()
	rc.recv(resp, 18)
	if resp.ErrorCode != 0 {
		t.Fatalf("api versions after garbage: %d", resp.ErrorCode)
	}
}

func TestFetchSessionsRefused(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb)
	fetch := func(id, epoch int32) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.SessionID, req.SessionEpoch = id, epoch
		req.MaxWaitMillis = 10
		rc.send(req)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.Version = 12
		rc.recv(resp, 1)
		return resp
	}
	if r := fetch(0, 0); r.ErrorCode != 0 || r.SessionID != 0 {
		t.Fatalf("new session request: error %d session %d, want 0 and 0 (no session)", r.ErrorCode, r.SessionID)
	}
	if r := fetch(1234, 1); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", r.ErrorCode)
	}
	if r := fetch(0, 3); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("epoch without session: error %d", r.ErrorCode)
	}
}

// rawBatch builds an uncompressed RecordBatch v2 with one record.
func rawBatch(value []byte) []byte { return idemBatch(-1, -1, -1, string(value)) }

func TestProduceRejectsCorruptBatches(t *testing.T) {
	tb := startBroker(t)
	good := rawBatch([]byte("hello"))
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 0xff
	badMagic := append([]byte(nil), good...)
	mh, _ := recordbatch.ParseHeader(badMagic)
	mh.Magic = 1
	mh.Put(badMagic)
	tests := []struct {
		name    string
		records []byte
		want    int16
	}{
		{"good", good, 0},
		{"bad crc", badCRC, kerr.CorruptMessage.Code},
		{"truncated", good[:len(good)-3], kerr.CorruptMessage.Code},
		{"magic 1", badMagic, kerr.InvalidRecord.Code},
		{"garbage", []byte("this is not a record batch at all, not even close to one......"), kerr.CorruptMessage.Code},
	}
	rc := dialRaw(t, tb)
	for _, tc := range tests {
		req := kmsg.NewPtrProduceRequest()
		req.Version = 9
		req.Acks = -1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "corrupt"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = tc.records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rc.send(req)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = 9
		rc.recv(resp, 0)
		got := resp.Topics[0].Partitions[0].ErrorCode
		if got != tc.want {
			t.Errorf("%s: error %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
	// Only the good batch was stored.
	recs := consumeAll(t, tb, "corrupt", 1)
	if string(recs[0].Value) != "hello" || recs[0].Offset != 0 {
		t.Fatalf("stored %q at %d", recs[0].Value, recs[0].Offset)
	}
}
