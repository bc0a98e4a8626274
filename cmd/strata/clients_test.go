package main

// Real non-Go clients against a real `strata serve` process: kcat
// (librdkafka), confluent-kafka and kafka-python (the Debian packages, run with
// /usr/bin/python3). The binary is built once per test run, started as a child
// process on free loopback ports, and must exit 0 on SIGTERM.
//
// A missing client skips its scenario, unless STRATA_CLIENT_TESTS=require
// (what `make test` sets): then it fails. scripts/deps.sh installs them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratalog/strata/meta/embedetcd"
)

const (
	clientsPython = "/usr/bin/python3" // the Debian packages live here, not in a pyenv
	// Partitions of auto-created topics (the server runs with
	// --default-partitions clientsPartitions) so kcat can produce to several.
	clientsPartitions         = 3
	clientsServerStartTimeout = 90 * time.Second // embedded etcd included
	clientsServerStopTimeout  = 20 * time.Second
	clientsCmdTimeout         = 90 * time.Second // python scenarios; the scripts give up at 55 s
	clientsKcatTimeout        = 30 * time.Second // one kcat run
)

func TestClients(t *testing.T) {
	if testing.Short() {
		t.Skip("real-client tests start a server and external clients; skipped with -short")
	}
	kcat, kcatErr := exec.LookPath("kcat")
	confluentErr := clientsPythonModule("confluent_kafka")
	kafkaPythonErr := clientsPythonModule("kafka")
	if kcatErr != nil && confluentErr != nil && kafkaPythonErr != nil && !clientsRequired() {
		t.Skipf("no Kafka client available (kcat: %v; confluent_kafka: %v; kafka-python: %v); run scripts/deps.sh",
			kcatErr, confluentErr, kafkaPythonErr)
	}

	bin := clientsBuildStrata(t)
	srv := clientsStartServer(t, bin)

	var kc *clientsKcat // set when the kcat scenario passed
	var deleted []string
	t.Run("http", func(t *testing.T) { clientsTestHTTP(t, srv) })
	t.Run("kcat", func(t *testing.T) {
		if kcatErr != nil {
			clientsMissing(t, "kcat not on PATH (Debian package kcat): %v", kcatErr)
		}
		k := &clientsKcat{kcat: kcat, addr: srv.addr}
		k.testAll(t)
		if !t.Failed() {
			kc = k
		}
	})
	t.Run("kcat-sasl", func(t *testing.T) {
		if kcatErr != nil {
			clientsMissing(t, "kcat not on PATH (Debian package kcat): %v", kcatErr)
		}
		clientsTestKcatSASL(t, &clientsKcat{kcat: kcat, addr: srv.addr})
	})
	t.Run("confluent-kafka", func(t *testing.T) {
		if confluentErr != nil {
			clientsMissing(t, "%s cannot import confluent_kafka (Debian package python3-confluent-kafka): %v", clientsPython, confluentErr)
		}
		sum := clientsRunPython(t, "confluent_kafka_client.py", srv.addr, "confluent-topic")
		clientsCheckSummary(t, sum, map[string]any{"produced": 200.0, "consumed": 200.0, "partitions": 3.0, "deleted": true})
		if w, _ := sum["warnings"].([]any); len(w) > 0 {
			t.Logf("confluent-kafka consumer reported non-fatal errors: %v", w)
		}
		if sum["deleted"] == true {
			deleted = append(deleted, "confluent-topic")
		}
	})
	t.Run("confluent-kafka-transactions", func(t *testing.T) {
		if confluentErr != nil {
			clientsMissing(t, "%s cannot import confluent_kafka (Debian package python3-confluent-kafka): %v", clientsPython, confluentErr)
		}
		sum := clientsRunPython(t, "confluent_kafka_txn.py", srv.addr, "confluent-txn-topic")
		clientsCheckSummary(t, sum, map[string]any{"committed": 60.0, "aborted": 12.0, "fenced": true})
		// read_committed: both committed transactions whole, nothing of
		// the aborted one or of the fenced zombie.
		seen, _ := sum["read_committed"].(map[string]any)
		if len(seen) != 2 || seen["c1"] != 30.0 || seen["c2"] != 30.0 {
			t.Fatalf("read_committed saw %v, want c1: 30, c2: 30 and nothing else", sum["read_committed"])
		}
	})
	t.Run("kafka-python", func(t *testing.T) {
		if kafkaPythonErr != nil {
			clientsMissing(t, "%s cannot import kafka (Debian package python3-kafka): %v", clientsPython, kafkaPythonErr)
		}
		sum := clientsRunPython(t, "kafka_python_client.py", srv.addr, "kafka-python-topic")
		clientsCheckSummary(t, sum, map[string]any{"produced": 80.0, "consumed": 80.0, "partitions": 3.0, "listed": true})
	})

	srv.stop(t)

	// The same data directory again: everything acknowledged must still be
	// there, and the broker must again stop cleanly.
	t.Run("restart", func(t *testing.T) {
		if kc == nil {
			t.Skip("the kcat scenario did not pass; nothing to check after a restart")
		}
		srv.start(t)
		kc.afterRestart(t, deleted)
		srv.stop(t)
	})
}

