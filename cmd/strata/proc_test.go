package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// brokerProc is a `strata serve` child process that can be killed and
// restarted on the same data directory and ports.
type brokerProc struct {
	t                      *testing.T
	bin                    string
	dataDir, addr, metrics string
	logPath                string
	extraArgs              []string
	wrap                   []string // command prefix, e.g. ip netns exec <ns>
	*child                          // the running (or last) process; nil before the first launch
	starts                 int
}

// child is a started process and a channel closed once it has exited.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startChild starts argv with env (nil: this process's), its output
// appended to logPath after a header line.
func startChild(t *testing.T, argv, env []string, logPath, header string) *child {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(logFile, header)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", argv[0], err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	return c
}

// stop sends sig and waits for the process to exit (SIGKILL after 30 s).
func (c *child) stop(sig syscall.Signal) {
	if c == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func newBrokerProc(t *testing.T, bin string, extraArgs ...string) *brokerProc {
	t.Helper()
	dir := t.TempDir()
	p := &brokerProc{
		t: t, bin: bin,
		dataDir:   filepath.Join(dir, "data"),
		addr:      clientsFreeAddr(t),
		metrics:   clientsFreeAddr(t),
		logPath:   filepath.Join(dir, "strata.log"),
		extraArgs: extraArgs,
	}
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("broker log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
	})
	return p
}

// start launches the process and waits until /readyz answers 200.
func (p *brokerProc) start() {
	p.t.Helper()
	p.launch()
	p.waitReady()
}

// startAll launches every process, then waits for each to be ready: the
// brokers of an embedded etcd cluster need each other to come up.
func startAll(procs []*brokerProc) {
	for _, p := range procs {
		p.launch()
	}
	for _, p := range procs {
		p.waitReady()
	}
}

// launch starts the process without waiting for it to be ready.
func (p *brokerProc) launch() {
	p.t.Helper()
	args := append([]string{"serve", "--data-dir", p.dataDir, "--listen", p.addr, "--metrics-listen", p.metrics}, p.extraArgs...)
	argv := append(append(append([]string(nil), p.wrap...), p.bin), args...)
	p.child = startChild(p.t, argv, clientsServerEnv(), p.logPath, fmt.Sprintf("=== start %d", p.starts))
	p.starts++
}

// waitReady waits until /readyz answers 200 and the Kafka port accepts.
func (p *brokerProc) waitReady() {
	p.t.Helper()
	done := p.done
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			p.t.Fatalf("broker exited during start-up (see %s)", p.logPath)
		default:
		}
		resp, err := http.Get("http://" + p.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
					c.Close()
					return
				}
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("broker not ready after 60s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends sig and waits for the process to exit.
func (p *brokerProc) kill(sig syscall.Signal) { p.child.stop(sig) }
