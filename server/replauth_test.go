package server

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestForgedReplicaFetchRefused: a plain client that sends a Fetch naming
// a follower's replica id is not that follower. Kafka requires ClusterAction
// on the cluster for a replica fetch and answers TOPIC_AUTHORIZATION_FAILED
// per partition otherwise; the forged fetch must not move the high
// watermark (which counts the follower's progress) nor the ISR.
func TestForgedReplicaFetchRefused(t *testing.T) {
	// Broker 2 stays in the ISR for the whole test.
	c := startCluster(t, 1, func(cfg *Config) { cfg.ReplicaLagMax = time.Hour })
	ctx := testCtx(t)
	f := playFollower(ctx, t, c, "forged-fetch")
	f.produce(5)
	// Broker 2 is in the ISR and has fetched nothing: nothing is committed.
	if hw := f.highWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before broker 2 fetched, want 0", hw)
	}
	// A client claims to be broker 2 and to hold all five records.
	got := f.fetch(c.client(), 5)
	if hw := f.highWatermark(); hw != 0 {
		t.Errorf("a forged replica fetch moved the high watermark to %d", hw)
	}
	if isr := isrOf(ctx, t, f.raw, f.topic); !slices.Equal(isr, []int32{1, 2}) {
		t.Errorf("ISR %v after a forged replica fetch, want [1 2]", isr)
	}
	if got.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(got.RecordBatches) != 0 {
		t.Errorf("forged replica fetch answered %v with %d bytes of records, want TOPIC_AUTHORIZATION_FAILED and none",
			kerr.ErrorForCode(got.ErrorCode), len(got.RecordBatches))
	}
	// The same fetch from broker 2 itself, authenticated, moves it.
	if got := f.fetch(f.asBroker(), 5); got.ErrorCode != 0 {
		t.Fatalf("replica fetch as broker 2: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if hw := f.highWatermark(); hw != 5 {
		t.Errorf("high watermark %d after broker 2 fetched at 5, want 5", hw)
	}
}
