package main

// Three `strata serve` processes form one cluster with no separate etcd
// (each runs an embedded etcd member, --etcd-initial-cluster). Idempotent
// acks=all producers write to a topic with replication.factor=3 and
// min.insync.replicas=2 while the harness SIGKILLs a leader and SIGSTOPs
// another past its lease; afterwards every acknowledged record must be
// present exactly once, in order, and the replicas' logs identical below
// the high watermark.

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func startProcCluster(t *testing.T, bin string, n int) []*brokerProc {
	t.Helper()
	var members []string
	for i := 1; i <= n; i++ {
		members = append(members, fmt.Sprintf("%d=http://%s", i, clientsFreeAddr(t)))
	}
	var procs []*brokerProc
	store := "file://" + filepath.Join(t.TempDir(), "objects") // the cluster's one cold tier
	for i := 1; i <= n; i++ {
		procs = append(procs, newBrokerProc(t, bin,
			"--broker-id", strconv.Itoa(i),
			"--object-store", store,
			"--etcd-initial-cluster", strings.Join(members, ","),
			"--etcd-listen-client", "http://"+clientsFreeAddr(t),
			"--broker-ttl", "3s", "--replica-lag-max", "4s",
		))
	}
	startAll(procs)
	return procs
}

func leaderOf(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partition int32) int32 {
	t.Helper()
	for {
		td, err := adm.ListTopics(ctx, topic)
		if err == nil {
			for _, p := range td[topic].Partitions {
				if p.Partition == partition && p.Leader >= 0 {
					return p.Leader
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no leader for %s/%d: %v", topic, partition, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test runs three broker processes; skipped with -short")
	}
	bin := clientsBuildStrata(t)
	procs := startProcCluster(t, bin, 3)
	var seeds []string
	for _, p := range procs {
		seeds = append(seeds, p.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic = "cluster"
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	resp, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}

	load := startIdempotentLoad(ctx, t, seeds, topic)
	// librdkafka's idempotent producer writes to its own topic at the same time.
	const rdTopic, rdRecords = "cluster-rdkafka", 20000
	var rdLoad *rdkafkaLoad
	if err := clientsPythonModule("confluent_kafka"); err != nil {
		clientsMissing(t, "%s cannot import confluent_kafka: %v", clientsPython, err)
	} else {
		if r, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, rdTopic); err != nil || r.Err != nil {
			t.Fatalf("create topic: %v %v", err, r.Err)
		}
		rdLoad = startRdkafkaLoad(ctx, t, strings.Join(seeds, ","), rdTopic, rdRecords, 15*time.Second)
	}

	time.Sleep(time.Second)
	// SIGKILL the leader of partition 0, then bring it back.
	victim := leaderOf(ctx, t, adm, topic, 0)
	t.Logf("SIGKILL broker %d (leader of partition 0)", victim)
	procs[victim-1].kill(syscall.SIGKILL)
	time.Sleep(5 * time.Second)
	procs[victim-1].start()
	time.Sleep(2 * time.Second)

	// SIGSTOP the leader of partition 1 past its lease, then let it run:
	// it must step down and follow the new leader.
	paused := leaderOf(ctx, t, adm, topic, 1)
	t.Logf("SIGSTOP broker %d (leader of partition 1) for 6s", paused)
	_ = procs[paused-1].cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(6 * time.Second)
	_ = procs[paused-1].cmd.Process.Signal(syscall.SIGCONT)
	time.Sleep(3 * time.Second)

	acked := load.finish(ctx, t)
	crashVerify(t, procs[0].addr, topic, acked, load.attempted)
	if rdLoad != nil {
		crashVerify(t, procs[0].addr, rdTopic, rdLoad.wait(t), rdRecords)
	}

	// Every replica back in sync, then identical logs below the high watermark.
	waitFullISR(ctx, t, adm, topic, 3)
	stopAndCompareReplicas(ctx, t, adm, procs, topic)
}
