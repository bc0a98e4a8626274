package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// TestISRExpansionKeepsHighWatermark: while the write that adds a caught-up
// follower to the ISR is in flight, the high watermark must count that
// follower (Kafka's maximal ISR, KIP-497). Otherwise the leader advances the
// high watermark past what the joining follower has, the follower enters
// the ISR without records below the high watermark, and electing it loses
// acknowledged records.
//
// Broker 2 is registered in etcd by the test, which plays its part as a
// follower with raw replica fetches, so it decides exactly when the
// follower catches up.
func TestISRExpansionKeepsHighWatermark(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.ReplicaLagMax = time.Second })
	ctx := testCtx(t)
	mc, err := meta.Dial(ctx, c.etcd.Endpoints(), "default")
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	reg, err := mc.RegisterBroker(ctx, meta.BrokerInfo{ID: 2, Host: "127.0.0.1", Port: 1}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	cl := c.client()
	const topic = "isr-expand"
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2}
	ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 10000
	cresp, err := create.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(cresp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	// Broker 2 never fetched: it leaves the ISR after ReplicaLagMax.
	c.waitISR(ctx, topic, 1)

	leader := c.broker(1)
	producer := leader.client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	produce(10)

	raw := leader.client()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var topicID [16]byte
	var epoch int32
	for _, mt := range md.Topics {
		if mt.Topic != nil && *mt.Topic == topic {
			topicID, epoch = mt.TopicID, mt.Partitions[0].LeaderEpoch
		}
	}
	// replicaFetch fetches as broker 2 and returns the high watermark and
	// the offset after the last record returned (offset when none).
	replicaFetch := func(offset int64) (hw, next int64) {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = 2
		req.ReplicaState.ID = 2 // where v15+ carries it
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, offset, 1<<20, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, raw.Broker(1))
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("replica fetch at %d: %v", offset, err)
		}
		next = offset
		for rest := p.RecordBatches; len(rest) > 0; {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(rest); err != nil {
				t.Fatalf("replica fetch at %d: batch: %v", offset, err)
			}
			next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
			rest = rest[12+int(b.Length):]
		}
		return p.HighWatermark, next
	}
	followerLEO := int64(0)
	for followerLEO < 10 {
		_, followerLEO = replicaFetch(followerLEO)
	}
	// The follower has offsets [0, 10) and asks for 10: it is caught up,
	// and the leader starts writing the ISR {1, 2} to etcd. Records
	// produced now are not on broker 2.
	replicaFetch(followerLEO)
	produce(10)

	// Once broker 2 is in the ISR, the high watermark may not be above
	// what broker 2 has.
	deadline := time.Now().Add(20 * time.Second)
	for isr := isrOf(ctx, t, raw, topic); !slices.Contains(isr, 2); isr = isrOf(ctx, t, raw, topic) {
		if time.Now().After(deadline) {
			t.Fatalf("broker 2 never joined the ISR: %v", isr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lresp, err := lo.RequestWith(ctx, raw.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	if hw := lresp.Topics[0].Partitions[0].Offset; hw > followerLEO {
		t.Fatalf("high watermark %d with broker 2 in the ISR holding only [0, %d): an election of broker 2 would lose acknowledged records", hw, followerLEO)
	}
}

// isrOf returns the ISR of partition 0 of topic that metadata reports.
func isrOf(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) []int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("metadata of %s: %+v", topic, resp.Topics)
	}
	return resp.Topics[0].Partitions[0].ISR
}