// clientsRequired reports whether missing clients must fail the test.
func clientsRequired() bool { return os.Getenv("STRATA_CLIENT_TESTS") == "require" }

func clientsMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	if clientsRequired() {
		t.Fatalf("STRATA_CLIENT_TESTS=require but "+format, args...)
	}
	t.Skipf(format+" (run scripts/deps.sh)", args...)
}

func clientsPythonModule(module string) error {
	if _, err := os.Stat(clientsPython); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, clientsPython, "-I", "-c", "import "+module).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, clientsTail(string(out), 3))
	}
	return nil
}

// ---------------------------------------------------------------------------
// the server process

// clientsBuildStrata builds this package's binary once into a temporary directory.
func clientsBuildStrata(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "strata")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command not found to build strata: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/strata: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

type clientsServer struct {
	bin, addr, metricsAddr, dataDir, logPath string
	usersFile                                string   // --sasl-plain-users-file: clientsSASLUser
	extraArgs                                []string // instead of --listen and the users file (clients_secure_test.go)
	cmd                                      *exec.Cmd
	done                                     chan struct{} // closed when the process exited
	waitErr                                  error
}

// clientsStartServer starts `strata serve` on a fresh data directory and
// free loopback ports and waits until it is ready.
func clientsStartServer(t *testing.T, bin string) *clientsServer {
	t.Helper()
	dir := t.TempDir()
	s := &clientsServer{
		bin:         bin,
		addr:        clientsFreeAddr(t),
		metricsAddr: clientsFreeAddr(t),
		dataDir:     filepath.Join(dir, "data"),
		logPath:     filepath.Join(dir, "strata.log"),
		usersFile:   filepath.Join(dir, "users"),
	}
	if err := os.WriteFile(s.usersFile, []byte(clientsSASLUser+":"+clientsSASLPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cleanupAndStart(t)
	return s
}

// cleanupAndStart registers the safety net (when the test ended before
// stop: never leave the child behind; the log tail on failure) and starts.
func (s *clientsServer) cleanupAndStart(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		if s.running() {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("strata serve log (%s), last lines:\n%s", s.logPath, s.logTail(150))
		}
	})
	s.start(t)
}

func (s *clientsServer) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// start runs the server (again) with the same data directory and ports.
func (s *clientsServer) start(t *testing.T) {
	t.Helper()
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"serve",
		"--data-dir", s.dataDir,
		"--metrics-listen", s.metricsAddr,
		"--default-partitions", strconv.Itoa(clientsPartitions),
	}
	if s.extraArgs != nil {
		args = append(args, s.extraArgs...)
	} else {
		args = append(args, "--listen", s.addr, "--sasl-plain-users-file", s.usersFile)
	}
	fmt.Fprintf(logFile, "=== clients_test: starting %s %s\n", s.bin, strings.Join(args, " "))
	cmd := exec.Command(s.bin, args...)
	cmd.Env = clientsServerEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", s.bin, err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	t.Logf("started strata serve (pid %d) kafka=%s metrics=%s", cmd.Process.Pid, s.addr, s.metricsAddr)

	start := time.Now()
	deadline := start.Add(clientsServerStartTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for {
		select {
		case <-done:
			t.Fatalf("strata serve exited during start-up: %v\n%s", s.waitErr, s.logTail(60))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("strata serve not ready after %v: %v\n%s", clientsServerStartTimeout, lastErr, s.logTail(60))
		}
		lastErr = func() error {
			c, err := net.DialTimeout("tcp", s.addr, time.Second)
			if err != nil {
				return fmt.Errorf("kafka port: %w", err)
			}
			c.Close()
			resp, err := client.Get("http://" + s.metricsAddr + "/readyz")
			if err != nil {
				return fmt.Errorf("/readyz: %w", err)
			}
			body, _ := clientsReadAll(resp, 4096)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("/readyz: %s %q", resp.Status, body)
			}
			return nil
		}()
		if lastErr == nil {
			t.Logf("strata serve ready after %v", time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires exit status 0 within clientsServerStopTimeout.
func (s *clientsServer) stop(t *testing.T) {
	t.Helper()
	if !s.running() {
		if s.cmd != nil {
			t.Errorf("strata serve exited before SIGTERM: %v", s.waitErr)
		}
		return
	}
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Errorf("strata serve exited with %v after SIGTERM, want status 0", s.waitErr)
		} else {
			t.Logf("strata serve stopped cleanly in %v", time.Since(start).Round(time.Millisecond))
		}
	case <-time.After(clientsServerStopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("strata serve did not exit within %v of SIGTERM (killed)", clientsServerStopTimeout)
	}
}

func (s *clientsServer) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	return clientsTail(string(b), n)
}

// clientsServerEnv is the test's environment without STRATA_* variables, so that
// only the flags given here configure the server.
func clientsServerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return env
}

