package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashDuringCleaning kills a `strata serve` process with SIGKILL again
// and again while its log cleaner, throttled to 2 MB/s, rewrites a
// compacted partition of about 5 MiB. After every restart the partition
// read from 0 holds only records as produced, at their offsets, in order,
// and the last record of every key (a swap cut short left the old segments
// or the new one, never a mix, and no record lost); and once the cleaner is let finish, exactly the last
// record of every key remains.
func TestCrashDuringCleaning(t *testing.T) {
	if testing.Short() {
		t.Skip("crash tests run a broker process; skipped with -short")
	}
	bin := clientsBuildStrata(t)
	p := newBrokerProc(t, bin, "--log-cleaner-backoff", "100ms", "--log-cleaner-io-max-bytes-per-second", "2000000")
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic = "crash-compact"
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"), "segment.bytes": kadm.StringPtr("262144"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"), "min.compaction.lag.ms": kadm.StringPtr("3600000"),
		"remote.storage.enable": kadm.StringPtr("false"),
	}, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	produced := map[int64]string{} // offset -> key=value
	last := map[string]int64{}     // key -> offset of its last record
	pad := strings.Repeat("x", 200)
	var batch []*kgo.Record
	flush := func() {
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, r := range batch {
			produced[r.Offset] = string(r.Key) + "=" + string(r.Value)
			last[string(r.Key)] = r.Offset
		}
		batch = batch[:0]
	}
	for i := range 24000 {
		key := fmt.Sprintf("k%d", i%200)
		if i >= 22000 {
			key = fmt.Sprintf("filler-%d", i) // seal the rest
		}
		batch = append(batch, &kgo.Record{Key: []byte(key), Value: fmt.Appendf(nil, "v%d-%s", i, pad)})
		if len(batch) == 100 {
			flush()
		}
	}
	flush()
	// The cleaner waited (min.compaction.lag.ms) while the log filled: now
	// it cleans all of it at once, and the kills fall into that clean.
	if res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "min.compaction.lag.ms", Value: kadm.StringPtr("0")}}, topic); err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %v", err, res)
	}

	check := func(exact bool) bool {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		end, _ := ends.Lookup(topic, 0)
		rd, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		seen := map[string]bool{}
		prev, n := int64(-1), 0
		for prev+1 < end.Offset {
			fs := rd.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read: %v", ctx.Err())
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset <= prev {
					t.Fatalf("offset %d after %d", r.Offset, prev)
				}
				if got, want := string(r.Key)+"="+string(r.Value), produced[r.Offset]; got != want {
					t.Fatalf("offset %d holds %.30q, produced %.30q", r.Offset, got, want)
				}
				if last[string(r.Key)] == r.Offset {
					seen[string(r.Key)] = true
				}
				prev = r.Offset
				n++
			})
		}
		if len(seen) != len(last) {
			t.Fatalf("the last record of %d keys of %d was read", len(seen), len(last))
		}
		return !exact || n == len(last)
	}
	kills := 0
	for k := range 4 {
		time.Sleep(time.Duration(1500+rand.IntN(4500)) * time.Millisecond)
		p.kill(syscall.SIGKILL)
		kills++
		p.start()
		check(false)
		t.Logf("kill %d: log is whole", k)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !check(true) {
		if time.Now().After(deadline) {
			t.Fatal("never compacted to one record per key")
		}
		time.Sleep(time.Second)
	}
	b, _ := os.ReadFile(p.logPath)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "cleaner") || strings.HasPrefix(line, "=== start") {
			t.Log(line[:min(len(line), 200)])
		}
	}
	t.Logf("%d kills; the broker log has %d completed cleans, %d committed swaps finished at start and %d uncommitted rewrites removed",
		kills, strings.Count(string(b), "log cleaner cleaned"), strings.Count(string(b), "finished a log cleaner swap"),
		strings.Count(string(b), "removing the files of an unfinished log cleaner rewrite"))
}
