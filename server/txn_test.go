package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/recordbatch"
)

// Transactions driven by hand, without a coordinator: a producer id from
// InitProducerId, transactional batches sent as raw Produce requests, and
// the markers a coordinator would write sent as WriteTxnMarkers from a
// connection authenticated as a broker.

// txnDriver drives raw transactions against one broker.
type txnDriver struct {
	t      *testing.T
	ctx    context.Context
	plain  *kgo.Client // an ordinary client
	broker *kgo.Client // authenticated as broker 1 (inter-broker requests)
	topic  string
	id     [16]byte // the topic's id (Fetch v13+)
}

func newTxnDriver(t *testing.T, tb *testBroker, topic string, partitions int32) *txnDriver {
	t.Helper()
	ctx := testCtx(t)
	secret, err := tb.srv.meta.ClusterSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &txnDriver{t: t, ctx: ctx, plain: tb.client(), topic: topic,
		broker: tb.client(kgo.SASL(plain.Auth{User: broker.InterBrokerUser(1), Pass: broker.InterBrokerPassword(secret, 1)}.AsMechanism()))}
	ct, err := kadm.NewClient(d.plain).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = ct.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	d.id = ct.ID
	return d
}

// txnProducer is one producer id and its per-partition sequences.
type txnProducer struct {
	txnID string
	id    int64
	epoch int16
	seq   map[int32]int32
}

// newProducer registers a transactional id with the coordinator (so that
// the leader's KIP-890 verification of a transactional produce passes
// once the partition is added, see produce), with the longest timeout,
// so that the coordinator does not abort while the test writes the
// markers itself.
func (d *txnDriver) newProducer() *txnProducer {
	d.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	txnID := fmt.Sprintf("%s-driver-%d", d.topic, time.Now().UnixNano())
	req.TransactionalID, req.TransactionTimeoutMillis = &txnID, 15*60*1000
	resp, err := req.RequestWith(d.ctx, d.plain)
	if err != nil || resp.ErrorCode != 0 {
		d.t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	return &txnProducer{txnID: txnID, id: resp.ProducerID, epoch: resp.ProducerEpoch, seq: map[int32]int32{}}
}

// addPartition adds part to p's transaction at the coordinator.
func (d *txnDriver) addPartition(p *txnProducer, part int32) {
	d.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = p.txnID, p.id, p.epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = d.topic, []int32{part}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(d.ctx, d.plain)
	if err != nil {
		d.t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		d.t.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
	}
}

// txnBatch builds one batch of values for p (transactional or not),
// advancing its sequence.
func txnBatch(p *txnProducer, part int32, transactional bool, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		recs = recordbatch.AppendRecord(recs, int32(i), 0, nil, []byte(v), nil)
	}
	now := time.Now().UnixMilli()
	h := recordbatch.Header{
		PartitionLeaderEpoch: -1,
		Attributes:           recordbatch.NewAttributes(recordbatch.CodecNone, recordbatch.CreateTime, transactional, false),
		LastOffsetDelta:      int32(len(values) - 1),
		BaseTimestamp:        now, MaxTimestamp: now,
		ProducerID: p.id, ProducerEpoch: p.epoch, BaseSequence: p.seq[part],
		NumRecords: int32(len(values)),
	}
	p.seq[part] += int32(len(values))
	return recordbatch.AppendBatch(nil, h, recs)
}

