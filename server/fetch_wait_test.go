package server

import (
	"context"
	"crypto/rand"
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

	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.SessionEpoch = 12, -1, -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 60_000, minBytes, 50<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
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
