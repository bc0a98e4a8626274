package server

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchCounter counts the Fetch responses a client receives.
type fetchCounter struct{ n atomic.Int64 }

func (c *fetchCounter) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key == 1 && e2e.Err() == nil {
		c.n.Add(1)
	}
}

// TestFetchMinBytesFewerResponses: against a slow producer, a consumer
// with fetch.min.bytes 10 MiB and max wait 500 ms gets its records in a
// few responses, each after about MaxWait, where a consumer with
// fetch.min.bytes 1 gets about one response per record. Both see every
// record in order. Counts are compared as a ratio within one run.
func TestFetchMinBytesFewerResponses(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic = "minbytes"
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	type consumer struct {
		name     string
		minBytes int32
		fetches  fetchCounter
		cl       *kgo.Client
		values   []string
		done     chan struct{}
	}
	cons := []*consumer{{name: "min 1 B", minBytes: 1}, {name: "min 10 MiB", minBytes: 10 << 20}}
	for _, c := range cons {
		c.done = make(chan struct{})
		c.cl = tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMinBytes(c.minBytes), kgo.FetchMaxWait(500*time.Millisecond), kgo.WithHooks(&c.fetches))
	}
	// A 2 s window of one small record every 50 ms.
	const records = 40
	window, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, c := range cons {
		go func() {
			defer close(c.done)
			for len(c.values) < records && window.Err() == nil {
				fs := c.cl.PollFetches(window)
				fs.EachRecord(func(r *kgo.Record) { c.values = append(c.values, string(r.Value)) })
			}
		}()
	}
	// Paced by a ticker, not by the produce round trips, so that the
	// window stays about 2 s on a loaded machine.
	prod := tb.client(kgo.DefaultProduceTopic(topic))
	var want []string
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := range records {
		<-tick.C
		v := string(rune('A'+i%26)) + string(rune('0'+i/26))
		want = append(want, v)
		prod.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range cons {
		<-c.done
		if len(c.values) != records {
			t.Fatalf("%s: consumed %d of %d records", c.name, len(c.values), records)
		}
		for i := range want {
			if c.values[i] != want[i] {
				t.Fatalf("%s: record %d is %q, want %q", c.name, i, c.values[i], want[i])
			}
		}
	}
	small, large := cons[0].fetches.n.Load(), cons[1].fetches.n.Load()
	t.Logf("fetch responses over %d records: %d with min 1 B, %d with min 10 MiB", records, small, large)
	// About 40 against about 4-5 (2 s / 500 ms); a factor 3 is generous.
	if large*3 > small {
		t.Fatalf("min 10 MiB got %d fetch responses, min 1 B %d: MinBytes does not hold responses back", large, small)
	}
}

// TestTransactionalProducerFailsFast: without transactions, a producer
// with a transactional id gets a non-retriable error for its coordinator
// and surfaces it, instead of retrying COORDINATOR_NOT_AVAILABLE until
// its retry timeout gives up.
func TestTransactionalProducerFailsFast(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	prod := tb.client(kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("txn"), kgo.RetryTimeout(5*time.Minute))
	// kgo initializes its producer id in BeginTransaction (older
	// versions at the first produce) and reports the failure as the
	// producer id's fatal error, by message.
	err := prod.BeginTransaction()
	if err == nil {
		err = prod.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
	}
	if err == nil || !strings.Contains(err.Error(), kerr.TransactionalIDAuthorizationFailed.Message) {
		t.Fatalf("transactional produce: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the producer waited out the test's context")
	}
}
