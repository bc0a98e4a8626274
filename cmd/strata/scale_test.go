package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestScaleTenThousandPartitions (STRATA_SCALE_TEST=1; issue 25): 10,000
// partitions on one broker whose open-file limit is 4096 (soft and hard,
// set with prlimit): create them, produce one record to each, SIGKILL,
// restart, then produce and consume on every partition. It logs the
// restart time (until the first partition is served, and until /readyz),
// the broker's open descriptors and RSS (docs/benchmarks.md).
func TestScaleTenThousandPartitions(t *testing.T) {
	if os.Getenv("STRATA_SCALE_TEST") != "1" {
		t.Skip("set STRATA_SCALE_TEST=1 to run the 10,000-partition test")
	}
	const topics, perTopic = 10, 1000 // 2,001 etcd operations per CreateTopics, under the embedded etcd's 4,096
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skipf("prlimit not found: %v", err)
	}
	bin := clientsBuildStrata(t)
	p := newBrokerProc(t, bin, "--auto-create-topics=false")
	p.wrap = []string{prlimit, "--nofile=4096:4096", "--"}
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(20000))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	start := time.Now()
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("scale-%02d", i)
		resp, err := adm.CreateTopic(ctx, perTopic, 1, nil, names[i])
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", names[i], err)
		}
	}
	t.Logf("created %d partitions in %v; %s", topics*perTopic, time.Since(start).Round(time.Millisecond), procUsage(t, p))
	record := func(round int, name string, part int32) *kgo.Record {
		return &kgo.Record{Topic: name, Partition: part, Value: []byte(fmt.Sprintf("r%d-%s-%d", round, name, part))}
	}
	// produceAll produces round's record to every partition of topics.
	produceAll := func(round int, topics []string) {
		t.Helper()
		start := time.Now()
		var recs []*kgo.Record
		for _, name := range topics {
			for part := range int32(perTopic) {
				recs = append(recs, record(round, name, part))
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", round, err)
		}
		t.Logf("produced one record (acks=all) to each of %d partitions in %v", len(recs), time.Since(start).Round(time.Millisecond))
	}
	produceAll(0, names)
	cl.Close()
	p.kill(syscall.SIGKILL)

	// The listener serves each partition once it is open, before
	// /readyz: the first acknowledged record of round 1 to the first
	// topic's partitions says when the first partitions were in service.
	// One topic keeps the metadata requests of the retries small.
	start = time.Now()
	p.launch()
	cl, err = kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RetryTimeout(5*time.Minute),
		// Measure the broker, not the client's backoff or its 5 s
		// minimum between metadata refreshes.
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	type served struct {
		after time.Duration
		err   error
	}
	acks := make(chan served, perTopic)
	var probes sync.WaitGroup
	for part := range int32(perTopic) {
		probes.Add(1)
		cl.Produce(ctx, record(1, names[0], part), func(_ *kgo.Record, err error) {
			defer probes.Done()
			acks <- served{time.Since(start), err}
		})
	}
	p.waitReady()
	restart := time.Since(start)
	probes.Wait()
	close(acks)
	first := <-acks
	for a := range acks {
		if a.err != nil {
			first.err = a.err
		}
	}
	if first.err != nil {
		t.Fatalf("produce to %s during start-up: %v", names[0], first.err)
	}
	t.Logf("restart after SIGKILL: first partition served after %v, ready in %v; %s",
		first.after.Round(time.Millisecond), restart.Round(time.Millisecond), procUsage(t, p))
	cl.Close()
	cl, err = kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(20000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produceAll(1, names[1:])

	offsets := map[string]map[int32]kgo.Offset{}
	for _, name := range names {
		offsets[name] = map[int32]kgo.Offset{}
		for part := range int32(perTopic) {
			offsets[name][part] = kgo.NewOffset().AtStart()
		}
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.ConsumePartitions(offsets), kgo.FetchMaxPartitionBytes(1<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	start = time.Now()
	got := map[string]int{}
	total := 0
	for total < 2*topics*perTopic {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", total, 2*topics*perTopic, ctx.Err())
		}
		fs.EachError(func(tp string, part int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, part, err) })
		fs.EachRecord(func(r *kgo.Record) {
			k := r.Topic + "/" + strconv.Itoa(int(r.Partition))
			want := fmt.Sprintf("r%d-%s-%d", got[k], r.Topic, r.Partition)
			if string(r.Value) != want || r.Offset != int64(got[k]) {
				t.Fatalf("%s offset %d: %q, want %q at offset %d", k, r.Offset, r.Value, want, got[k])
			}
			got[k]++
			total++
		})
	}
	t.Logf("consumed both records of every partition in %v; %s", time.Since(start).Round(time.Millisecond), procUsage(t, p))
	// How long the restarted broker took to open and to flush.
	if logText, err := os.ReadFile(p.logPath); err == nil {
		lines := strings.Split(string(logText), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.Contains(lines[i], `msg="partitions opened"`) || strings.Contains(lines[i], `msg="opened partitions flushed"`) {
				t.Logf("broker: %s", lines[i])
			}
			if strings.Contains(lines[i], "=== start") {
				break
			}
		}
	}

	// Client retries hide a partition that failed for lack of
	// descriptors; the broker log does not.
	logText, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logText), "too many open files"); n > 0 {
		t.Fatalf("the broker ran out of file descriptors %d times (see %s)", n, p.logPath)
	}
}

// procUsage reports the broker process's open descriptors and RSS.
func procUsage(t *testing.T, p *brokerProc) string {
	t.Helper()
	pid := p.cmd.Process.Pid
	// With the prlimit wrapper the broker is the wrapper's exec'd image:
	// prlimit execs the command, so the pid is the broker's.
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return "usage unknown: " + err.Error()
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	rss := "?"
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
	}
	limits, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	nofile := ""
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			nofile = strings.Join(strings.Fields(line)[3:5], "/")
		}
	}
	return fmt.Sprintf("open descriptors %d (limit %s), RSS %s", len(fds), nofile, rss)
}
