package main

// Network partitions between real hosts: each broker runs in its own
// network namespace (ip netns), joined to the test by a veth pair on a
// bridge. Cutting a broker's link isolates it from the clients, the other
// brokers and the other etcd members, exactly as a cable pull would.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type netLab struct {
	t        *testing.T
	prefix   string
	n        int
	iptables bool
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newNetLab creates n namespaces with addresses 10.<x>.0.1..n and a bridge
// at 10.<x>.0.254 in the test's namespace; skipped where that is not
// possible (not root, no ip command, no netns support).
func newNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	lab, why := tryNetLab(t, n)
	if lab == nil {
		t.Skip("network partition test: " + why)
	}
	return lab
}

// tryNetLab is newNetLab, returning nil and the reason where namespaces
// cannot be made.
func tryNetLab(t *testing.T, n int) (*netLab, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil, "needs root for ip netns"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, "needs the ip command (iproute2)"
	}
	prefix := fmt.Sprintf("st%d", os.Getpid()%100000)
	probe := prefix + "probe"
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return nil, fmt.Sprintf("cannot create network namespaces (%v: %s)", err, out)
	}
	_ = exec.Command("ip", "netns", "del", probe).Run()
	lab := &netLab{t: t, prefix: prefix, n: n}
	t.Cleanup(lab.teardown)
	subnet := 64 + os.Getpid()%100
	br := prefix + "br"
	run(t, "ip", "link", "add", br, "type", "bridge")
	run(t, "ip", "addr", "add", fmt.Sprintf("10.%d.0.254/24", subnet), "dev", br)
	run(t, "ip", "link", "set", br, "up")
	// Docker sets the FORWARD policy to DROP, and with br_netfilter that
	// applies to bridged frames too: let our bridge's traffic through.
	if _, err := exec.LookPath("iptables"); err == nil {
		run(t, "iptables", "-I", "FORWARD", "-i", br, "-j", "ACCEPT")
		lab.iptables = true
	}
	for i := 1; i <= n; i++ {
		ns, host := lab.ns(i), lab.hostVeth(i)
		run(t, "ip", "netns", "add", ns)
		run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
		run(t, "ip", "link", "set", host, "master", br)
		run(t, "ip", "link", "set", host, "up")
		run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", fmt.Sprintf("10.%d.0.%d/24", subnet, i), "dev", "eth0")
		run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
		run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	}
	lab.prefix = prefix
	labSubnet = subnet
	return lab, ""
}

var labSubnet int

func (l *netLab) ns(i int) string       { return fmt.Sprintf("%s-n%d", l.prefix, i) }
func (l *netLab) hostVeth(i int) string { return fmt.Sprintf("%sv%d", l.prefix, i) }
func (l *netLab) ip(i int) string       { return fmt.Sprintf("10.%d.0.%d", labSubnet, i) }
func (l *netLab) bridgeIP() string      { return fmt.Sprintf("10.%d.0.254", labSubnet) }

// cut takes broker i's link down; heal brings it back.
func (l *netLab) cut(i int)  { run(l.t, "ip", "link", "set", l.hostVeth(i), "down") }
func (l *netLab) heal(i int) { run(l.t, "ip", "link", "set", l.hostVeth(i), "up") }

func (l *netLab) teardown() {
	for i := 1; i <= l.n; i++ {
		_ = exec.Command("ip", "link", "del", l.hostVeth(i)).Run()
		_ = exec.Command("ip", "netns", "del", l.ns(i)).Run()
	}
	if l.iptables {
		_ = exec.Command("iptables", "-D", "FORWARD", "-i", l.prefix+"br", "-j", "ACCEPT").Run()
	}
	_ = exec.Command("ip", "link", "del", l.prefix+"br").Run()
}

func TestNetworkPartitionedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("network partition test runs three brokers; skipped with -short")
	}
	lab := newNetLab(t, 3)
	bin := clientsBuildStrata(t)
	var members []string
	for i := 1; i <= 3; i++ {
		members = append(members, fmt.Sprintf("%d=http://%s:2380", i, lab.ip(i)))
	}
	var procs []*brokerProc
	var seeds []string
	store := "file://" + filepath.Join(t.TempDir(), "objects") // the cluster's one cold tier
	for i := 1; i <= 3; i++ {
		p := newBrokerProc(t, bin,
			"--broker-id", strconv.Itoa(i),
			"--object-store", store,
			"--etcd-initial-cluster", strings.Join(members, ","),
			"--broker-ttl", "3s", "--replica-lag-max", "4s")
		p.wrap = []string{"ip", "netns", "exec", lab.ns(i)}
		p.addr = lab.ip(i) + ":9092"
		p.metrics = lab.ip(i) + ":9644"
		procs = append(procs, p)
		seeds = append(seeds, p.addr)
	}
	startAll(procs)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic = "partitioned"
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if r, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	load := startIdempotentLoad(ctx, t, seeds, topic)
	time.Sleep(time.Second)
	victim := leaderOf(ctx, t, adm, topic, 0)
	t.Logf("cutting broker %d (leader of partition 0) off the network for 8s", victim)
	lab.cut(int(victim))
	time.Sleep(8 * time.Second)
	if l := leaderOf(ctx, t, adm, topic, 0); l == victim {
		t.Errorf("partition 0 still led by the cut-off broker %d", victim)
	}
	lab.heal(int(victim))
	time.Sleep(5 * time.Second)
	acked := load.finish(ctx, t)
	crashVerify(t, seeds[0], topic, acked, load.attempted)
	for _, p := range procs {
		p.kill(syscall.SIGTERM)
	}
}
