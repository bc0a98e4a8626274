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
	"github.com/twmb/franz-go/pkg/kgo"
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

func TestTransactionsReadCommittedAcrossRollsAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker process; skipped with -short")
	}
	bin := clientsBuildStrata(t)
	p := newBrokerProc(t, bin)
	p.start()
	seeds := []string{p.addr}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	const topic = "txn-rolls"
	if r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1024")}, topic); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}

	// Two producers whose transactions overlap in the log: a's records
	// come before, between and after b's, and each aborts some rounds.
	a := txnClient(t, seeds, "txn-rolls-a", topic, time.Minute)
	b := txnClient(t, seeds, "txn-rolls-b", topic, time.Minute)
	var committed, all []string
	for round := range 12 {
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
	committed, all = append(committed, "end"), append(all, "end")

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
