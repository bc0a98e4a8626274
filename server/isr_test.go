package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestISRExpansionKeepsHighWatermark: while the write that adds a caught-up
// follower to the ISR is in flight, the high watermark must count that
// follower (Kafka's maximal ISR, KIP-497). Otherwise the leader advances the
// high watermark past what the joining follower has, the follower enters
// the ISR without records below the high watermark, and electing it loses
// acknowledged records.
//
// Broker 2 is registered in etcd by the test, which plays its part as a
// follower with raw replica fetches (authenticated as broker 2), so it
// decides exactly when the follower catches up.
func TestISRExpansionKeepsHighWatermark(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.ReplicaLagMax = time.Second })
	ctx := testCtx(t)
	const topic = "isr-expand"
	f := playFollower(ctx, t, c, topic)
	// Broker 2 never fetched: it leaves the ISR after ReplicaLagMax.
	c.waitISR(ctx, topic, 1)
	f.produce(10)

	// The test authenticates as broker 2 (with the cluster secret), as
	// the real follower does: a replica fetch from anyone else is refused.
	follower := f.asBroker()
	// replicaFetch fetches as broker 2 and returns the offset after the
	// last record returned (offset when none).
	replicaFetch := func(offset int64) (next int64) {
		t.Helper()
		p := f.fetch(follower, offset)
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
		return next
	}
	followerLEO := int64(0)
	for followerLEO < 10 {
		followerLEO = replicaFetch(followerLEO)
	}
	// The follower has offsets [0, 10) and asks for 10: it is caught up,
	// and the leader starts writing the ISR {1, 2} to etcd. Records
	// produced now are not on broker 2.
	replicaFetch(followerLEO)
	f.produce(10)

	// Once broker 2 is in the ISR, the high watermark may not be above
	// what broker 2 has.
	deadline := time.Now().Add(20 * time.Second)
	for isr := isrOf(ctx, t, f.raw, topic); !slices.Contains(isr, 2); isr = isrOf(ctx, t, f.raw, topic) {
		if time.Now().After(deadline) {
			t.Fatalf("broker 2 never joined the ISR: %v", isr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if hw := f.highWatermark(); hw > followerLEO {
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
