package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta/embedetcd"
	"github.com/stratalog/strata/recordbatch"
)

// testCluster is several in-process brokers sharing one real etcd.
type testCluster struct {
	t       *testing.T
	etcd    *embedetcd.Server
	brokers []*testBroker
}

func startCluster(t *testing.T, n int, mutate ...func(*Config)) *testCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, etcd: e}
	store := "file://" + filepath.Join(t.TempDir(), "objects") // one cold tier for the cluster
	for i := 1; i <= n; i++ {
		c.brokers = append(c.brokers, startBroker(t, func(cfg *Config) {
			cfg.BrokerID = int32(i)
			cfg.EtcdEndpoints = e.Endpoints()
			cfg.ObjectStore = store
			cfg.BrokerTTL = 2 * time.Second
			cfg.ReplicaLagMax = 3 * time.Second
			for _, m := range mutate {
				m(cfg)
			}
		}))
	}
	t.Cleanup(func() {
		for _, b := range c.brokers {
			b.stop()
		}
		e.Close()
	})
	return c
}

func (c *testCluster) seeds() []string {
	var out []string
	for _, b := range c.brokers {
		out = append(out, b.cfg.Listen)
	}
	return out
}

func (c *testCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...), kgo.RetryTimeout(60 * time.Second)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// waitISR waits until every partition of topic has n in-sync replicas and
// a leader.
func (c *testCluster) waitISR(ctx context.Context, topic string, n int) kadm.TopicDetail {
	c.t.Helper()
	adm := kadm.NewClient(c.client())
	for {
		td, err := adm.ListTopics(ctx, topic)
		if err == nil {
			d := td[topic]
			ok := d.Err == nil && len(d.Partitions) > 0
			for _, p := range d.Partitions {
				ok = ok && p.Leader >= 0 && len(p.ISR) == n
			}
			if ok {
				return d
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("topic %s never reached %d in-sync replicas: %v %+v", topic, n, err, td)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *testCluster) broker(id int32) *testBroker { return c.brokers[id-1] }

// TestReplicatedFailover writes with idempotent acks=all producers while the
// leader of partition 0 is stopped and restarted, then checks every
// acknowledged record is readable exactly once and the replicas' logs are
// identical below the high watermark.
func TestReplicatedFailover(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "replicated"
	adm := kadm.NewClient(c.client())
	resp, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2"), "segment.bytes": kadm.StringPtr("65536")}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	td := c.waitISR(ctx, topic, 3)
	leaders := map[int32]bool{}
	for _, p := range td.Partitions {
		leaders[p.Leader] = true
	}
	if len(leaders) != 3 {
		t.Errorf("leaders of 3 partitions on %d brokers, want spread over 3", len(leaders))
	}
	victim := td.Partitions[0].Leader

	ap := newAckedProducer(ctx, t, c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks())), 17)
	produce := ap.produce
	produce(0, 2000)

	// The leader goes away mid-stream: another in-sync replica takes over
	// and acks=all keeps working with two of three replicas.
	done := make(chan struct{})
	go func() {
		defer close(done)
		produce(2000, 6000)
	}()
	time.Sleep(50 * time.Millisecond)
	c.broker(victim).stop()
	<-done
	td = c.waitISR(ctx, topic, 2)
	if td.Partitions[0].Leader == victim {
		t.Fatalf("partition 0 still led by stopped broker %d", victim)
	}
	// It comes back as a follower, catches up and rejoins the ISR.
	c.broker(victim).start()
	produce(6000, 7000)
	c.waitISR(ctx, topic, 3)

	recs := consumeAllFrom(t, c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), 7000)
	ap.checkRead(recs)

	// Replica logs: identical bytes below the high watermark.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range c.brokers {
		b.stop()
	}
	for p := int32(0); p < 3; p++ {
		hw, _ := ends.Lookup(topic, p)
		var ref []byte
		for _, b := range c.brokers {
			dir := filepath.Join(b.cfg.DataDir, "logs", fmt.Sprintf("%s-%d", topic, p))
			l, err := hotlog.Open(dir, hotlog.DefaultConfig(), testLogger())
			if err != nil {
				t.Fatal(err)
			}
			var all []byte
			for off := int64(0); off < hw.Offset; {
				chunk, err := l.Read(off, hw.Offset, 1<<20, true)
				if err != nil || len(chunk) == 0 {
					t.Fatalf("broker %d partition %d: read at %d of %d: %v", b.cfg.BrokerID, p, off, hw.Offset, err)
				}
				all = append(all, chunk...)
				hs, err := recordbatch.Validate(chunk, recordbatch.DefaultMaxDecompressed)
				if err != nil {
					t.Fatal(err)
				}
				off = hs[len(hs)-1].LastOffset() + 1
			}
			l.Close()
			if ref == nil {
				ref = all
			} else if !bytes.Equal(ref, all) {
				t.Fatalf("partition %d: broker %d's log differs from broker 1's below the high watermark %d", p, b.cfg.BrokerID, hw.Offset)
			}
		}
	}
}

