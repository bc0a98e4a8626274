package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// producerBufferBytes bounds what each producer holds unacknowledged: with
// the default 4 producers, Kafka's buffer.memory of 32 MiB.
const producerBufferBytes = 8 << 20

// producerOpts are the franz-go settings of every bench producer: no
// compression (the broker stores what it gets, and random values would not
// compress anyway), no linger (batches form while requests are in flight),
// idempotent for acks=all (franz-go's default), and for acks=1 the same
// five requests in flight that idempotence allows.
func producerOpts(brokers []string, topic string, size int, acks string) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(max(256, producerBufferBytes/size)),
		kgo.RetryTimeout(30 * time.Second),
	}
	if acks == "all" {
		return append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	return append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
}

// consumerOpts are the franz-go settings of every bench consumer: the
// client's defaults (50 MB per fetch, 1 MiB per partition), no group.
func consumerOpts(brokers []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.RetryTimeout(30 * time.Second),
	}
}

// createTopic creates a topic and waits until every partition has a leader.
func createTopic(ctx context.Context, adm *kadm.Client, name string, partitions int, configs map[string]string) error {
	cfgs := map[string]*string{}
	for k, v := range configs {
		cfgs[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, int32(partitions), 1, cfgs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	for {
		tds, err := adm.ListTopics(ctx, name)
		if err == nil {
			td := tds[name]
			ready := td.Err == nil && len(td.Partitions) == partitions
			for _, p := range td.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: partitions without a leader: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func deleteTopic(ctx context.Context, adm *kadm.Client, name string) error {
	resps, err := adm.DeleteTopics(ctx, name)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	return nil
}

// errOnce keeps the first error of many goroutines.
type errOnce struct {
	mu  sync.Mutex
	err error
}

func (e *errOnce) set(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

func (e *errOnce) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func randomValue(size int) []byte {
	v := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 42))
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

// newProducers starts n producer clients and sends one record with each,
// so that connections and metadata are in place before anything is timed.
// It returns the clients and how many records the warm-up wrote.
func newProducers(ctx context.Context, n int, opts []kgo.Opt, value []byte) ([]*kgo.Client, int64, error) {
	var cls []*kgo.Client
	for range n {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			closeAll(cls)
			return nil, 0, fmt.Errorf("kafka producer: %w", err)
		}
		cls = append(cls, cl)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			closeAll(cls)
			return nil, 0, fmt.Errorf("warm-up produce: %w", err)
		}
	}
	return cls, int64(n), nil
}

func closeAll(cls []*kgo.Client) {
	for _, cl := range cls {
		cl.Close()
	}
}

// produceMax produces as fast as the producers can for d (or, with
// limit > 0, until limit records are sent) and returns the acknowledged
// rate (the clock stops when the last record is acked), and how many
// records the topic got in all (warm-up included). Every record carries
// the same random value, unless fresh asks for a new one each time (for
// the cold tier, whose Parquet files compress what repeats).
func produceMax(ctx context.Context, brokers []string, topic string, size int, acks string, producers int, d time.Duration, limit int64, fresh bool) (Throughput, int64, error) {
	value := randomValue(size)
	cls, warm, err := newProducers(ctx, producers, producerOpts(brokers, topic, size, acks), value)
	if err != nil {
		return Throughput{}, 0, err
	}
	defer closeAll(cls)
	var acked atomic.Int64
	var perr errOnce
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.set(err)
			return
		}
		acked.Add(1)
	}
	start := time.Now()
	deadline := start.Add(d)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i, cl := range cls {
		wg.Go(func() {
			rng := rand.NewChaCha8([32]byte{byte(i)})
			for n := 0; ; n++ {
				if n%64 == 0 && (time.Now().After(deadline) || ctx.Err() != nil) {
					break
				}
				if limit > 0 && sent.Add(1) > limit {
					break
				}
				v := value
				if fresh {
					v = make([]byte, size)
					_, _ = rng.Read(v)
				}
				cl.Produce(ctx, &kgo.Record{Value: v}, promise)
			}
			if err := cl.Flush(ctx); err != nil {
				perr.set(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if perr.get() != nil {
		return Throughput{}, 0, fmt.Errorf("produce to %s: %w", topic, perr.get())
	}
	n := acked.Load()
	return rate(n, size, elapsed), n + warm, nil
}

// consumeAll reads want records of topic from the start with one consumer.
func consumeAll(ctx context.Context, brokers []string, topic string, want int64, size int) (Throughput, error) {
	cl, err := kgo.NewClient(append(consumerOpts(brokers),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return Throughput{}, err
	}
	defer cl.Close()
	start := time.Now()
	n, err := consumeUntil(ctx, cl, want, nil)
	if err != nil {
		return Throughput{}, fmt.Errorf("consume %s: %d of %d records: %w", topic, n, want, err)
	}
	return rate(n, size, time.Since(start)), nil
}

// consumeUntil polls until it has seen want records (want < 0: until ctx
// ends), calling each (if not nil) with every poll's records and the time
// they were handed over.
func consumeUntil(ctx context.Context, cl *kgo.Client, want int64, each func([]*kgo.Record, time.Time)) (int64, error) {
	var n int64
	for want < 0 || n < want {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		if ctx.Err() != nil {
			if want < 0 {
				return n, nil
			}
			return n, ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return n, ferr
		}
		recs := fs.Records()
		n += int64(len(recs))
		if each != nil && len(recs) > 0 {
			each(recs, now)
		}
	}
	return n, nil
}

// endOffsets returns where each partition of topic ends now.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (map[int32]kgo.Offset, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]kgo.Offset{}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = o.Err
		}
		out[o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	return out, lerr
}

// latencyRun produces at a fixed total rate for d while one consumer tails
// the topic, and measures from each record's produce call (stamped in its
// value) to the poll that hands it to the consumer.
func latencyRun(ctx context.Context, brokers []string, adm *kadm.Client, topic string, size int, acks string, producers int, target float64, d time.Duration) (Latency, error) {
	ends, err := endOffsets(ctx, adm, topic)
	if err != nil {
		return Latency{}, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	cons, err := kgo.NewClient(append(consumerOpts(brokers), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: ends}))...)
	if err != nil {
		return Latency{}, err
	}
	defer cons.Close()
	tl := startTail(ctx, func(ctx context.Context, t *tail) error {
		_, err := consumeUntil(ctx, cons, -1, func(recs []*kgo.Record, now time.Time) {
			for _, r := range recs {
				t.sample(r.Value, now)
			}
		})
		return err
	})
	defer tl.stop()

	opts := producerOpts(brokers, topic, size, acks)
	var cls []*kgo.Client
	for range producers {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			closeAll(cls)
			return Latency{}, err
		}
		cls = append(cls, cl)
	}
	defer closeAll(cls)
	var acked atomic.Int64
	var perr errOnce
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.set(err)
			return
		}
		acked.Add(1)
	}
	sent := paced(ctx, len(cls), target, d, func(i int, v []byte) {
		cls[i].Produce(ctx, &kgo.Record{Value: v}, promise)
	}, size)
	for _, cl := range cls {
		if err := cl.Flush(ctx); err != nil {
			perr.set(err)
		}
	}
	if perr.get() != nil {
		return Latency{}, fmt.Errorf("produce to %s: %w", topic, perr.get())
	}
	return tl.finish(acked.Load(), target, sent, d)
}

// paced calls send from n goroutines at a total of target calls per
// second for d, each with a fresh value of size bytes stamped with the
// time of the call, and returns how many calls it made.
func paced(ctx context.Context, n int, target float64, d time.Duration, send func(i int, v []byte), size int) int64 {
	start := time.Now()
	deadline := start.Add(d)
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := pacer{start: start, rate: target / float64(n)}
			tick := max(time.Millisecond, time.Duration(float64(time.Second)/p.rate))
			var sent int64
			for {
				now := time.Now()
				if now.After(deadline) || ctx.Err() != nil {
					break
				}
				for due := p.due(now); sent < due; sent++ {
					v := make([]byte, size)
					stamp(v, time.Now())
					send(i, v)
				}
				time.Sleep(tick)
			}
			total.Add(sent)
		})
	}
	wg.Wait()
	return total.Load()
}