func clientsFreeAddr(t *testing.T) string {
	t.Helper()
	ports, err := embedetcd.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}

func clientsTestHTTP(t *testing.T, srv *clientsServer) {
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct{ path, contains string }{
		{"/healthz", ""},
		{"/readyz", ""},
		{"/metrics", "# TYPE"},
	} {
		resp, err := client.Get("http://" + srv.metricsAddr + tc.path)
		if err != nil {
			t.Errorf("GET %s: %v", tc.path, err)
			continue
		}
		body, err := clientsReadAll(resp, 4<<20)
		if err != nil {
			t.Errorf("GET %s: reading body: %v", tc.path, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s %q", tc.path, resp.Status, clientsTail(body, 5))
		}
		if !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: body does not contain %q", tc.path, tc.contains)
		}
	}
}

// ---------------------------------------------------------------------------
// kcat

func clientsRun(t *testing.T, timeout time.Duration, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return out.String(), errb.String(), err
}

type clientsKcatMsg struct {
	key, value, headers string
	partition           int
	offset              int64
}

var clientsKcatCodecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// clientsKcat drives kcat against one broker and remembers what it produced
// to the codecs topic, so that the restart check can read it again.
type clientsKcat struct {
	kcat, addr string
	codecs     map[int][]clientsKcatMsg // kcat-codecs: partition -> messages in offset order
	roundStart map[string]int64         // codec -> wall clock (ms) just before its records
}

const (
	clientsKcatAutoTopic   = "kcat-auto"
	clientsKcatCodecsTopic = "kcat-codecs"
)

// run runs kcat with the broker arguments plus args; any failure is fatal.
func (k *clientsKcat) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	all := append([]string{"-b", k.addr, "-X", "broker.address.family=v4"}, args...)
	out, errOut, err := clientsRun(t, clientsKcatTimeout, stdin, k.kcat, all...)
	if err != nil || strings.Contains(errOut, "ERROR") || strings.Contains(errOut, "Delivery failed") {
		t.Fatalf("kcat %s: %v\nstderr:\n%s\n(re-run with -d broker,protocol,fetch for the wire exchange)",
			strings.Join(all, " "), err, clientsTail(errOut, 30))
	}
	return out
}

// produce sends "key:value" lines to one partition with acks=all.
func (k *clientsKcat) produce(t *testing.T, topic string, partition int, codec string, headers []string, msgs []clientsKcatMsg) {
	t.Helper()
	args := []string{"-P", "-X", "message.timeout.ms=20000", "-X", "request.required.acks=-1",
		"-X", "compression.codec=" + codec, "-K:", "-t", topic}
	if partition >= 0 {
		args = append(args, "-p", strconv.Itoa(partition))
	}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	var in strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&in, "%s:%s\n", m.key, m.value)
	}
	k.run(t, in.String(), args...)
}

// consume reads a whole topic from the beginning (no group) and returns it
// by partition.
func (k *clientsKcat) consume(t *testing.T, topic string) map[int][]clientsKcatMsg {
	t.Helper()
	out := k.run(t, "", "-C", "-t", topic, "-e", "-o", "beginning",
		"-X", "fetch.wait.max.ms=100", "-f", "%k|%s|%h|%p|%o\n")
	got := map[int][]clientsKcatMsg{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("kcat -C: unexpected line %q", line)
		}
		p, err1 := strconv.Atoi(f[3])
		o, err2 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("kcat -C: bad partition/offset in %q", line)
		}
		got[p] = append(got[p], clientsKcatMsg{key: f[0], value: f[1], headers: f[2], partition: p, offset: o})
	}
	return got
}

