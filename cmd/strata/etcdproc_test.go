package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdCluster is a separately run etcd cluster (upstream etcd's main at the
// version go.mod pins, meta/internal/etcdmain, with its stock limits), one
// process per member, for the tests that kill and restart etcd apart from
// the brokers, as a deployment with its own etcd (compose.yaml) lives it.
type etcdCluster struct {
	t       *testing.T
	bin     string
	members []*etcdMember
}

type etcdMember struct {
	name, dataDir, logPath string
	client, peer           string // URLs
	proc                   *child
}

// startEtcdCluster builds etcd and starts n members listening on host (a
// loopback or lab bridge address), each on its own ports.
func startEtcdCluster(t *testing.T, host string, n int) *etcdCluster {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "etcd")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/stratalog/strata/meta/internal/etcdmain")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build etcd: %v\n%s", err, out)
	}
	c := &etcdCluster{t: t, bin: bin}
	var initial []string
	for i := 1; i <= n; i++ {
		m := &etcdMember{
			name:    fmt.Sprintf("etcd%d", i),
			dataDir: filepath.Join(dir, fmt.Sprintf("etcd%d", i)),
			logPath: filepath.Join(dir, fmt.Sprintf("etcd%d.log", i)),
		}
		if host == "127.0.0.1" {
			m.client, m.peer = "http://"+clientsFreeAddr(t), "http://"+clientsFreeAddr(t)
		} else {
			m.client = fmt.Sprintf("http://%s:%d", host, 23790+10*i)
			m.peer = fmt.Sprintf("http://%s:%d", host, 23791+10*i)
		}
		initial = append(initial, m.name+"="+m.peer)
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		c.launch(m, strings.Join(initial, ","))
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			c.kill(m)
		}
		if t.Failed() {
			for _, m := range c.members {
				b, _ := os.ReadFile(m.logPath)
				lines := strings.Split(string(b), "\n")
				t.Logf("%s log, last lines:\n%s", m.name, strings.Join(lines[max(0, len(lines)-30):], "\n"))
			}
		}
	})
	c.waitHealthy(time.Minute)
	return c
}

// endpoints are the members' client URLs, as --etcd-endpoints takes them.
func (c *etcdCluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.client)
	}
	return eps
}

func (c *etcdCluster) launch(m *etcdMember, initialCluster string) {
	c.t.Helper()
	m.proc = startChild(c.t, []string{c.bin,
		"--name", m.name, "--data-dir", m.dataDir,
		"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
		"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", initialCluster, "--log-level", "warn"}, nil, m.logPath, "=== start")
}

// kill SIGKILLs a member and waits for it to exit.
func (c *etcdCluster) kill(m *etcdMember) { m.proc.stop(syscall.SIGKILL) }

// restart starts a killed member again on its data directory: it rejoins
// the cluster it was part of (the initial-cluster flag is ignored once the
// data directory holds a member).
func (c *etcdCluster) restart(m *etcdMember) {
	var initial []string
	for _, o := range c.members {
		initial = append(initial, o.name+"="+o.peer)
	}
	c.launch(m, strings.Join(initial, ","))
}

// waitHealthy waits until every member answers a linearizable read.
func (c *etcdCluster) waitHealthy(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for _, m := range c.members {
		for {
			err := memberHealthy(m.client)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("etcd member %s not healthy after %v: %v", m.name, within, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func memberHealthy(endpoint string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "health")
	return err
}
