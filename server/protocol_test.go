package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kbin"
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
	// Kafka's FetchManager looks an incremental request's session up
	// first: none, so FETCH_SESSION_ID_NOT_FOUND, also for id 0.
	if r := fetch(0, 3); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("epoch without session: error %d", r.ErrorCode)
	}
	// A full request closes the session it names (there is none): served.
	if r := fetch(-1, -1); r.ErrorCode != 0 || r.SessionID != 0 {
		t.Fatalf("sessionless fetch with id -1 (kafka-go): error %d session %d, want 0 and 0", r.ErrorCode, r.SessionID)
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

// compressedBatch builds a RecordBatch v2 whose records area is area, as
// compressed with codec, claiming n records, with a correct CRC.
func compressedBatch(codec recordbatch.Codec, area []byte, n int32) []byte {
	now := time.Now().UnixMilli()
	return recordbatch.AppendBatch(nil, recordbatch.Header{
		Attributes:      recordbatch.NewAttributes(codec, recordbatch.CreateTime, false, false),
		LastOffsetDelta: n - 1, BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: n,
	}, area)
}

// zstdFrames is n zstd frames of size zero bytes each, concatenated: a
// small input that decompresses to n*size bytes.
func zstdFrames(t *testing.T, size, n int) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(make([]byte, size), nil)
	return bytes.Repeat(frame, n)
}

// TestProduceValidatesCompressedBatches: a compressed batch is decompressed
// (within a bound) and its records checked before it is stored, as Kafka
// does. Garbage with a valid CRC would otherwise be stored and then stall
// tiering of the partition forever; a decompression bomb must be refused
// without the broker allocating what it expands to.
func TestProduceValidatesCompressedBatches(t *testing.T) {
	tb := startBroker(t)
	// The records of a one-record batch, to compress.
	records := recordbatch.AppendRecord(nil, 0, 0, nil, []byte("hello"), nil)
	zstdOf := func(b []byte) []byte {
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		return enc.EncodeAll(b, nil)
	}
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write([]byte("these bytes are no records, not even one of them"))
	gw.Close()
	const bombSize = 1 << 30
	bomb := zstdFrames(t, 8<<20, bombSize/(8<<20))
	// One record claiming (and holding) 1 GiB.
	bigRecord := append(zstdOf(kbin.AppendVarint(nil, bombSize-5)), bomb...)
	tests := []struct {
		name    string
		records []byte
		want    int16
	}{
		{"zstd", compressedBatch(recordbatch.CodecZstd, zstdOf(records), 1), 0},
		{"zstd garbage with a valid crc", compressedBatch(recordbatch.CodecZstd, []byte("not a zstd frame, just bytes"), 1), kerr.CorruptMessage.Code},
		{"gzip of garbage records", compressedBatch(recordbatch.CodecGzip, gz.Bytes(), 1), kerr.CorruptMessage.Code},
		{"zstd claiming two records, holding one", compressedBatch(recordbatch.CodecZstd, zstdOf(records), 2), kerr.InvalidRecord.Code},
		{"zstd bomb of 1 GiB of zeros", compressedBatch(recordbatch.CodecZstd, bomb, 1), kerr.CorruptMessage.Code},
		{"zstd bomb of one 1 GiB record", compressedBatch(recordbatch.CodecZstd, bigRecord, 1), kerr.CorruptMessage.Code},
	}
	rc := dialRaw(t, tb)
	for _, tc := range tests {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		code, _ := rc.produceRaw("compressed", tc.records)
		runtime.ReadMemStats(&after)
		t.Logf("%s: %d MiB allocated", tc.name, (after.TotalAlloc-before.TotalAlloc)>>20)
		if code != tc.want {
			t.Errorf("%s (%d bytes): error %v, want %v", tc.name, len(tc.records), kerr.ErrorForCode(code), kerr.ErrorForCode(tc.want))
		}
		// Produce streams a compressed batch's records and refuses a
		// record past the limit (64 MiB) before reading it: the memory
		// is the decoder's, not what the bomb expands to.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%s: %d MiB allocated while producing %d bytes", tc.name, alloc>>20, len(tc.records))
		}
	}
	// Only the good batch was stored.
	recs := consumeAll(t, tb, "compressed", 1)
	if string(recs[0].Value) != "hello" || recs[0].Offset != 0 {
		t.Fatalf("stored %q at %d", recs[0].Value, recs[0].Offset)
	}
}
