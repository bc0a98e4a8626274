package server

// Consumer groups with real non-Go clients: confluent-kafka (librdkafka)
// and kafka-python consumers (testdata/groups/consumer.py, run with the
// Debian /usr/bin/python3), and kcat's balanced consumer (-G). A missing
// client skips its test unless STRATA_CLIENT_TESTS=require, when it fails.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

const groupPython = "/usr/bin/python3" // the Debian packages live here, not in a pyenv

// needClient skips (or, with STRATA_CLIENT_TESTS=require, fails) when a
// client is missing.
func needClient(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("STRATA_CLIENT_TESTS") == "require" {
		t.Fatalf("STRATA_CLIENT_TESTS=require but %s is missing: %v", what, err)
	}
	t.Skipf("%s is missing (%v); install it with scripts/deps.sh", what, err)
}

func pythonModule(module string) error {
	if _, err := os.Stat(groupPython); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, groupPython, "-I", "-c", "import "+module).CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// pyConsumer is one consumer.py process.
type pyConsumer struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process exited
	err   error         // its exit status, once done

	mu       sync.Mutex
	closedAt time.Time // when it reported a clean close (LeaveGroup sent)
	assigned []int32
	records  map[[2]int64]int // (partition, offset) -> times consumed
	stderr   bytes.Buffer
}

func (c *pyConsumer) label() string { return c.name }

func (c *pyConsumer) assignment() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.assigned)
}

// consumed returns what the consumer read, as (partition, offset) -> count.
func (c *pyConsumer) consumed() map[[2]int64]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[[2]int64]int, len(c.records))
	for k, v := range c.records {
		out[k] = v
	}
	return out
}