// compare reports every partition whose messages differ from want.
func (k *clientsKcat) compare(t *testing.T, topic string, got, want map[int][]clientsKcatMsg) {
	t.Helper()
	for p := range got {
		if p < 0 || p >= clientsPartitions {
			t.Errorf("%s: %d messages in partition %d, want partitions 0..%d only", topic, len(got[p]), p, clientsPartitions-1)
		}
	}
	for p := 0; p < clientsPartitions; p++ {
		if len(got[p]) != len(want[p]) {
			t.Errorf("%s partition %d: consumed %d messages, want %d", topic, p, len(got[p]), len(want[p]))
		}
		for i := 0; i < len(got[p]) && i < len(want[p]); i++ {
			if got[p][i] != want[p][i] {
				t.Errorf("%s partition %d message %d:\n got %+v\nwant %+v", topic, p, i, got[p][i], want[p][i])
				break
			}
		}
	}
}

type clientsMetadata struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []struct {
		Topic      string `json:"topic"`
		Error      string `json:"error"`
		Partitions []struct {
			Partition int32  `json:"partition"`
			Leader    int32  `json:"leader"`
			Error     string `json:"error"`
		} `json:"partitions"`
	} `json:"topics"`
}

// metadata runs `kcat -L -J` and checks the broker list: exactly broker 1,
// advertised at the listen address.
func (k *clientsKcat) metadata(t *testing.T) clientsMetadata {
	t.Helper()
	var md clientsMetadata
	out := k.run(t, "", "-L", "-J", "-m", "15")
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || md.Brokers[0].Name != k.addr {
		t.Errorf("kcat -L brokers = %+v, want exactly broker 1 at %s", md.Brokers, k.addr)
	}
	return md
}

// checkTopic checks that md lists topic with clientsPartitions healthy
// partitions led by broker 1.
func (k *clientsKcat) checkTopic(t *testing.T, md clientsMetadata, topic string) {
	t.Helper()
	for _, tp := range md.Topics {
		if tp.Topic != topic {
			continue
		}
		if tp.Error != "" {
			t.Errorf("topic %s: error %q", topic, tp.Error)
		}
		if len(tp.Partitions) != clientsPartitions {
			t.Errorf("topic %s: %d partitions, want %d (--default-partitions)", topic, len(tp.Partitions), clientsPartitions)
		}
		for _, p := range tp.Partitions {
			if p.Leader != 1 || p.Error != "" {
				t.Errorf("topic %s partition %d: leader %d error %q, want leader 1 and no error", topic, p.Partition, p.Leader, p.Error)
			}
		}
		return
	}
	t.Errorf("kcat -L does not list topic %s", topic)
}

