package server

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/meta"
)

// playedFollower is broker 2 played by a test: registered in etcd and a
// replica of partition 0 of a topic that broker 1 leads, it fetches with
// raw replica fetches, so the test decides exactly when it catches up.
type playedFollower struct {
	t        *testing.T
	c        *testCluster
	ctx      context.Context
	topic    string
	topicID  [16]byte
	epoch    int32
	secret   []byte      // the cluster secret, to authenticate as broker 2
	raw      *kgo.Client // a plain client of broker 1
	producer *kgo.Client // acks=1 to partition 0
}

// playFollower registers broker 2 and creates topic with replicas {1, 2}.
func playFollower(ctx context.Context, t *testing.T, c *testCluster, topic string) *playedFollower {
	t.Helper()
	mc, err := meta.Dial(ctx, c.etcd.Endpoints(), "default")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	reg, err := mc.RegisterBroker(ctx, meta.BrokerInfo{ID: 2, Host: "127.0.0.1", Port: 1}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(context.Background()) })
	secret, err := mc.ClusterSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2}
	ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 10000
	cresp, err := create.RequestWith(ctx, c.client())
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(cresp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	leader := c.broker(1)
	f := &playedFollower{t: t, c: c, ctx: ctx, topic: topic, secret: secret, raw: leader.client(),
		producer: leader.client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
			kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))}
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, f.raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range md.Topics {
		if mt.Topic != nil && *mt.Topic == topic {
			f.topicID, f.epoch = mt.TopicID, mt.Partitions[0].LeaderEpoch
		}
	}
	return f
}

// asBroker returns a client that authenticates as broker 2, as the real
// follower does (SASL PLAIN with the credential derived from the cluster
// secret): the leader serves its replica fetches.
func (f *playedFollower) asBroker() *kgo.Client {
	return f.c.client(kgo.SASL(plain.Auth{User: broker.InterBrokerUser(2), Pass: broker.InterBrokerPassword(f.secret, 2)}.AsMechanism()))
}

func (f *playedFollower) produce(n int) {
	f.t.Helper()
	for i := 0; i < n; i++ {
		if err := f.producer.ProduceSync(f.ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			f.t.Fatalf("produce: %v", err)
		}
	}
}

// fetch sends a replica fetch as broker 2 from offset through cl and
// returns the partition's answer.
func (f *playedFollower) fetch(cl *kgo.Client, offset int64) kmsg.FetchResponseTopicPartition {
	f.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = 2
	req.ReplicaState.ID = 2 // where v15+ carries it
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = f.topic, f.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, offset, 1<<20, f.epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(f.ctx, cl.Broker(1))
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// highWatermark is what ListOffsets(latest) answers for partition 0.
func (f *playedFollower) highWatermark() int64 {
	f.t.Helper()
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = f.topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lresp, err := lo.RequestWith(f.ctx, f.raw.Broker(1))
	if err != nil {
		f.t.Fatal(err)
	}
	p := lresp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		f.t.Fatalf("list offsets: %v", err)
	}
	return p.Offset
}