func startPyConsumer(t *testing.T, lib, addr, grp, topic, name, strategy string, session time.Duration) *pyConsumer {
	t.Helper()
	c := &pyConsumer{name: name, done: make(chan struct{}), records: map[[2]int64]int{}}
	c.cmd = exec.Command(groupPython, "-u", "testdata/groups/consumer.py", lib, addr, grp, topic, name, strategy,
		fmt.Sprint(session.Milliseconds()))
	c.cmd.Stderr = &lockedWriter{mu: &c.mu, w: &c.stderr}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev struct {
				Event      string  `json:"event"`
				Partitions []int32 `json:"partitions"`
				Partition  int64   `json:"partition"`
				Offset     int64   `json:"offset"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			c.mu.Lock()
			switch ev.Event {
			case "assigned":
				c.assigned = ev.Partitions
			case "record":
				c.records[[2]int64{ev.Partition, ev.Offset}]++
			case "closed":
				c.closedAt = time.Now()
			}
			c.mu.Unlock()
		}
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			c.mu.Lock()
			t.Logf("%s stderr:\n%s", name, tail(c.stderr.String(), 30))
			c.mu.Unlock()
		}
	})
	return c
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kill ends the process with SIGKILL: no LeaveGroup, no commit.
func (c *pyConsumer) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

// close closes stdin: the consumer commits, leaves the group and exits 0.
func (c *pyConsumer) close(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30s of closing its stdin", c.name)
	}
	if c.err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("%s exited with %v:\n%s", c.name, c.err, tail(c.stderr.String(), 20))
	}
}

// waitRecords waits until the consumers together read every (partition,
// offset) in want at least once.
func waitRecords(t *testing.T, cs []*pyConsumer, want map[[2]int64]bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		missing := 0
		got := map[[2]int64]bool{}
		for _, c := range cs {
			for k := range c.consumed() {
				got[k] = true
			}
		}
		for k := range want {
			if !got[k] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records never consumed within %v", missing, len(want), within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// offsets returns every (partition, offset) of n records spread round-robin
// over parts partitions after from records per partition.
func offsets(parts, from, n int) map[[2]int64]bool {
	out := map[[2]int64]bool{}
	for i := 0; i < n; i++ {
		out[[2]int64{int64(i % parts), int64(from + i/parts)}] = true
	}
	return out
}

func TestGroupPythonConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts client processes")
	}
	confluentErr := pythonModule("confluent_kafka")
	kafkaPythonErr := pythonModule("kafka")
	tb := groupBroker(t)
	const session = 3 * time.Second
	cases := []struct {
		lib, strategy string
		missing       error
		what          string
	}{
		{"confluent", "range", confluentErr, "python3-confluent-kafka"},
		{"confluent", "cooperative-sticky", confluentErr, "python3-confluent-kafka"},
		{"kafka-python", "range", kafkaPythonErr, "python3-kafka"},
	}
	for _, tc := range cases {
		t.Run(tc.lib+"/"+tc.strategy, func(t *testing.T) {
			needClient(t, tc.missing, tc.what)
			topic := "py-" + tc.lib + "-" + tc.strategy
			grp := "g-" + topic
			createTopic(t, tb, topic, 6)
			addr := tb.srv.KafkaAddr()
			a := startPyConsumer(t, tc.lib, addr, grp, topic, "a", tc.strategy, session)
			b := startPyConsumer(t, tc.lib, addr, grp, topic, "b", tc.strategy, session)
			both := []*pyConsumer{a, b}
			waitBalanced(t, both, 6, 45*time.Second)
			for _, c := range both {
				if n := len(c.assignment()); n != 3 {
					t.Fatalf("%s owns %v; want 3 of 6 partitions: %s", c.name, c.assignment(), describeAssignment(both))
				}
			}

			produceN(t, tb, topic, 6, 120, "x")
			waitRecords(t, both, offsets(6, 0, 120), 30*time.Second)
			// No overlap: each record read once, by the owner of its partition.
			for _, c := range both {
				own := c.assignment()
				for k, n := range c.consumed() {
					if n != 1 || !slices.Contains(own, int32(k[0])) {
						t.Fatalf("%s read %d/%d %d times; it owns %v", c.name, k[0], k[1], n, own)
					}
				}
			}

			// A third member joins: two partitions each.
			c := startPyConsumer(t, tc.lib, addr, grp, topic, "c", tc.strategy, session)
			three := []*pyConsumer{a, b, c}
			waitBalanced(t, three, 6, 45*time.Second)
			for _, m := range three {
				if n := len(m.assignment()); n != 2 {
					t.Fatalf("%s owns %v; want 2 of 6 partitions: %s", m.name, m.assignment(), describeAssignment(three))
				}
			}

			// c leaves cleanly (close: LeaveGroup): a and b take its
			// partitions without waiting for its session to expire.
			c.close(t)
			waitStart := time.Now()
			took := waitBalanced(t, both, 6, session+15*time.Second)
			c.mu.Lock()
			moved := waitStart.Add(took).Sub(c.closedAt)
			c.mu.Unlock()
			t.Logf("%s: partitions of the leaving consumer moved %v after it left", tc.lib, moved.Round(time.Millisecond))
			if moved >= session {
				t.Fatalf("a clean leave took %v to rebalance, as long as the %v session timeout", moved, session)
			}

			// b dies (SIGKILL: no LeaveGroup): a takes all six partitions
			// once b's session has expired.
			killed := time.Now()
			b.kill(t)
			waitBalanced(t, []*pyConsumer{a}, 6, session+15*time.Second)
			moved = time.Since(killed)
			t.Logf("%s: partitions of the killed consumer moved %v after the kill", tc.lib, moved.Round(time.Millisecond))
			if moved > session+6*time.Second {
				t.Fatalf("the killed member's partitions moved after %v; session timeout %v", moved, session)
			}
			produceN(t, tb, topic, 6, 60, "y")
			waitRecords(t, []*pyConsumer{a}, offsets(6, 20, 60), 30*time.Second)
			a.close(t)

			// What a committed is in etcd: a new consumer of the group reads
			// nothing old.
			offs, err := kadm.NewClient(tb.client()).FetchOffsets(testCtx(t), grp)
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < 6; p++ {
				if o, ok := offs.Lookup(topic, p); !ok || o.At != 30 {
					t.Fatalf("committed offset of %s/%d: %+v (found %v), want 30", topic, p, o, ok)
				}
			}
		})
	}
}

func TestGroupKcatBalancedConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts client processes")
	}
	kcat, err := exec.LookPath("kcat")
	needClient(t, err, "kcat")
	tb := groupBroker(t)
	const topic, grp = "kcat-balanced", "g-kcat"
	createTopic(t, tb, topic, 6)
	produceN(t, tb, topic, 6, 60, "k")

	run := func() []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, "-b", tb.srv.KafkaAddr(), "-G", grp, "-e",
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
			"-f", "%p:%o\n", topic)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat -G: %v\n%s", err, tail(stderr.String(), 20))
		}
		lines := strings.Fields(string(out))
		slices.Sort(lines)
		return lines
	}
	got := run()
	want := []string{}
	for k := range offsets(6, 0, 60) {
		want = append(want, fmt.Sprintf("%d:%d", k[0], k[1]))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("kcat -G read %d records (%v...), want the 60 produced", len(got), got[:min(len(got), 10)])
	}
	offs, err := kadm.NewClient(tb.client()).FetchOffsets(testCtx(t), grp)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 6; p++ {
		if o, ok := offs.Lookup(topic, p); !ok || o.At != 10 {
			t.Fatalf("committed offset of %s/%d: %+v (found %v), want 10", topic, p, o, ok)
		}
	}
	// Run again: everything is committed, nothing is read twice.
	produceN(t, tb, topic, 6, 6, "more")
	if again := run(); len(again) != 6 {
		t.Fatalf("second kcat -G run read %v, want only the 6 new records", again)
	}
}
