package main

// Transactions on the data path against a real `strata serve` process:
// franz-go transactional producers whose transactions commit and abort
// interleaved across many segment rolls, read back in read_committed and
// read_uncommitted, and a SIGKILL of the broker while a transaction is
// open, after which the last stable offset must hold at that
// transaction's start until the coordinator aborts it.

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnClient is a franz-go transactional producer of topic.
func txnClient(t *testing.T, seeds []string, txnID, topic string, timeout time.Duration) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID(txnID), kgo.TransactionTimeout(timeout),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RetryTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func mustProduceSync(ctx context.Context, t *testing.T, cl *kgo.Client, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
}

// consumeUntil reads topic from the start with the isolation level until
// it sees last, and returns every value seen (in order).
func consumeUntil(ctx context.Context, t *testing.T, seeds []string, topic string, iso kgo.IsolationLevel, last string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso), kgo.FetchMaxPartitionBytes(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var seen []string
	for !slices.Contains(seen, last) {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("%d values read, %q not among them: %v", len(seen), last, rctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { seen = append(seen, string(r.Value)) })
	}
	return seen
}

// startTxnBroker starts one broker process (skipped with -short) and
// returns it, a context for the test and an admin client of it.
func startTxnBroker(t *testing.T) (*brokerProc, context.Context, *kgo.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a broker process; skipped with -short")
	}
	p := newBrokerProc(t, clientsBuildStrata(t))
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admCl.Close)
	return p, ctx, admCl
}

func TestTransactionsReadCommittedAcrossRollsAndKill(t *testing.T) {
	p, ctx, admCl := startTxnBroker(t)
	seeds := []string{p.addr}
	adm := kadm.NewClient(admCl)
	const topic = "txn-rolls"
	if r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1024")}, topic); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}

	// Two producers whose transactions overlap in the log: a's records
	// come before, between and after b's, and each aborts some rounds.
	a := txnClient(t, seeds, "txn-rolls-a", topic, time.Minute)
	b := txnClient(t, seeds, "txn-rolls-b", topic, time.Minute)
	committed, all := produceInterleaved(ctx, t, a, b, 12)
	checkIsolationLevels(ctx, t, seeds, topic, committed, all)
	segs, indexes := countSegmentFiles(t, p.dataDir, topic)
	if segs < 5 || indexes < 2 {
		t.Fatalf("%d segments, %d aborted-transaction indexes: the transactions did not span segment rolls", segs, indexes)
	}
	t.Logf("%d committed and %d aborted records over %d segments (%d with aborts), read_committed sees exactly the committed ones",
		len(committed), len(all)-len(committed), segs, indexes)

	// A transaction left open across a SIGKILL: its producer goes away
	// without ending it, b commits one record after it.
	open := txnClient(t, seeds, "txn-rolls-open", topic, 25*time.Second)
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	mustProduceSync(ctx, t, open, "open-0", "open-1")
	if err := b.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	mustProduceSync(ctx, t, b, "after-open")
	if err := b.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	open.Close()
	a.Close()
	b.Close()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	lso, _ := stable.Lookup(topic, 0)
	if lso.Offset >= end.Offset-2 {
		t.Fatalf("LSO %d with a transaction open below the end %d", lso.Offset, end.Offset)
	}
	openStart := describeOpenTxnStart(ctx, t, adm, topic)
	if openStart != lso.Offset {
		t.Fatalf("DescribeProducers says the open transaction starts at %d, the LSO is %d", openStart, lso.Offset)
	}

	p.kill(syscall.SIGKILL)
	p.start()
	stable, err = adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := stable.Lookup(topic, 0); after.Offset != lso.Offset {
		t.Fatalf("LSO %d after SIGKILL and restart, was %d with the transaction open", after.Offset, lso.Offset)
	}
	// A read_committed consumer now waits at the open transaction; once
	// the coordinator aborts it (its timeout), it reads on to
	// after-open, and never sees the open transaction's records.
	seen := consumeUntil(ctx, t, seeds, topic, kgo.ReadCommitted(), "after-open")
	if slices.Contains(seen, "open-0") || slices.Contains(seen, "open-1") {
		t.Fatalf("read_committed shows the records of the transaction aborted after the restart")
	}
	if got := describeOpenTxnStart(ctx, t, adm, topic); got != -1 {
		t.Fatalf("after the abort, DescribeProducers still shows a transaction open from %d", got)
	}
}