// produce sends values to part as one batch of p and returns the error
// code and base offset.
func (d *txnDriver) produce(p *txnProducer, part int32, transactional bool, values ...string) (int16, int64) {
	d.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	if transactional {
		d.addPartition(p, part)
		req.TransactionID = &p.txnID
	}
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = d.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = part, txnBatch(p, part, transactional, values...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(d.ctx, d.plain)
	if err != nil {
		d.t.Fatalf("produce: %v", err)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		// A refused batch did not take its sequence numbers.
		p.seq[part] -= int32(len(values))
	}
	return sp.ErrorCode, sp.BaseOffset
}

// mustProduce is produce that must succeed.
func (d *txnDriver) mustProduce(p *txnProducer, part int32, transactional bool, values ...string) int64 {
	d.t.Helper()
	code, off := d.produce(p, part, transactional, values...)
	if code != 0 {
		d.t.Fatalf("produce %v to partition %d: %v", values, part, kerr.ErrorForCode(code))
	}
	return off
}

// marker sends a WriteTxnMarkers for p on parts through cl and returns
// each partition's error code.
func (d *txnDriver) marker(cl *kgo.Client, p *txnProducer, commit bool, parts ...int32) []int16 {
	d.t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = p.id, p.epoch, commit, 0
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = d.topic, parts
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(d.ctx, cl.Broker(1))
	if err != nil {
		d.t.Fatalf("WriteTxnMarkers: %v", err)
	}
	var codes []int16
	for _, st := range resp.Markers[0].Topics {
		for _, sp := range st.Partitions {
			codes = append(codes, sp.ErrorCode)
		}
	}
	return codes
}

// end commits or aborts p's transaction on parts, as the coordinator does.
func (d *txnDriver) end(p *txnProducer, commit bool, parts ...int32) {
	d.t.Helper()
	for i, c := range d.marker(d.broker, p, commit, parts...) {
		if c != 0 {
			d.t.Fatalf("marker (commit %v) on partition %d: %v", commit, parts[i], kerr.ErrorForCode(c))
		}
	}
}

// TestWriteTxnMarkersOnlyFromBrokers: a client that is not a broker gets
// CLUSTER_AUTHORIZATION_FAILED and nothing is written; a broker's
// markers are appended as control batches after the transaction's
// records, each taking one offset.
func TestWriteTxnMarkersOnlyFromBrokers(t *testing.T) {
	tb := startBroker(t)
	d := newTxnDriver(t, tb, "txn-markers-auth", 2)
	p := d.newProducer()
	d.mustProduce(p, 0, true, "a", "b")
	if codes := d.marker(d.plain, p, true, 0, 1); len(codes) != 2 || codes[0] != kerr.ClusterAuthorizationFailed.Code || codes[1] != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("WriteTxnMarkers from a plain client: %v, want CLUSTER_AUTHORIZATION_FAILED twice", codes)
	}
	if end := d.listOffset(0, -1, 0); end != 2 {
		t.Fatalf("log end %d after a refused marker, want 2", end)
	}
	if codes := d.marker(d.broker, p, true, 0, 1, 9); codes[0] != 0 || codes[1] != 0 || codes[2] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("WriteTxnMarkers from a broker: %v, want none, none, UNKNOWN_TOPIC_OR_PARTITION", codes)
	}
	// Partition 0: a, b, the commit marker; partition 1: a marker alone
	// (no transaction was ongoing there; Kafka writes it all the same).
	if end := d.listOffset(0, -1, 0); end != 3 {
		t.Fatalf("partition 0 ends at %d, want 3 (two records and a marker)", end)
	}
	if end := d.listOffset(1, -1, 0); end != 1 {
		t.Fatalf("partition 1 ends at %d, want 1 (a marker)", end)
	}
	batches := d.rawFetch(0, 0, 0)
	if len(batches) != 2 {
		t.Fatalf("partition 0 holds %d batches, want 2", len(batches))
	}
	h, err := recordbatch.ParseHeader(batches[1])
	if err != nil {
		t.Fatal(err)
	}
	c, err := recordbatch.ParseControlBatch(h, batches[1])
	if err != nil || h.BaseOffset != 2 || h.ProducerID != p.id || c.Type != recordbatch.ControlCommit {
		t.Fatalf("second batch: offset %d, producer %d, control %+v (%v); want a commit marker of producer %d at 2", h.BaseOffset, h.ProducerID, c, err, p.id)
	}
}

// listOffset answers ListOffsets for part at ts with isolation level iso.
func (d *txnDriver) listOffset(part int32, ts int64, iso int8) int64 {
	d.t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = iso
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = d.topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = part, ts
	lt.Partitions = append(lt.Partitions, lp)
	req.Topics = append(req.Topics, lt)
	resp, err := req.RequestWith(d.ctx, d.plain)
	if err != nil {
		d.t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		d.t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	return sp.Offset
}

// rawFetch fetches part from offset with isolation level iso and returns
// the batches (split) of the answer.
func (d *txnDriver) rawFetch(part int32, offset int64, iso int8) [][]byte {
	d.t.Helper()
	sp := d.fetchPartition(part, offset, iso)
	var out [][]byte
	b := sp.RecordBatches
	for len(b) >= recordbatch.HeaderSize {
		h, _ := recordbatch.ParseHeader(b)
		out = append(out, b[:h.Size()])
		b = b[h.Size():]
	}
	return out
}

// fetchPartition is one Fetch of part from offset.
func (d *txnDriver) fetchPartition(part int32, offset int64, iso int8) kmsg.FetchResponseTopicPartition {
	d.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, iso
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = d.topic, d.id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = part, offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(d.ctx, d.plain.Broker(1))
	if err != nil {
		d.t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		d.t.Fatalf("fetch: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	return sp
}
