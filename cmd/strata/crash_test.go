package main

// Crash tests: a real `strata serve` process is killed with SIGKILL at
// random moments while idempotent producers (franz-go, and librdkafka via
// confluent-kafka) write with acks=all, then restarted on the same data
// directory. A consumer then checks that every acknowledged record is
// present exactly once, at the offset it was acknowledged with, in order.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// crashKills is how many times each crash test kills the broker
// (STRATA_CRASH_KILLS overrides; the default keeps `make test` short).
func crashKills() int {
	if n, err := strconv.Atoi(os.Getenv("STRATA_CRASH_KILLS")); err == nil && n > 0 {
		return n
	}
	return 8
}

type ackedRecord struct {
	partition int32
	offset    int64
}

// crashVerify consumes the whole topic and checks it against what the
// producers were told: every acknowledged record exactly once, at its
// acknowledged offset, and each partition in produce order.
func crashVerify(t *testing.T, addr, topic string, acked map[string]ackedRecord, attempted int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := readAllRecords(ctx, t, []string{addr}, topic)
	if c.duplicates > 0 {
		t.Errorf("%d records stored twice", c.duplicates)
	}
	for part, values := range c.inOrder {
		last := -1
		for _, v := range values {
			seq, err := strconv.Atoi(strings.TrimPrefix(v, "v-"))
			if err != nil {
				t.Errorf("unexpected value %q", v)
				continue
			}
			if seq <= last {
				t.Errorf("partition %d: record %d after %d: out of produce order", part, seq, last)
			}
			last = seq
		}
	}
	missing := 0
	for v, a := range acked {
		got, ok := c.byValue[v]
		switch {
		case !ok:
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged record %q (partition %d offset %d) is lost", v, a.partition, a.offset)
			}
		case got != a:
			t.Errorf("record %q acknowledged at %d/%d but stored at %d/%d", v, a.partition, a.offset, got.partition, got.offset)
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged records lost", missing, len(acked))
	}
	t.Logf("%d records attempted, %d acknowledged, %d stored, all acknowledged ones exactly once and in order", attempted, len(acked), len(c.byValue))
}

func TestCrashKgoIdempotentProducer(t *testing.T) {
	if testing.Short() {
		t.Skip("crash tests run a broker process; skipped with -short")
	}
	bin := clientsBuildStrata(t)
	p := newBrokerProc(t, bin, "--default-partitions", "3")
	p.start()
	const topic = "crash-kgo"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	load := startIdempotentLoad(ctx, t, []string{p.addr}, topic)
	for k := 0; k < crashKills(); k++ {
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		p.kill(syscall.SIGKILL)
		p.start()
	}
	time.Sleep(500 * time.Millisecond)
	acked := load.finish(ctx, t)
	crashVerify(t, p.addr, topic, acked, load.attempted)
}

func TestCrashLibrdkafkaIdempotentProducer(t *testing.T) {
	if testing.Short() {
		t.Skip("crash tests run a broker process; skipped with -short")
	}
	if err := clientsPythonModule("confluent_kafka"); err != nil {
		clientsMissing(t, "%s cannot import confluent_kafka: %v", clientsPython, err)
	}
	bin := clientsBuildStrata(t)
	p := newBrokerProc(t, bin, "--default-partitions", "3")
	p.start()
	const topic = "crash-rdkafka"
	const n = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	load := startRdkafkaLoad(ctx, t, p.addr, topic, n, 0)
	for k := 0; k < crashKills(); k++ {
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		p.kill(syscall.SIGKILL)
		p.start()
	}
	crashVerify(t, p.addr, topic, load.wait(t), n)
}

// rdkafkaLoad is the librdkafka (confluent-kafka) idempotent acks=all
// producer script, reporting each delivered record on its stdout.
type rdkafkaLoad struct {
	cmd      *exec.Cmd
	acked    map[string]ackedRecord
	readDone chan error
}

// startRdkafkaLoad produces n records "v-<i>" to topic, spread over about
// spread (0: as fast as it goes).
func startRdkafkaLoad(ctx context.Context, t *testing.T, bootstrap, topic string, n int, spread time.Duration) *rdkafkaLoad {
	t.Helper()
	script, _ := filepath.Abs("testdata/crash/idempotent_producer.py")
	cmd := exec.CommandContext(ctx, clientsPython, script, bootstrap, topic, strconv.Itoa(n), strconv.FormatFloat(spread.Seconds(), 'f', 1, 64))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &rdkafkaLoad{cmd: cmd, acked: map[string]ackedRecord{}, readDone: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var d struct {
				Value     string `json:"v"`
				Partition int32  `json:"p"`
				Offset    int64  `json:"o"`
			}
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				l.readDone <- fmt.Errorf("bad line from producer %q: %w", sc.Text(), err)
				return
			}
			l.acked[d.Value] = ackedRecord{d.Partition, d.Offset}
		}
		l.readDone <- sc.Err()
	}()
	return l
}

// wait waits for the script to deliver everything and exit, and returns
// the acknowledged records.
func (l *rdkafkaLoad) wait(t *testing.T) map[string]ackedRecord {
	t.Helper()
	if err := <-l.readDone; err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Wait(); err != nil {
		t.Fatalf("producer script: %v", err)
	}
	if len(l.acked) == 0 {
		t.Fatal("no record was acknowledged")
	}
	return l.acked
}

// idempotentLoad is a franz-go idempotent acks=all producer writing
// "v-<i>" records to a topic in the background, remembering where each
// acknowledged record went.
type idempotentLoad struct {
	cl        *kgo.Client
	stop      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	acked     map[string]ackedRecord
	attempted int
}

func startIdempotentLoad(ctx context.Context, t *testing.T, seeds []string, topic string) *idempotentLoad {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(2000), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	l := &idempotentLoad{cl: cl, stop: make(chan struct{}), acked: map[string]ackedRecord{}}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				l.attempted = i
				return
			default:
			}
			r := &kgo.Record{Key: []byte("k" + strconv.Itoa(i%30)), Value: []byte("v-" + strconv.Itoa(i))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					return // not acknowledged: may or may not be stored, never twice
				}
				l.mu.Lock()
				l.acked[string(r.Value)] = ackedRecord{r.Partition, r.Offset}
				l.mu.Unlock()
			})
		}
	}()
	return l
}

// finish stops producing, waits for every outstanding record and returns
// the acknowledged ones.
func (l *idempotentLoad) finish(ctx context.Context, t *testing.T) map[string]ackedRecord {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if err := l.cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	l.cl.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.acked) == 0 {
		t.Fatal("no record was acknowledged")
	}
	return l.acked
}