// produceInterleaved runs rounds of transactions of a and b whose records
// interleave (a's before, between and after b's), a aborting every third
// round and b every other, then a last committed transaction of b holding
// "end". It returns the committed values and all values.
func produceInterleaved(ctx context.Context, t *testing.T, a, b *kgo.Client, rounds int) (committed, all []string) {
	t.Helper()
	for round := range rounds {
		for _, cl := range []*kgo.Client{a, b} {
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
		}
		va := []string{fmt.Sprintf("a%d-0", round), fmt.Sprintf("a%d-1", round), fmt.Sprintf("a%d-2", round)}
		vb := []string{fmt.Sprintf("b%d-0", round), fmt.Sprintf("b%d-1", round)}
		mustProduceSync(ctx, t, a, va[0])
		mustProduceSync(ctx, t, b, vb...)
		mustProduceSync(ctx, t, a, va[1:]...)
		commitA, commitB := round%3 != 0, round%2 == 0
		for _, end := range []struct {
			cl     *kgo.Client
			commit bool
			values []string
		}{{b, commitB, vb}, {a, commitA, va}} {
			if err := end.cl.EndTransaction(ctx, kgo.TransactionEndTry(end.commit)); err != nil {
				t.Fatal(err)
			}
			if end.commit {
				committed = append(committed, end.values...)
			}
			all = append(all, end.values...)
		}
	}
	if err := b.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	mustProduceSync(ctx, t, b, "end")
	if err := b.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	return append(committed, "end"), append(all, "end")
}

// checkIsolationLevels reads topic in both isolation levels: read_committed
// must see exactly committed, read_uncommitted all.
func checkIsolationLevels(ctx context.Context, t *testing.T, seeds []string, topic string, committed, all []string) {
	t.Helper()
	gotCommitted := consumeUntil(ctx, t, seeds, topic, kgo.ReadCommitted(), "end")
	slices.Sort(gotCommitted)
	slices.Sort(committed)
	if !slices.Equal(gotCommitted, committed) {
		t.Fatalf("read_committed saw %d values %v,\nwant the %d committed ones %v", len(gotCommitted), gotCommitted, len(committed), committed)
	}
	gotAll := consumeUntil(ctx, t, seeds, topic, kgo.ReadUncommitted(), "end")
	slices.Sort(gotAll)
	slices.Sort(all)
	if !slices.Equal(gotAll, all) {
		t.Fatalf("read_uncommitted saw %d values, want all %d", len(gotAll), len(all))
	}
}

// countSegmentFiles counts the .log and .txnindex files of topic's
// partitions under dataDir.
func countSegmentFiles(t *testing.T, dataDir, topic string) (logs, txnIndexes int) {
	t.Helper()
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(path, topic) {
			return err
		}
		switch filepath.Ext(path) {
		case ".log":
			logs++
		case ".txnindex":
			txnIndexes++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return logs, txnIndexes
}

// describeOpenTxnStart is the start offset of the one open transaction on
// topic/0 that DescribeProducers shows, -1 if none is open.
func describeOpenTxnStart(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ds, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	start := int64(-1)
	n := 0
	ds.EachProducer(func(d kadm.DescribedProducer) {
		if d.CurrentTxnStartOffset >= 0 {
			start = d.CurrentTxnStartOffset
			n++
		}
	})
	if n > 1 {
		t.Fatalf("%d transactions open, want at most 1", n)
	}
	return start
}

// TestTransactionsReadCommittedFromColdTier: the same interleaved
// transactions on a topic whose local log keeps almost nothing once
// tiered, so that consumers reading from the start are served by the cold
// tier: read_committed still sees exactly the committed records (the
// aborted transactions come from the Parquet aborted column).
func TestTransactionsReadCommittedFromColdTier(t *testing.T) {
	p, ctx, admCl := startTxnBroker(t)
	seeds := []string{p.addr}
	const topic = "txn-cold"
	if r, err := kadm.NewClient(admCl).CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes": kadm.StringPtr("1024"), "local.retention.bytes": kadm.StringPtr("1"),
		"strata.tier.max.lag.ms": kadm.StringPtr("300"), "strata.tier.target.file.bytes": kadm.StringPtr("0"),
	}, topic); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	a := txnClient(t, seeds, "txn-cold-a", topic, time.Minute)
	b := txnClient(t, seeds, "txn-cold-b", topic, time.Minute)
	committed, all := produceInterleaved(ctx, t, a, b, 12)
	a.Close()
	b.Close()
	// Wait until the local log has let go of most of the partition.
	for {
		end, localStart := listOffset(ctx, t, admCl, topic, -1), listOffset(ctx, t, admCl, topic, -4)
		if localStart > end*3/4 {
			t.Logf("local log from %d of %d: the rest is served by the cold tier", localStart, end)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("local log still starts at %d of %d", localStart, end)
		case <-time.After(200 * time.Millisecond):
		}
	}
	checkIsolationLevels(ctx, t, seeds, topic, committed, all)
}

// listOffset answers ListOffsets (read_uncommitted) for topic/0 at ts.
func listOffset(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, ts int64) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		t.Fatalf("ListOffsets %d: %v", ts, kerr.ErrorForCode(sp.ErrorCode))
	}
	return sp.Offset
}
