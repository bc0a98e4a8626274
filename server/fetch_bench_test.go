package server

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkFetchMinBytes measures what fetch.min.bytes saves against a
// slow producer (1 KiB records paced at 2,000 a second, about 2 MB/s, one
// partition, one broker): in each iteration a consumer with
// fetch.min.bytes 1 B, 64 KiB and 1 MiB (fetch.max.wait 500 ms) in turn
// reads what the producer writes during a window of its own, and a window
// with no consumer gives the producer's cost alone. It reports, per
// setting, Fetch responses per second, bytes per response, and CPU per GB
// consumed above the producer-only baseline (CPU of this process: broker
// and clients, which share it), and the ratios of each setting to 1 B.
// See docs/benchmarks.md.
//
//	go test -run '^$' -bench BenchmarkFetchMinBytes -benchtime 3x ./server/
func BenchmarkFetchMinBytes(b *testing.B) {
	const (
		topic      = "bench-minbytes"
		recordSize = 1024
		rate       = 2000 // records a second
		window     = 2 * time.Second
		maxWait    = 500 * time.Millisecond
	)
	tb := startBroker(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := tb.client()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	// Random values: MinBytes counts the bytes of the batches as stored,
	// compressed, and zeros would shrink tenfold.
	value := make([]byte, recordSize)
	_, _ = rand.Read(value)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for ctx.Err() == nil {
			<-tick.C
			prod.Produce(ctx, &kgo.Record{Value: value}, nil)
		}
	}()
	defer func() { cancel(); <-produced }()

	settings := []struct {
		name     string
		minBytes int32 // 0: no consumer (the baseline)
	}{{"baseline", 0}, {"1B", 1}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}
	type totals struct {
		fetches, bytes int64
		cpu, elapsed   time.Duration
	}
	sum := make([]totals, len(settings))
	b.ResetTimer()
	for range b.N {
		for i, s := range settings {
			if s.minBytes == 0 {
				cpu0, t0 := processCPU(b), time.Now()
				time.Sleep(window)
				sum[i].cpu += processCPU(b) - cpu0
				sum[i].elapsed += time.Since(t0)
				continue
			}
			f, n, cpu, el := consumeWindow(ctx, b, tb, adm, topic, s.minBytes, maxWait, window)
			sum[i].fetches += f
			sum[i].bytes += n
			sum[i].cpu += cpu
			sum[i].elapsed += el
		}
	}
	b.StopTimer()
	baselinePerSec := sum[0].cpu.Seconds() / sum[0].elapsed.Seconds()
	fetchRate := func(t totals) float64 { return float64(t.fetches) / t.elapsed.Seconds() }
	cpuPerGB := func(t totals) float64 {
		above := t.cpu.Seconds() - baselinePerSec*t.elapsed.Seconds()
		return max(above, 0) / (float64(t.bytes) / 1e9)
	}
	for i, s := range settings[1:] {
		t := sum[i+1]
		b.ReportMetric(fetchRate(t), "fetch/s@"+s.name)
		b.ReportMetric(float64(t.bytes)/float64(max(t.fetches, 1)), "B/fetch@"+s.name)
		b.ReportMetric(cpuPerGB(t), "cpu-s/GB@"+s.name)
		if i > 0 {
			b.ReportMetric(fetchRate(t)/fetchRate(sum[1]), "fetch-ratio-"+s.name+"/1B")
			b.ReportMetric(cpuPerGB(t)/cpuPerGB(sum[1]), "cpu-ratio-"+s.name+"/1B")
		}
	}
}

// consumeWindow reads topic from its end for window with one consumer of
// fetch.min.bytes minBytes, and returns the Fetch responses it got, the
// record bytes it read, the process CPU time spent and the time taken.
func consumeWindow(ctx context.Context, b *testing.B, tb *testBroker, adm *kadm.Client, topic string, minBytes int32, maxWait, window time.Duration) (int64, int64, time.Duration, time.Duration) {
	b.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	var fetches fetchCounter
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(end.Offset)}}),
		kgo.FetchMinBytes(minBytes), kgo.FetchMaxWait(maxWait), kgo.WithHooks(&fetches))
	defer cl.Close()
	var n atomic.Int64
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	cpu0, t0 := processCPU(b), time.Now()
	for wctx.Err() == nil {
		fs := cl.PollFetches(wctx)
		fs.EachRecord(func(r *kgo.Record) { n.Add(int64(len(r.Value))) })
	}
	return fetches.n.Load(), n.Load(), processCPU(b) - cpu0, time.Since(t0)
}

// processCPU is the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