type ackedAt struct {
	partition int32
	offset    int64
}

// ackedProducer writes "r-<i>" records through cl (acks=all) and remembers
// where each acknowledged one went; a failed produce fails the test.
type ackedProducer struct {
	ctx   context.Context
	t     *testing.T
	cl    *kgo.Client
	keys  int // > 0: records are keyed by i modulo keys
	mu    sync.Mutex
	acked map[string]ackedAt
}

func newAckedProducer(ctx context.Context, t *testing.T, cl *kgo.Client, keys int) *ackedProducer {
	return &ackedProducer{ctx: ctx, t: t, cl: cl, keys: keys, acked: map[string]ackedAt{}}
}

// produce writes records from..to-1 and waits for every answer.
func (p *ackedProducer) produce(from, to int) {
	var wg sync.WaitGroup
	for i := from; i < to; i++ {
		wg.Add(1)
		r := &kgo.Record{Value: []byte("r-" + strconv.Itoa(i))}
		if p.keys > 0 {
			r.Key = []byte(strconv.Itoa(i % p.keys))
		}
		p.cl.Produce(p.ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				p.t.Errorf("produce %s: %v", r.Value, err)
				return
			}
			p.mu.Lock()
			p.acked[string(r.Value)] = ackedAt{r.Partition, r.Offset}
			p.mu.Unlock()
		})
	}
	wg.Wait()
}

// checkRead fails the test unless recs hold every acknowledged record
// exactly once, at the partition and offset it was acknowledged with.
func (p *ackedProducer) checkRead(recs []*kgo.Record) {
	p.t.Helper()
	seen := map[string]bool{}
	for _, r := range recs {
		v := string(r.Value)
		if seen[v] {
			p.t.Fatalf("record %s read twice", v)
		}
		seen[v] = true
		if a, ok := p.acked[v]; ok && (a.partition != r.Partition || a.offset != r.Offset) {
			p.t.Fatalf("record %s acked at %d/%d, read at %d/%d", v, a.partition, a.offset, r.Partition, r.Offset)
		}
	}
	for v := range p.acked {
		if !seen[v] {
			p.t.Fatalf("acknowledged record %s lost", v)
		}
	}
}

