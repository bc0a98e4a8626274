package server

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// TestKafkaWideTopicAndCommit: the embedded etcd runs with etcd's default
// limits (128 operations per transaction, 1.5 MiB per request), as a stock
// etcd does; a topic of 10,000 partitions and an OffsetCommit of 5,000
// partitions still work through a real client.
//
// The partitions are placed on a second broker that is only registered in
// etcd: 10,000 local partitions would need 30,000 open files (a segment, its
// index and its time index each), more than the test machine allows one
// process; what is tested here is the metadata.
func TestKafkaWideTopicAndCommit(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin()
	ctx := testCtx(t)
	const topic, partitions = "wide", 10_000

	reg, err := tb.srv.meta.RegisterBroker(ctx, meta.BrokerInfo{ID: 2, Host: "127.0.0.1", Port: 1}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(ctx)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 60_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p := range int32(partitions) {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{2}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, tb.client())
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create topic of %d partitions: %v", partitions, err)
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	td := md.Topics[topic]
	if td.Err != nil || len(td.Partitions) != partitions {
		t.Fatalf("metadata: %d partitions (%v), want %d", len(td.Partitions), td.Err, partitions)
	}
	for p, pd := range td.Partitions {
		if pd.Partition != p || pd.Leader != 2 || len(pd.Replicas) != 1 {
			t.Fatalf("partition %d: %+v", p, pd)
		}
	}
	// A retry of the same creation is told the topic exists.
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	// The group must live on broker 1 (broker 2 does not answer); the
	// coordinator is chosen by hashing the group id.
	group := ""
	for i := 0; group == ""; i++ {
		g := fmt.Sprintf("wide-%d", i)
		co := adm.FindGroupCoordinators(ctx, g)[g]
		if co.Err != nil {
			t.Fatal(co.Err)
		}
		if co.NodeID == 1 {
			group = g
		}
	}
	const committed = 5_000
	offsets := kadm.Offsets{}
	for p := range int32(committed) {
		offsets.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(p) + 7, LeaderEpoch: -1})
	}
	cresp, err := adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = cresp.Error()
	}
	if err != nil {
		t.Fatalf("commit %d offsets: %v", committed, err)
	}
	n := 0
	cresp.Each(func(o kadm.OffsetResponse) { n++ })
	if n != committed {
		t.Fatalf("%d of %d commits acknowledged", n, committed)
	}
	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil || o.At != int64(o.Partition)+7 {
			t.Fatalf("fetched %s-%d at %d (%v), want %d", o.Topic, o.Partition, o.At, o.Err, o.Partition+7)
		}
		got++
	})
	if got != committed {
		t.Fatalf("fetched %d committed offsets, want %d", got, committed)
	}
}
