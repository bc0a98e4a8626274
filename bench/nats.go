package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const natsSubject = "bench"

// natsDurability says what each acks setting is compared with.
var natsDurability = map[string]string{
	"1":   "JetStream default: ack after the write, fsync in the background",
	"all": "sync_always: fsync before every ack",
}

// startNATS starts a JetStream server in this process with its file store
// in dir; syncAlways makes it fsync every write before acknowledging it.
func startNATS(dir string, syncAlways bool) (*natsserver.Server, error) {
	s, err := natsserver.NewServer(&natsserver.Options{
		Host:       "127.0.0.1",
		Port:       natsserver.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: syncAlways,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("nats server not ready after 30 s")
	}
	return s, nil
}

// natsRun measures JetStream at each record size for one acks setting, as
// the Strata cells are measured: the publish rate of async publishers (the
// clock stops at the last ack), an ordered consumer reading it all back,
// and end-to-end latency at cfg.LatencyShare of the publish rate.
func natsRun(ctx context.Context, cfg *Config, dir string, acks string, logf func(string, ...any)) ([]NATSResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := startNATS(dir, acks == "all")
	if err != nil {
		return nil, err
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	var out []NATSResult
	for _, size := range cfg.RecordSizes {
		logf("nats jetstream: %d B records, acks=%s", size, acks)
		r, err := natsSize(ctx, cfg, srv.ClientURL(), size)
		if err != nil {
			return out, fmt.Errorf("nats %d B acks=%s: %w", size, acks, err)
		}
		r.Acks, r.Durability = acks, natsDurability[acks]
		out = append(out, r)
	}
	return out, nil
}

// natsMaxPending bounds each publisher's unacknowledged messages (nats.go's
// default is 4000): enough to keep the server busy on loopback, few enough
// that with sync_always the last ones drain in about a second.
const natsMaxPending = 256

// natsPublisher is one connection publishing asynchronously and counting
// acknowledgements.
type natsPublisher struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	acked atomic.Int64
	err   errOnce
}

func newNATSPublisher(url string, size int) (*natsPublisher, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	p := &natsPublisher{nc: nc}
	p.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(natsMaxPending),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) { p.acked.Add(1) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { p.err.set(err) }))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return p, nil
}

// publish sends v, waiting while too many publishes are unacknowledged.
func (p *natsPublisher) publish(ctx context.Context, v []byte) {
	for ctx.Err() == nil {
		_, err := p.js.PublishAsync(natsSubject, v)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			continue
		}
		if err != nil {
			p.err.set(err)
		}
		return
	}
}

// wait blocks until every publish is acknowledged.
func (p *natsPublisher) wait(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
		return p.err.get()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func natsSize(ctx context.Context, cfg *Config, url string, size int) (NATSResult, error) {
	res := NATSResult{RecordBytes: size}
	producers, d, latD := cfg.Producers, cfg.Duration, cfg.LatencyDuration
	var pubs []*natsPublisher
	defer func() {
		for _, p := range pubs {
			p.nc.Close()
		}
	}()
	for range producers {
		p, err := newNATSPublisher(url, size)
		if err != nil {
			return res, err
		}
		pubs = append(pubs, p)
	}
	js := pubs[0].js
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "BENCH", Subjects: []string{natsSubject}, Storage: jetstream.FileStorage, Replicas: 1,
	})
	if err != nil {
		return res, fmt.Errorf("create stream: %w", err)
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), "BENCH") }()
	value := randomValue(size)
	for _, p := range pubs { // warm-up
		if _, err := p.js.Publish(ctx, natsSubject, value); err != nil {
			return res, fmt.Errorf("warm-up publish: %w", err)
		}
	}

	// Maximum publish rate.
	start := time.Now()
	deadline := start.Add(d)
	done := make(chan error, len(pubs))
	for _, p := range pubs {
		go func() {
			for i := 0; ; i++ {
				if i%64 == 0 && (time.Now().After(deadline) || ctx.Err() != nil) {
					break
				}
				p.publish(ctx, value)
			}
			done <- p.wait(ctx)
		}()
	}
	for range pubs {
		if err := <-done; err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
	}
	elapsed := time.Since(start)
	var acked int64
	for _, p := range pubs {
		acked += p.acked.Load()
	}
	res.Produce = rate(acked, size, elapsed)
	total := acked + int64(len(pubs))

	// Consume it all from the start.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return res, fmt.Errorf("ordered consumer: %w", err)
	}
	var got atomic.Int64
	all := make(chan struct{})
	start = time.Now()
	cc, err := cons.Consume(func(jetstream.Msg) {
		if got.Add(1) == total {
			close(all)
		}
	})
	if err != nil {
		return res, fmt.Errorf("consume: %w", err)
	}
	select {
	case <-all:
	case <-ctx.Done():
	case <-time.After(5 * time.Minute):
	}
	cc.Stop()
	if got.Load() < total {
		return res, fmt.Errorf("consumed %d of %d messages", got.Load(), total)
	}
	res.Consume = rate(total, size, time.Since(start))

	// Latency at a share of the maximum rate.
	info, err := stream.Info(ctx)
	if err != nil {
		return res, fmt.Errorf("stream info: %w", err)
	}
	tailCons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: info.State.LastSeq + 1,
	})
	if err != nil {
		return res, fmt.Errorf("ordered consumer: %w", err)
	}
	tl := startTail(ctx, func(ctx context.Context, t *tail) error {
		cc, err := tailCons.Consume(func(m jetstream.Msg) { t.sample(m.Data(), time.Now()) })
		if err != nil {
			return err
		}
		<-ctx.Done()
		cc.Stop()
		return nil
	})
	defer tl.stop()
	for _, p := range pubs {
		p.acked.Store(0)
	}
	target := cfg.LatencyShare * res.Produce.RecordsPerSec
	sent := paced(ctx, len(pubs), target, latD, func(i int, v []byte) { pubs[i].publish(ctx, v) }, size)
	acked = 0
	for _, p := range pubs {
		if err := p.wait(ctx); err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
		acked += p.acked.Load()
	}
	res.Latency, err = tl.finish(acked, target, sent, latD)
	return res, err
}
