package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stratalog/strata/server"
)

// target is the broker under test.
type target struct {
	mode    string
	brokers []string
	metrics string // HTTP host:port, "" if unknown
	meter   meter  // nil if the broker's resources cannot be seen
	scope   string // what meter covers
	close   func() error
}

// meter reads a process's CPU time and peak RSS.
type meter interface {
	cpuSeconds() (float64, error)
	// resetPeak starts a new peak-RSS window.
	resetPeak()
	peakRSS() (int64, error)
}

// startTarget connects to or starts the broker under test.
func startTarget(ctx context.Context, cfg *Config, dataDir string) (*target, error) {
	switch {
	case len(cfg.Brokers) > 0:
		t := &target{mode: "external", brokers: cfg.Brokers, metrics: cfg.BrokerMetrics, close: func() error { return nil }}
		if t.metrics != "" {
			m := newMetricsMeter(t.metrics)
			if _, err := m.cpuSeconds(); err != nil {
				return nil, fmt.Errorf("--broker-metrics %s: %w", t.metrics, err)
			}
			t.meter, t.scope = m, "broker process (sampled from its /metrics)"
			t.close = func() error { m.stop(); return nil }
		}
		return t, nil
	case cfg.StrataBin != "":
		return spawnBroker(ctx, cfg.StrataBin, filepath.Join(dataDir, "strata"))
	default:
		return inProcessBroker(ctx, filepath.Join(dataDir, "strata"))
	}
}

// brokerRetentionCheck is how often the broker under test runs retention
// and looks for segments to tier (the tier loop runs at most every second).
const brokerRetentionCheck = 500 * time.Millisecond

func inProcessBroker(ctx context.Context, dir string) (*target, error) {
	srv, err := server.Start(ctx, server.Config{
		DataDir:                dir,
		Listen:                 "127.0.0.1:0",
		MetricsListen:          "127.0.0.1:0",
		Pprof:                  true, // the bench profiles the broker
		BrokerID:               1,
		AutoCreateTopics:       true,
		DefaultPartitions:      1,
		RetentionCheckInterval: brokerRetentionCheck,
		Logger:                 slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	return &target{
		mode:    "in process",
		brokers: []string{srv.KafkaAddr()},
		metrics: srv.MetricsAddr(),
		meter:   procMeter{pid: 0},
		scope:   "the whole bench process: broker, clients and NATS",
		close:   srv.Close,
	}, nil
}

func spawnBroker(ctx context.Context, bin, dir string) (*target, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kafka, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "..", "strata-serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve",
		"--data-dir", dir,
		"--listen", kafka,
		"--metrics-listen", metrics,
		"--pprof",
		"--retention-check-interval", brokerRetentionCheck.String(),
		"--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s serve: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	stop := func() error {
		select {
		case <-exited:
			return fmt.Errorf("broker exited early (log: %s)", logPath)
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return nil
	}
	if err := waitReady(ctx, kafka, metrics, exited); err != nil {
		_ = stop()
		return nil, fmt.Errorf("%w (log: %s)\n%s", err, logPath, lastLines(logPath, 20))
	}
	return &target{
		mode:    "child process",
		brokers: []string{kafka},
		metrics: metrics,
		meter:   procMeter{pid: cmd.Process.Pid},
		scope:   "the broker process alone (strata serve, with its embedded etcd)",
		close:   stop,
	}, nil
}

// waitReady waits until /readyz answers 200 and the Kafka port accepts.
func waitReady(ctx context.Context, kafka, metrics string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+metrics+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c, err := net.DialTimeout("tcp", kafka, time.Second)
				if err == nil {
					c.Close()
					return nil
				}
				last = err
			} else {
				last = errors.New(resp.Status)
			}
		} else {
			last = err
		}
		select {
		case <-exited:
			return errors.New("broker exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("broker not ready: %v", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func lastLines(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// procMeter reads /proc for process pid (0: this process).
type procMeter struct{ pid int }

func (m procMeter) dir() string {
	if m.pid == 0 {
		return "/proc/self"
	}
	return "/proc/" + strconv.Itoa(m.pid)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

func (m procMeter) cpuSeconds() (float64, error) {
	if m.pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, err
		}
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9, nil
	}
	b, err := os.ReadFile(m.dir() + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in its parens:
	// utime and stime are fields 14 and 15 of the whole line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return float64(utime+stime) / clockTicks, nil
}

// resetPeak clears the kernel's high-water mark of the resident set
// (clear_refs 5, Linux 4.0+); without the right to, the peak stays the
// process's lifetime peak.
func (m procMeter) resetPeak() {
	_ = os.WriteFile(m.dir()+"/clear_refs", []byte("5"), 0)
}

func (m procMeter) peakRSS() (int64, error) {
	f, err := os.Open(m.dir() + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// metricsMeter scrapes an external broker's Prometheus process metrics;
// the peak RSS is the largest of samples taken every 200 ms.
type metricsMeter struct {
	url  string
	mu   sync.Mutex
	peak int64
	done chan struct{}
	once sync.Once
}

func newMetricsMeter(addr string) *metricsMeter {
	m := &metricsMeter{url: "http://" + addr + "/metrics", done: make(chan struct{})}
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				if v, err := m.scrape("process_resident_memory_bytes"); err == nil {
					m.mu.Lock()
					m.peak = max(m.peak, int64(v))
					m.mu.Unlock()
				}
			}
		}
	}()
	return m
}

func (m *metricsMeter) stop() { m.once.Do(func() { close(m.done) }) }

func (m *metricsMeter) scrape(name string) (float64, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(m.url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", m.url, resp.Status)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", m.url, name)
}

func (m *metricsMeter) cpuSeconds() (float64, error) { return m.scrape("process_cpu_seconds_total") }

func (m *metricsMeter) resetPeak() {
	m.mu.Lock()
	m.peak = 0
	m.mu.Unlock()
}

func (m *metricsMeter) peakRSS() (int64, error) {
	v, err := m.scrape("process_resident_memory_bytes")
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		m.peak = max(m.peak, int64(v))
	}
	if m.peak == 0 {
		return 0, err
	}
	return m.peak, nil
}
