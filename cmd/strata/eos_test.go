package main

// Exactly-once consume-transform-produce across three `strata serve`
// processes, checked as Kafka's own EOS system tests check it: franz-go
// GroupTransactSessions copy an input topic to an output topic while the
// harness SIGKILLs the transaction coordinator, a partition leader and a
// client; afterwards a read_committed consumer must see every input's
// output exactly once, and nothing of the aborted attempts.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/placement"
)

// eosCopier is one GroupTransactSession copying in to out as "out-<v>".
type eosCopier struct {
	stop   context.CancelFunc
	done   chan struct{}
	txnID  string
	commit int
}

func startEOSCopier(ctx context.Context, t *testing.T, seeds []string, txnID, grp, in, out string, abandon <-chan struct{}) *eosCopier {
	ctx, stop := context.WithCancel(ctx)
	c := &eosCopier{stop: stop, done: make(chan struct{}), txnID: txnID}
	newSession := func() (*kgo.GroupTransactSession, error) {
		return kgo.NewGroupTransactSession(
			kgo.SeedBrokers(seeds...), kgo.RetryTimeout(2*time.Minute),
			kgo.TransactionalID(txnID), kgo.TransactionTimeout(30*time.Second),
			kgo.ConsumerGroup(grp), kgo.ConsumeTopics(in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
			kgo.DefaultProduceTopic(out), kgo.SessionTimeout(6*time.Second), kgo.FetchMaxPartitionBytes(4<<10),
		)
	}
	sess, err := newSession()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		defer func() { sess.Close() }()
		for ctx.Err() == nil {
			fs := sess.PollRecords(ctx, 50)
			if ctx.Err() != nil {
				return
			}
			if err := sess.Begin(); err != nil {
				// A session whose producer was fenced (its transaction
				// timed out while the cluster failed over) cannot go
				// on: as an application would, start a new one with
				// the same transactional id.
				t.Logf("%s begin: %v (a new session takes over)", txnID, err)
				sess.Close()
				if sess, err = newSession(); err != nil {
					t.Errorf("%s: new session: %v", txnID, err)
					return
				}
				continue
			}
			fs.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: append([]byte("out-"), r.Value...)}, nil)
			})
			select {
			case <-abandon:
				// The client dies in the middle of its transaction: no
				// EndTxn; the next producer of the id aborts it.
				return
			default:
			}
			committed, err := sess.End(ctx, kgo.TryCommit)
			if err != nil && ctx.Err() == nil {
				t.Logf("%s end: %v (aborted; the session retries)", txnID, err)
			}
			if committed {
				c.commit++
			}
		}
	}()
	return c
}

func (c *eosCopier) finish() int {
	c.stop()
	<-c.done
	return c.commit
}

// readCommittedFilters reports whether a read_committed consumer skips an
// aborted transaction: the probe that the verdict below rests on.
func readCommittedFilters(ctx context.Context, t *testing.T, seeds []string) bool {
	const topic = "eos-probe"
	p, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID("eos-probe"), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, commit := range []bool{false, true} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%v", commit)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		fs := c.PollFetches(fctx)
		if fctx.Err() != nil {
			t.Fatal("read_committed consumer saw nothing of the committed probe")
		}
		var first string
		fs.EachRecord(func(r *kgo.Record) {
			if first == "" {
				first = string(r.Value)
			}
		})
		if first != "" {
			return first == "true"
		}
	}
}

func TestEOSWithKills(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three broker processes; skipped with -short")
	}
	bin := clientsBuildStrata(t)
	procs := startProcCluster(t, bin, 3)
	var seeds []string
	for _, p := range procs {
		seeds = append(seeds, p.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	const in, out, grp, n = "eos-in", "eos-out", "eos-group", 3000
	for _, topic := range []string{in, out} {
		r, err := adm.CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
		if err != nil || r.Err != nil {
			t.Fatalf("create topic %s: %v %v", topic, err, r.Err)
		}
		waitFullISR(ctx, t, adm, topic, 3)
	}
	if !readCommittedFilters(ctx, t, seeds) {
		t.Fatal("a read_committed consumer shows an aborted transaction's record")
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(in), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%101), Value: fmt.Appendf(nil, "v%d", i)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	ids := []int32{1, 2, 3}
	abandon := make(chan struct{})
	a := startEOSCopier(ctx, t, seeds, "eos-a", grp, in, out, abandon)
	b := startEOSCopier(ctx, t, seeds, "eos-b", grp, in, out, nil)
	time.Sleep(3 * time.Second)

	coord := placement.Owner("eos-a", ids)
	t.Logf("SIGKILL broker %d (transaction coordinator of eos-a)", coord)
	procs[coord-1].kill(syscall.SIGKILL)
	time.Sleep(6 * time.Second)
	procs[coord-1].start()
	time.Sleep(3 * time.Second)

	victim := leaderOf(ctx, t, adm, out, 0)
	t.Logf("SIGKILL broker %d (leader of %s/0)", victim, out)
	procs[victim-1].kill(syscall.SIGKILL)
	time.Sleep(5 * time.Second)
	procs[victim-1].start()
	time.Sleep(2 * time.Second)

	t.Log("the client eos-a dies in the middle of a transaction; a new one takes its id")
	close(abandon)
	commits := a.finish()
	a2 := startEOSCopier(ctx, t, seeds, "eos-a", grp, in, out, nil)

	deadline := time.Now().Add(2 * time.Minute)
	for {
		offs, err := adm.FetchOffsets(ctx, grp)
		total := int64(0)
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) { total += max(o.At, 0) })
		}
		if total == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group committed %d of %d input records (%v)", total, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	commits += a2.finish() + b.finish()

	seen := map[string]int{}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var mu sync.Mutex
	for {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		fs := cons.PollFetches(fctx)
		timedOut := fctx.Err() != nil
		cancel()
		if timedOut {
			break
		}
		mu.Lock()
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		mu.Unlock()
	}
	var missing, dup []string
	for i := range n {
		v := fmt.Sprintf("out-v%d", i)
		switch seen[v] {
		case 1:
		case 0:
			missing = append(missing, v)
		default:
			dup = append(dup, fmt.Sprintf("%s x%d", v, seen[v]))
		}
	}
	if len(missing)+len(dup) > 0 || len(seen) != n {
		t.Fatalf("read_committed output: %d distinct, %d missing (%s), %d duplicated (%s)", len(seen), len(missing),
			strings.Join(missing[:min(10, len(missing))], " "), len(dup), strings.Join(dup[:min(10, len(dup))], ", "))
	}
	t.Logf("%d inputs, each output exactly once in read_committed, %d committed transactions", n, commits)
}
