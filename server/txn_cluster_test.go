package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/placement"
)

// eosWorker runs franz-go's GroupTransactSession: consume input, produce
// "out-<input value>" to output, commit offsets and output in one
// transaction, until ctx ends.
func eosWorker(ctx context.Context, t *testing.T, c *testCluster, txnID, grp, in, out string, commits *int, mu *sync.Mutex) {
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(c.seeds()...), kgo.RetryTimeout(60*time.Second),
		kgo.TransactionalID(txnID), kgo.TransactionTimeout(10*time.Second),
		kgo.ConsumerGroup(grp), kgo.ConsumeTopics(in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.DefaultProduceTopic(out), kgo.SessionTimeout(6*time.Second),
	)
	if err != nil {
		t.Error(err)
		return
	}
	defer sess.Close()
	for ctx.Err() == nil {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		if err := sess.Begin(); err != nil {
			t.Errorf("%s begin: %v", txnID, err)
			return
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: append([]byte("out-"), r.Value...)}, func(_ *kgo.Record, err error) {
				if err != nil && ctx.Err() == nil {
					t.Logf("%s produce: %v", txnID, err)
				}
			})
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil && ctx.Err() == nil {
			t.Logf("%s end: %v (the session aborts and retries)", txnID, err)
		}
		if committed {
			mu.Lock()
			*commits++
			mu.Unlock()
		}
	}
}

