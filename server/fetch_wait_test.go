package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest/ingesttest"
)

// TestFetchMinBytesReadsOnce: a Fetch waiting for MinBytes against a
// producer of small batches counts what arrives instead of reading the
// partition again from its fetch offset at every append. The broker's
// strata_log_fetched_bytes_total shows what it read: about twice what the
// answer holds (once while waiting, once for the answer). Before, it read
// every accumulated byte again at each of the ~256 appends (about a
// hundred times the answer). MaxWait is 60 s: a wait that missed the
// appends would time the test out, not pass it slowly.
func TestFetchMinBytesReadsOnce(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic, minBytes, records = "minbytes-reads", 256 << 10, 400
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	read0 := fetchedBytesMetric(t, tb)
	prod := tb.client(kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for range records {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
			v := make([]byte, 1024)
			_, _ = rand.Read(v)
			if err := prod.ProduceSync(pctx, &kgo.Record{Value: v}).FirstErr(); err != nil && pctx.Err() == nil {
				t.Error(err)
				return
			}
		}
	}()

	req := waitingFetch(topic, minBytes, 50<<20, 0)
	c, err := net.Dial("tcp", tb.srv.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := ingesttest.Call(c, req, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	<-produced
	p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	returned := len(p.RecordBatches)
	if p.ErrorCode != 0 || returned < minBytes {
		t.Fatalf("answer: error %d, %d bytes; want MinBytes (%d)", p.ErrorCode, returned, minBytes)
	}
	read := fetchedBytesMetric(t, tb) - read0
	t.Logf("MinBytes %d: answered with %d bytes, %d read from the log (%.1fx)", minBytes, returned, read, float64(read)/float64(returned))
	if read > 3*int64(returned) {
		t.Fatalf("the broker read %d bytes from the log to answer %d: the wait reads the partition again at each append", read, returned)
	}
}

// waitingFetch is a consumer Fetch v12 of partition 0 from offset 0 that
// may wait a minute for minBytes, at isolation level isolation.
func waitingFetch(topic string, minBytes, maxBytes int32, isolation int8) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.SessionEpoch, req.IsolationLevel = 12, -1, -1, isolation
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 60_000, minBytes, maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchedBytesMetric is strata_log_fetched_bytes_total.
func fetchedBytesMetric(t *testing.T, tb *testBroker) int64 {
	t.Helper()
	for line := range strings.SplitSeq(metricsBody(t, tb), "\n") {
		if v, ok := strings.CutPrefix(line, "strata_log_fetched_bytes_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f)
		}
	}
	t.Fatal("no strata_log_fetched_bytes_total in /metrics")
	return 0
}

// TestFetchReadCommittedWaitsForStableBytes: a read_committed Fetch at
// the last stable offset, with a transaction open above it, waits for
// bytes below the LSO, as Kafka's DelayedFetch counts them: it is
// answered with the transaction's records once it commits, not at once
// and empty because uncommitted bytes were there (which made a
// read_committed consumer poll in a loop while a transaction was open).
func TestFetchReadCommittedWaitsForStableBytes(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic = "minbytes-lso"
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	txp := tb.client(kgo.TransactionalID("lso-wait"), kgo.DefaultProduceTopic(topic))
	if err := txp.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce := func(n int) {
		for i := range n {
			if err := txp.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("open-%d", i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(5)
	read0 := fetchedBytesMetric(t, tb)

	req := waitingFetch(topic, 1, 1<<20, 1)
	c, err := net.Dial("tcp", tb.srv.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := make(chan kmsg.Response, 1)
	go func() {
		resp, err := ingesttest.Call(c, req, 90*time.Second)
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	produce(60) // appends above the LSO while the fetch waits
	if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	resp := <-answered
	if resp == nil {
		t.FailNow()
	}
	p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("read_committed fetch answered with error %d and %d record bytes (LSO %d, HW %d): want the committed transaction", p.ErrorCode, len(p.RecordBatches), p.LastStableOffset, p.HighWatermark)
	}
	// Waiting, the broker reads what arrives once, not the open
	// transaction's bytes over and over.
	read, returned := fetchedBytesMetric(t, tb)-read0, int64(len(p.RecordBatches))
	t.Logf("answered with %d bytes, %d read from the log (%.1fx)", returned, read, float64(read)/float64(returned))
	if read > 10*returned {
		t.Fatalf("the broker read %d bytes from the log to answer %d: the wait counted bytes above the last stable offset", read, returned)
	}
}