// tail is a consumer run in the background that keeps latency samples.
type tail struct {
	cancel context.CancelFunc
	done   chan error
	got    atomic.Int64
	mu     sync.Mutex
	lat    []time.Duration
}

// startTail runs the consumer run, which calls t.sample (from one
// goroutine at a time) for every record until ctx ends.
func startTail(ctx context.Context, run func(context.Context, *tail) error) *tail {
	ctx, cancel := context.WithCancel(ctx)
	t := &tail{cancel: cancel, done: make(chan error, 1)}
	go func() { t.done <- run(ctx, t) }()
	return t
}

// sample records one arrival: v starts with the stamp of its send.
func (t *tail) sample(v []byte, now time.Time) {
	t.got.Add(1)
	if len(v) < stampBytes {
		return
	}
	t.mu.Lock()
	if len(t.lat) < maxSamples {
		t.lat = append(t.lat, now.Sub(stamped(v)))
	}
	t.mu.Unlock()
}

func (t *tail) stop() {
	t.cancel()
}

// finish waits (up to 30 s) until want records have arrived, stops the
// consumer and computes the percentiles. It is called once every record
// is acknowledged: how long the consumer still needs is the backlog.
func (t *tail) finish(want int64, target float64, sent int64, d time.Duration) (Latency, error) {
	acked := time.Now()
	deadline := acked.Add(30 * time.Second)
	for t.got.Load() < want && time.Now().Before(deadline) {
		select {
		case err := <-t.done:
			return Latency{}, fmt.Errorf("consumer stopped after %d of %d records: %w", t.got.Load(), want, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	backlog := time.Since(acked)
	t.cancel()
	if err := <-t.done; err != nil {
		return Latency{}, err
	}
	if got := t.got.Load(); got < want {
		return Latency{}, fmt.Errorf("consumer got %d of %d records within 30 s", got, want)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	l := Latency{
		TargetRate:   target,
		AchievedRate: float64(sent) / d.Seconds(),
		Samples:      int64(len(t.lat)),
		BacklogMs:    max(backlog.Seconds()*1000, 0.001),
	}
	l.P50, l.P99, l.P999 = percentiles(t.lat)
	l.Saturated = l.AchievedRate < 0.95*target || backlog > d/10 || l.P50 > d.Seconds()*1000/10
	return l, nil
}

// consumeRange reads offsets [0, end) of partition 0 of topic.
func consumeRange(ctx context.Context, brokers []string, topic string, end int64, size int) (Throughput, error) {
	cl, err := kgo.NewClient(append(consumerOpts(brokers),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))...)
	if err != nil {
		return Throughput{}, err
	}
	defer cl.Close()
	start := time.Now()
	var n, last int64 = 0, -1
	for last < end-1 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Throughput{}, fmt.Errorf("read %s [0, %d): at %d: %w", topic, end, last+1, err)
		}
		if err := fs.Err(); err != nil {
			return Throughput{}, fmt.Errorf("read %s [0, %d): at %d: %w", topic, end, last+1, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end {
				n++
			}
			last = max(last, r.Offset)
		})
	}
	return rate(n, size, time.Since(start)), nil
}