func (k *clientsKcat) testAll(t *testing.T) {
	t.Run("auto-create and metadata", func(t *testing.T) {
		k.produce(t, clientsKcatAutoTopic, -1, "none", nil, []clientsKcatMsg{{key: "k0", value: "hello"}})
		var msgs []clientsKcatMsg
		for _, ms := range k.consume(t, clientsKcatAutoTopic) {
			msgs = append(msgs, ms...)
		}
		if len(msgs) != 1 || msgs[0].key != "k0" || msgs[0].value != "hello" || msgs[0].offset != 0 {
			t.Fatalf("consumed %+v, want one message k0:hello at offset 0", msgs)
		}
		k.checkTopic(t, k.metadata(t), clientsKcatAutoTopic)
	})

	t.Run("produce and consume every codec", func(t *testing.T) {
		const perCall = 20
		want := map[int][]clientsKcatMsg{}
		k.roundStart = map[string]int64{}
		for _, codec := range clientsKcatCodecs {
			// kcat stamps CreateTime itself; every record of this round is at
			// or after roundStart, every earlier one before it.
			time.Sleep(5 * time.Millisecond)
			k.roundStart[codec] = time.Now().UnixMilli()
			time.Sleep(5 * time.Millisecond)
			for p := 0; p < clientsPartitions; p++ {
				headers := []string{"h1=v1", "codec=" + codec, "part=" + strconv.Itoa(p)}
				var batch []clientsKcatMsg
				for i := 0; i < perCall; i++ {
					batch = append(batch, clientsKcatMsg{
						key:       fmt.Sprintf("key-%s-%d-%02d", codec, p, i),
						value:     fmt.Sprintf("value %s %d %d %s", codec, p, i, strings.Repeat("abc", i*7)),
						headers:   strings.Join(headers, ","),
						partition: p,
						offset:    int64(len(want[p]) + i),
					})
				}
				k.produce(t, clientsKcatCodecsTopic, p, codec, headers, batch)
				want[p] = append(want[p], batch...)
			}
		}
		k.compare(t, clientsKcatCodecsTopic, k.consume(t, clientsKcatCodecsTopic), want)
		if !t.Failed() {
			k.codecs = want
		}
	})

	// Positioning by ListOffsets: relative to the end, by timestamp (the time
	// index), and out of range.
	t.Run("offset lookups", func(t *testing.T) {
		if k.codecs == nil {
			t.Skip("needs the data of the codecs scenario")
		}
		n := len(k.codecs[1]) // 100
		for _, tc := range []struct {
			name, offset string
			want         []int64 // offsets read from partition 1
		}{
			{"last five", "-5", []int64{int64(n - 5), int64(n - 4), int64(n - 3), int64(n - 2), int64(n - 1)}},
			{"beginning", "beginning", []int64{0}},
			{"absolute", "42", []int64{42}},
			{"timestamp of the third codec round", fmt.Sprintf("s@%d", k.roundStart[clientsKcatCodecs[2]]), []int64{40}},
			{"timestamp of the first round", fmt.Sprintf("s@%d", k.roundStart[clientsKcatCodecs[0]]), []int64{0}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := []string{"-C", "-t", clientsKcatCodecsTopic, "-p", "1", "-o", tc.offset, "-e",
					"-X", "auto.offset.reset=error", "-f", "%o\n"}
				if len(tc.want) == 1 {
					args = append(args, "-c", "1")
				}
				out := k.run(t, "", args...)
				var got []int64
				for _, f := range strings.Fields(out) {
					o, err := strconv.ParseInt(f, 10, 64)
					if err != nil {
						t.Fatalf("kcat -o %s: bad output %q", tc.offset, out)
					}
					got = append(got, o)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("kcat -o %s read offsets %v, want %v", tc.offset, got, tc.want)
				}
			})
		}
		t.Run("out of range", func(t *testing.T) {
			all := []string{"-b", k.addr, "-X", "broker.address.family=v4", "-C", "-t", clientsKcatCodecsTopic,
				"-p", "1", "-o", strconv.Itoa(n + 1000), "-e", "-X", "auto.offset.reset=error", "-f", "%o\n"}
			out, errOut, err := clientsRun(t, clientsKcatTimeout, "", k.kcat, all...)
			if err == nil || !strings.Contains(errOut, "Offset out of range") || out != "" {
				t.Errorf("kcat %s: err=%v stdout=%q, want a failure with OFFSET_OUT_OF_RANGE; stderr:\n%s",
					strings.Join(all, " "), err, out, clientsTail(errOut, 10))
			}
		})
	})
}

// afterRestart checks, on a restarted broker with the same data directory,
// that the topics and every message are still there, deleted topics stay
// deleted, and new messages continue the offsets.
func (k *clientsKcat) afterRestart(t *testing.T, deleted []string) {
	md := k.metadata(t)
	k.checkTopic(t, md, clientsKcatAutoTopic)
	k.checkTopic(t, md, clientsKcatCodecsTopic)
	for _, tp := range md.Topics {
		for _, d := range deleted {
			if tp.Topic == d {
				t.Errorf("deleted topic %s is back after the restart", d)
			}
		}
	}
	k.compare(t, clientsKcatCodecsTopic, k.consume(t, clientsKcatCodecsTopic), k.codecs)

	const p = 1
	var more []clientsKcatMsg
	for i := 0; i < 5; i++ {
		more = append(more, clientsKcatMsg{
			key: fmt.Sprintf("after-restart-%d", i), value: "v", headers: "h=after",
			partition: p, offset: int64(len(k.codecs[p]) + i),
		})
	}
	k.produce(t, clientsKcatCodecsTopic, p, "zstd", []string{"h=after"}, more)
	k.codecs[p] = append(k.codecs[p], more...)
	k.compare(t, clientsKcatCodecsTopic, k.consume(t, clientsKcatCodecsTopic), k.codecs)
}

// ---------------------------------------------------------------------------
// python scenarios

func clientsRunPython(t *testing.T, script, addr, topic string) map[string]any {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", "clients", script))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stdout, stderr, err := clientsRun(t, clientsCmdTimeout, "", clientsPython, "-I", path, addr, topic)
	if err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s\nstdout:\n%s", script, topic, err, clientsTail(stderr, 40), clientsTail(stdout, 10))
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("%s: last stdout line is not a JSON summary: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout, clientsTail(stderr, 20))
	}
	t.Logf("%s finished in %v: %s", script, time.Since(start).Round(time.Millisecond), lines[len(lines)-1])
	return sum
}

func clientsCheckSummary(t *testing.T, sum map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if sum[k] != v {
			t.Errorf("summary %s = %v, want %v", k, sum[k], v)
		}
	}
}

// ---------------------------------------------------------------------------
// helpers

func clientsReadAll(resp *http.Response, limit int64) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return string(b), err
}

func clientsTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines omitted)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