func consumeAllFrom(t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d: %v", len(out), n, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// TestReassignmentAndPreferredLeader moves a partition from broker 1 to
// brokers 2 and 3 under load with no loss, then checks that a preferred
// leader election gives leadership back to the first replica.
func TestReassignmentAndPreferredLeader(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "moving"
	cl := c.client()
	adm := kadm.NewClient(cl)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	cresp, err := req.RequestWith(ctx, cl)
	if err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create with assignment: %v %+v", err, cresp)
	}
	prod := c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceN := func(from, to int) {
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("m-" + strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produceN(0, 500)

	var areq kadm.AlterPartitionAssignmentsReq
	areq.Assign(topic, 0, []int32{2, 3})
	ares, err := adm.AlterPartitionAssignments(ctx, areq)
	if err != nil {
		t.Fatal(err)
	}
	if err := ares.Error(); err != nil {
		t.Fatalf("reassign: %v", err)
	}
	produceN(500, 1000) // writes continue during the move
	for {
		td, err := adm.ListTopics(ctx, topic)
		if err == nil {
			p := td[topic].Partitions[0]
			if fmt.Sprint(p.Replicas) == "[2 3]" && len(p.ISR) == 2 && p.Leader != 1 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("reassignment never completed: %+v", td)
		}
		time.Sleep(100 * time.Millisecond)
	}
	list, err := adm.ListPartitionReassignments(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("reassignments still listed after completion: %+v", list)
	}
	produceN(1000, 1200)
	recs := consumeAllFrom(t, c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), 1200)
	for i, r := range recs[:1200] {
		if string(r.Value) != "m-"+strconv.Itoa(i) || r.Offset != int64(i) {
			t.Fatalf("record %d: %q at offset %d", i, r.Value, r.Offset)
		}
	}
	// Broker 1 dropped its copy.
	dir := filepath.Join(c.broker(1).cfg.DataDir, "logs", topic+"-0")
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("removed replica's log %s still on disk", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Preferred leader: make broker 3 lead, then elect broker 2 back.
	leader := leaderNow(ctx, t, adm, topic)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	r := res[topic][0]
	if leader == 2 {
		if !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			t.Fatalf("election with the preferred leader in place: %v", r.Err)
		}
	} else if r.Err != nil {
		t.Fatalf("preferred election: %v", r.Err)
	}
	for leaderNow(ctx, t, adm, topic) != 2 {
		time.Sleep(100 * time.Millisecond)
	}
	produceN(1200, 1300)
}

func leaderNow(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) int32 {
	t.Helper()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return td[topic].Partitions[0].Leader
}

// TestReassignTieredPartition moves a partition whose old segments are
// only in the (shared) cold tier to a new broker: the new replica starts at
// the leader's local log start, and consumers still read from offset 0.
func TestReassignTieredPartition(t *testing.T) {
	store := "file://" + t.TempDir()
	c := startCluster(t, 2, func(cfg *Config) { cfg.ObjectStore = store })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "tiered-move"
	cl := c.client()
	createAssigned(ctx, t, cl, topic, []int32{1}, tieredTopicConfigs())
	prod := c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(4096))
	const n = 3000
	for i := 0; i < n; i++ {
		prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("t-%06d-%s", i, bytes.Repeat([]byte("x"), 80)))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, c.broker(1), topic, 1, time.Minute)

	moveTo(ctx, t, cl, topic, 2)
	recs := consumeAllFrom(t, c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), n)
	for i, r := range recs[:n] {
		if r.Offset != int64(i) || !bytes.HasPrefix(r.Value, []byte(fmt.Sprintf("t-%06d-", i))) {
			t.Fatalf("record %d: offset %d value %.10q", i, r.Offset, r.Value)
		}
	}
}

// createAssigned creates topic with one partition on the given replicas.
func createAssigned(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, replicas []int32, configs map[string]*string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	for k, v := range configs {
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = k, v
		rt.Configs = append(rt.Configs, rc)
	}
	req.Topics = append(req.Topics, rt)
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}
}

// moveTo reassigns partition 0 of topic to broker to alone and waits until
// it leads.
func moveTo(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, to int32) {
	t.Helper()
	var areq kadm.AlterPartitionAssignmentsReq
	areq.Assign(topic, 0, []int32{to})
	ares, err := kadm.NewClient(cl).AlterPartitionAssignments(ctx, areq)
	if err != nil || ares.Error() != nil {
		t.Fatalf("reassign: %v %v", err, ares.Error())
	}
	for leaderNow(ctx, t, kadm.NewClient(cl), topic) != to {
		if ctx.Err() != nil {
			t.Fatalf("reassignment to broker %d never completed", to)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