// TestTxnGroupTransactSession3Brokers: consume-transform-produce with two
// GroupTransactSessions over three brokers (input and output replicated
// on all three, the coordinators of the transactional ids, of the group
// and the partition leaders spread over the brokers, so markers,
// KIP-890 verification and group offsets cross brokers): every input
// record's output appears exactly once and the group's committed offsets
// reach the end of the input.
func TestTxnGroupTransactSession3Brokers(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t)
	adm := kadm.NewClient(c.client())
	const in, out, grp, n = "eos-in", "eos-out", "eos-group", 600
	for _, topic := range []string{in, out} {
		r, err := adm.CreateTopic(ctx, 6, 3, nil, topic)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			t.Fatal(err)
		}
		c.waitISR(ctx, topic, 3)
	}
	t.Logf("coordinators: txn-a on %d, txn-b on %d, group on %d", placement.Owner("eos-txn-a", []int32{1, 2, 3}),
		placement.Owner("eos-txn-b", []int32{1, 2, 3}), placement.Owner(grp, []int32{1, 2, 3}))
	prod := c.client(kgo.DefaultProduceTopic(in))
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%37), Value: fmt.Appendf(nil, "v%d", i)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	commits := 0
	for _, id := range []string{"eos-txn-a", "eos-txn-b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eosWorker(wctx, t, c, id, grp, in, out, &commits, &mu)
		}()
	}
	// Wait until the group has committed the whole input.
	deadline := time.Now().Add(60 * time.Second)
	for {
		offs, err := adm.FetchOffsets(ctx, grp)
		total := int64(0)
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) { total += o.At })
		}
		if total == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group committed %d of %d input records (%v)", total, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	wg.Wait()
	ends, _ := adm.ListEndOffsets(ctx, out)
	t.Logf("%d transactions committed; output end offsets %v", commits, ends)
	// Every input once in the output. (No attempt was aborted here, so
	// read_uncommitted shows exactly what committed.)
	seen := map[string]int{}
	cons := c.client(kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for len(seen) < n {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		fs := cons.PollFetches(fctx)
		timedOut := fctx.Err() != nil
		cancel()
		if timedOut {
			break
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	var missing, dup []string
	for i := range n {
		v := fmt.Sprintf("out-v%d", i)
		switch seen[v] {
		case 1:
		case 0:
			missing = append(missing, v)
		default:
			dup = append(dup, v)
		}
	}
	if len(missing)+len(dup) > 0 {
		t.Fatalf("%d outputs missing (%s), %d duplicated (%s)", len(missing), strings.Join(first(missing, 10), " "), len(dup), strings.Join(first(dup, 10), " "))
	}
	t.Logf("%d inputs, %d outputs, each once, in %d committed transactions", n, len(seen), commits)
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// waitTxnCoordinator waits until each of brokers answers FindCoordinator
// for transactional id id with broker want.
func (c *testCluster) waitTxnCoordinator(ctx context.Context, id string, want int32, brokers ...int32) {
	c.t.Helper()
	cl := c.client()
	for _, b := range brokers {
		var got int32 = -1
		for deadline := time.Now().Add(30 * time.Second); got != want; {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorType, req.CoordinatorKeys = 1, []string{id}
			if resp, err := req.RequestWith(ctx, cl.Broker(int(b))); err == nil && len(resp.Coordinators) == 1 && resp.Coordinators[0].ErrorCode == 0 {
				got = resp.Coordinators[0].NodeID
			}
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("broker %d names broker %d as the coordinator of %q; want %d", b, got, id, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestTxnCoordinatorFailover: the broker coordinating a transactional id
// stops in the middle of a transaction; the broker that owns the id next
// loads it from etcd (raising the coordinator epoch), and the producer's
// commit completes there, markers and all.
func TestTxnCoordinatorFailover(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t)
	adm := kadm.NewClient(c.client())
	const topic = "txn-failover"
	r, err := adm.CreateTopic(ctx, 3, 3, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	c.waitISR(ctx, topic, 3)
	// An id coordinated by broker 3, so that the client's seeds 1 and 2
	// stay up.
	var id string
	for i := 0; id == ""; i++ {
		if cand := fmt.Sprintf("failover-%d", i); placement.Owner(cand, []int32{1, 2, 3}) == 3 {
			id = cand
		}
	}
	// Every broker must name broker 3 first: one that has not seen it
	// register yet would coordinate the id itself, and the failover
	// below would test nothing.
	c.waitTxnCoordinator(ctx, id, 3, 1, 2, 3)
	p := c.client(kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(60*time.Second))
	if err := produceTxn(t, ctx, p, topic, 6, "before", true); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "during-%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	before, ok, err := c.broker(1).srv.meta.LoadTxn(ctx, id)
	if err != nil || !ok || before.State != "Ongoing" {
		t.Fatalf("etcd before failover: %+v %v %v; want Ongoing", before, ok, err)
	}
	t.Log("stopping broker 3, the coordinator")
	c.broker(3).stop()
	// The commit goes once the cluster has moved the id (broker 3's lease
	// gone): the client's retries to a dead coordinator are bounded, and
	// on a loaded machine the lease may outlast them.
	fresh := kadm.NewClient(c.client(kgo.SeedBrokers(c.brokers[0].cfg.Listen)))
	for deadline := time.Now().Add(30 * time.Second); ; {
		cs := fresh.FindTxnCoordinators(ctx, id)
		if co, ok := cs[id]; ok && co.Err == nil && co.NodeID != 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transactional id never left broker 3: %+v", cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after the coordinator's failover: %v", err)
	}
	// etcd says who completed it: CompleteCommit under a coordinator
	// epoch above broker 3's.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, ok, err := c.broker(1).srv.meta.LoadTxn(ctx, id)
		if err == nil && ok && st.State == "CompleteCommit" && st.CoordinatorEpoch > before.CoordinatorEpoch {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd after failover: %+v %v %v; want CompleteCommit with the coordinator epoch raised", st, ok, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// DescribeTransactions from a fresh client (a client that looked up
	// the coordinator while broker 3 was still registered keeps dialing it).
	ds, err := kadm.NewClient(c.client(kgo.SeedBrokers(c.brokers[0].cfg.Listen))).DescribeTransactions(ctx, id)
	var d kadm.DescribedTransaction
	if err == nil {
		d, err = ds.On(id, nil)
	}
	if err != nil || d.Err != nil || d.State != "CompleteCommit" || d.Coordinator == 3 {
		t.Fatalf("describe after failover: %+v, %v", d, err)
	}
	t.Logf("transaction committed by broker %d after failover", d.Coordinator)
}
