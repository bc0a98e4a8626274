package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTransactions measures transactional produce against
// idempotent (non-transactional) produce in the same run, on one broker:
// each iteration writes a batch of n records (1 KiB values, 4 partitions)
// once as a transaction (BeginTransaction, produce, EndTransaction
// commit) and once without (produce, Flush), alternately, and reports
// both throughputs, the time from the last produce call to the end of the
// commit (Flush and EndTransaction; for plain produce, the Flush), and the
// ratios transactional ÷ plain. See docs/benchmarks.md.
//
//	go test -run '^$' -bench BenchmarkTransactions -benchtime 5x ./server/
func BenchmarkTransactions(b *testing.B) {
	tb := startBroker(b, func(c *Config) { c.DefaultPartitions = 4 })
	value := make([]byte, 1024)
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			ctx := context.Background()
			topic := fmt.Sprintf("bench-txn-%d", n)
			plain := tb.client(kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(20000))
			txnl := tb.client(kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(20000),
				kgo.TransactionalID(topic+"-producer"))
			// Warm up: topic creation, producer ids, coordinator.
			if err := plain.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			if err := runTxn(ctx, txnl, value, 1); err != nil {
				b.Fatal(err)
			}
			var plainTime, txnTime, flushTime, commitTime time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				for range n {
					plain.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
						if err != nil {
							b.Error(err)
						}
					})
				}
				last := time.Now()
				if err := plain.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				plainTime += time.Since(start)
				flushTime += time.Since(last)

				start = time.Now()
				if err := txnl.BeginTransaction(); err != nil {
					b.Fatal(err)
				}
				for range n {
					txnl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
						if err != nil {
							b.Error(err)
						}
					})
				}
				last = time.Now()
				if err := txnl.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if err := txnl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					b.Fatal(err)
				}
				txnTime += time.Since(start)
				commitTime += time.Since(last)
			}
			b.StopTimer()
			recs := float64(n * b.N)
			b.ReportMetric(recs/plainTime.Seconds(), "plain-rec/s")
			b.ReportMetric(recs/txnTime.Seconds(), "txn-rec/s")
			b.ReportMetric(plainTime.Seconds()/txnTime.Seconds(), "throughput-ratio")
			b.ReportMetric(float64(flushTime.Microseconds())/1000/float64(b.N), "flush-ms")
			b.ReportMetric(float64(commitTime.Microseconds())/1000/float64(b.N), "commit-ms")
			b.ReportMetric(commitTime.Seconds()/flushTime.Seconds(), "commit-latency-ratio")
		})
	}
}

func runTxn(ctx context.Context, cl *kgo.Client, value []byte, n int) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	for range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			return err
		}
	}
	return cl.EndTransaction(ctx, kgo.TryCommit)
}
