package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkSecureTransports measures produce and consume over PLAINTEXT,
// SSL (TLS with a client certificate) and SASL_SSL (SCRAM-SHA-512 over
// TLS) listeners of one broker, in the same run: each iteration writes
// 10,000 records of 1 KiB (acks=all, one partition per listener) through
// each listener in turn (rotating which goes first) and reads them back,
// and reports
// each throughput and the ratios SSL ÷ PLAINTEXT and SASL_SSL ÷ PLAINTEXT.
// The authorizer is off so that only the transport differs. See
// docs/benchmarks.md.
//
//	go test -run '^$' -bench BenchmarkSecureTransports -benchtime 5x ./server/
func BenchmarkSecureTransports(b *testing.B) {
	sb := startSecureBroker(b, func(c *Config) { c.Authorizer = "" })
	const records = 10000
	value := make([]byte, 1024)
	ctx := context.Background()
	clients := []struct {
		name string
		opts []kgo.Opt
	}{
		{"PLAINTEXT", nil},
		{"SSL", []kgo.Opt{kgo.DialTLSConfig(sb.tlsConfig(b, "admin"))}},
		{"SASL_SSL", []kgo.Opt{kgo.DialTLSConfig(sb.tlsConfig(b, "")), kgo.SASL(scram512("admin", "admin-secret"))}},
	}
	dial := func(listener string, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(sb.srv.ListenerAddr(listener)), kgo.ProducerLinger(0),
			kgo.MaxBufferedRecords(records), kgo.RetryTimeout(10 * time.Second)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		return cl
	}
	produce := make([]time.Duration, len(clients))
	consume := make([]time.Duration, len(clients))
	producers := make([]*kgo.Client, len(clients))
	for i, c := range clients {
		producers[i] = dial(c.name, c.opts...)
		topic := "bench-" + c.name
		if _, err := kadm.NewClient(producers[i]).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			b.Fatal(err)
		}
		if err := producers[i].ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for iter := range b.N {
		// Each iteration starts with another listener, so that none is
		// always first after the others' writes.
		for k := range clients {
			i := (iter + k) % len(clients)
			c := clients[i]
			topic := "bench-" + c.name
			start := time.Now()
			for range records {
				producers[i].Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			if err := producers[i].Flush(ctx); err != nil {
				b.Fatal(err)
			}
			produce[i] += time.Since(start)

			// A fresh consumer reads this iteration's records (after the
			// warm-up record and the earlier iterations').
			from := int64(1 + iter*records)
			cons := dial(c.name, append(c.opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
				topic: {0: kgo.NewOffset().At(from)}}))...)
			start = time.Now()
			for got := 0; got < records; {
				fs := cons.PollFetches(ctx)
				if err := fs.Err(); err != nil {
					b.Fatal(err)
				}
				got += fs.NumRecords()
			}
			consume[i] += time.Since(start)
			cons.Close()
		}
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 {
		return float64(b.N) * records * float64(len(value)) / (1 << 20) / d.Seconds()
	}
	for i, c := range clients {
		b.ReportMetric(mbps(produce[i]), c.name+"-produce-MB/s")
		b.ReportMetric(mbps(consume[i]), c.name+"-consume-MB/s")
		if i > 0 {
			b.ReportMetric(produce[0].Seconds()/produce[i].Seconds(), fmt.Sprintf("%s/PLAINTEXT-produce-ratio", c.name))
			b.ReportMetric(consume[0].Seconds()/consume[i].Seconds(), fmt.Sprintf("%s/PLAINTEXT-consume-ratio", c.name))
		}
	}
}
