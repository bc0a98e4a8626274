package server

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// idemBatch builds an uncompressed RecordBatch v2 from an idempotent
// producer, one record per value, first sequence seq.
func idemBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		recs = recordbatch.AppendRecord(recs, int32(i), 0, nil, []byte(v), nil)
	}
	now := time.Now().UnixMilli()
	return recordbatch.AppendBatch(nil, recordbatch.Header{
		LastOffsetDelta: int32(len(values) - 1), BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, NumRecords: int32(len(values)),
	}, recs)
}

// produceRaw sends one acks=all produce of records to topic/0 and returns
// the partition's error code and base offset.
func (rc *rawConn) produceRaw(topic string, records []byte) (int16, int64) {
	rc.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc.send(req)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Version = 9
	rc.recv(resp, 0)
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

func TestIdempotentProduceDeduplicates(t *testing.T) {
	tb := startBroker(t)
	const topic = "idem"
	rc := dialRaw(t, tb)
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 4
	init.TransactionTimeoutMillis = 60000
	rc.send(init)
	initResp := init.ResponseKind().(*kmsg.InitProducerIDResponse)
	initResp.Version = 4
	rc.recv(initResp, 22)
	if initResp.ErrorCode != 0 || initResp.ProducerID < 0 {
		t.Fatalf("InitProducerId: error %d, id %d", initResp.ErrorCode, initResp.ProducerID)
	}
	pid := initResp.ProducerID

	expect := func(rc *rawConn, what string, records []byte, code int16, offset int64) {
		t.Helper()
		gotCode, gotOffset := rc.produceRaw(topic, records)
		if gotCode != code || (code == 0 && gotOffset != offset) {
			t.Fatalf("%s: error %v offset %d, want error %v offset %d", what,
				kerr.ErrorForCode(gotCode), gotOffset, kerr.ErrorForCode(code), offset)
		}
	}
	b0 := idemBatch(pid, 0, 0, "a", "b")
	b1 := idemBatch(pid, 0, 2, "c")
	expect(rc, "first batch", b0, 0, 0)
	expect(rc, "second batch", b1, 0, 2)
	expect(rc, "retry of the first batch", b0, 0, 0)
	expect(rc, "retry of the second batch", b1, 0, 2)
	expect(rc, "gap", idemBatch(pid, 0, 5, "x"), kerr.OutOfOrderSequenceNumber.Code, 0)
	expect(rc, "next in order", idemBatch(pid, 0, 3, "d"), 0, 3)
	// A new epoch starts at sequence 0 and fences the old one.
	e1a := idemBatch(pid, 1, 0, "e", "f")
	e1b := idemBatch(pid, 1, 2, "g")
	expect(rc, "new epoch", e1a, 0, 4)
	expect(rc, "new epoch, second batch", e1b, 0, 6)
	expect(rc, "stale epoch", idemBatch(pid, 0, 4, "y"), kerr.InvalidProducerEpoch.Code, 0)
	expect(rc, "new epoch not at sequence 0", idemBatch(pid, 2, 7, "z"), kerr.OutOfOrderSequenceNumber.Code, 0)
	// Non-idempotent batches are never deduplicated.
	plain := rawBatch([]byte("h"))
	expect(rc, "plain batch", plain, 0, 7)
	expect(rc, "same plain batch", plain, 0, 8)

	// A batch claiming more records than max.message.bytes allows is
	// refused before it can take any offsets. (Compressed, so its
	// records are not walked; its claim alone is checked.)
	greedy := idemBatch(-1, -1, -1, "q")
	gh, _ := recordbatch.ParseHeader(greedy)
	gh.Attributes = recordbatch.NewAttributes(recordbatch.CodecGzip, recordbatch.CreateTime, false, false)
	gh.LastOffsetDelta, gh.NumRecords = math.MaxInt32-1, math.MaxInt32
	gh.Put(greedy)
	recordbatch.SetCRC(greedy)
	expect(rc, "batch claiming 2^31 records", greedy, kerr.InvalidRecord.Code, 0)

	// After a restart the state comes back from the log: a retry of a
	// batch acknowledged before it is still recognised, not just the last.
	tb.restart()
	rc = dialRaw(t, tb)
	expect(rc, "retry of an earlier batch after restart", e1a, 0, 4)
	expect(rc, "retry of the last batch after restart", e1b, 0, 6)
	expect(rc, "stale epoch after restart", idemBatch(pid, 0, 4, "y"), kerr.InvalidProducerEpoch.Code, 0)
	expect(rc, "gap after restart", idemBatch(pid, 1, 9, "w"), kerr.OutOfOrderSequenceNumber.Code, 0)
	expect(rc, "next in order after restart", idemBatch(pid, 1, 3, "i"), 0, 9)

	recs := consumeAll(t, tb, topic, 10)
	var got string
	for _, r := range recs {
		got += string(r.Value)
	}
	if got != "abcdefghhi" || len(recs) != 10 {
		t.Fatalf("stored %q (%d records), want abcdefghhi", got, len(recs))
	}
	for i, r := range recs {
		if r.Offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, r.Offset)
		}
	}
}
