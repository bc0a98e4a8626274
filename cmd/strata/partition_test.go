package main

// Tests of what a broker process does with partition directories it
// finds on disk at start-up: a torn partition.metadata, a directory of
// another topic incarnation, a partition whose files cannot be opened.

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// procProduce writes n records "v-<i>" to topic/partition with acks=all
// and fails the test unless every one is acknowledged.
func procProduce(ctx context.Context, t *testing.T, addr, topic string, partition int32, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Value: []byte("v-" + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s/%d: %v", topic, partition, err)
	}
}

// procConsume reads topic/partition from the start until it has n
// records and returns their values.
func procConsume(ctx context.Context, t *testing.T, addr, topic string, partition int32, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {partition: kgo.NewOffset().AtStart()},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s/%d: read %d of %d records: %v (got %q)", topic, partition, len(got), n, ctx.Err(), got)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

func procCreateTopic(ctx context.Context, t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// procTopicWithRecords starts a broker process, creates topic with
// partitions partitions, writes records acknowledged records to each and
// kills the broker with SIGKILL: the state the tests then damage.
func procTopicWithRecords(t *testing.T, timeout time.Duration, topic string, partitions int32, records int) (*brokerProc, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a broker process; skipped with -short")
	}
	bin := clientsBuildStrata(t)
	p := newBrokerProc(t, bin, "--auto-create-topics=false")
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	procCreateTopic(ctx, t, p.addr, topic, partitions)
	for part := range partitions {
		procProduce(ctx, t, p.addr, topic, part, records)
	}
	p.kill(syscall.SIGKILL)
	return p, ctx
}

// TestTornPartitionMetadataKeepsRecords is issue 15's reproduction: a
// partition.metadata truncated to 0 bytes (what a power loss leaves of
// an un-fsynced write) used to make the restarted broker delete the
// partition directory. The topic still exists in etcd under the same
// name and the log is consistent, so the file is rewritten from etcd and
// every acknowledged record stays.
func TestTornPartitionMetadataKeepsRecords(t *testing.T) {
	const topic = "torn"
	p, ctx := procTopicWithRecords(t, 2*time.Minute, topic, 1, 4)

	dir := filepath.Join(p.dataDir, "logs", topic+"-0")
	if err := os.Truncate(filepath.Join(dir, "partition.metadata"), 0); err != nil {
		t.Fatal(err)
	}
	p.start()
	got := procConsume(ctx, t, p.addr, topic, 0, 4)
	for i, v := range got {
		if want := "v-" + strconv.Itoa(i); v != want {
			t.Fatalf("record %d is %q, want %q", i, v, want)
		}
	}
	meta, err := os.ReadFile(filepath.Join(dir, "partition.metadata"))
	if err != nil || len(meta) == 0 {
		t.Fatalf("partition.metadata not rewritten: %q, %v", meta, err)
	}
}

// TestUnreadablePartitionStaysOfflineOthersServe: one partition's segment
// replaced by a directory (tests run as root, so chmod 000 would not stop
// a read). The broker starts, serves the other partitions, answers
// KAFKA_STORAGE_ERROR for that one, lists it in `strata partition
// offline` and the metric, keeps its files, and puts it back in service
// by itself once the fault is repaired.
func TestUnreadablePartitionStaysOfflineOthersServe(t *testing.T) {
	const topic = "bad"
	p, ctx := procTopicWithRecords(t, 3*time.Minute, topic, 3, 2)

	seg := filepath.Join(p.dataDir, "logs", topic+"-1", "00000000000000000000.log")
	if err := os.Rename(seg, seg+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(seg, 0o755); err != nil {
		t.Fatal(err)
	}
	p.start()
	for _, part := range []int32{0, 2} {
		procProduce(ctx, t, p.addr, topic, part, 1)
		if got := procConsume(ctx, t, p.addr, topic, part, 3); len(got) != 3 {
			t.Fatalf("partition %d: %q", part, got)
		}
	}
	if code := procProduceCode(ctx, t, p.addr, topic, 1); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to the unreadable partition: error code %d, want KAFKA_STORAGE_ERROR", code)
	}
	out, err := runStrata("partition", "offline", "--admin-url", "http://"+p.metrics)
	if err == nil || !strings.Contains(out, topic) || !strings.Contains(out, "is a directory") {
		t.Fatalf("strata partition offline: %v\n%s", err, out)
	}
	if m := procMetric(t, p.metrics, "strata_offline_partitions"); m != "1" {
		t.Fatalf("strata_offline_partitions = %q, want 1", m)
	}

	// Repair: the broker retries on its own and serves the records.
	if err := os.Remove(seg); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(seg+".aside", seg); err != nil {
		t.Fatal(err)
	}
	if got := procConsume(ctx, t, p.addr, topic, 1, 2); len(got) != 2 {
		t.Fatalf("repaired partition: %q", got)
	}
	if out, err := runStrata("partition", "offline", "--admin-url", "http://"+p.metrics); err != nil {
		t.Fatalf("strata partition offline after repair: %v\n%s", err, out)
	}
}

// TestForeignPartitionDirIsQuarantined: a partition directory whose
// partition.metadata names another topic id (a topic deleted and
// recreated while this broker was down) is moved aside with its files,
// never deleted, and `strata partition quarantine` lists and deletes it.
func TestForeignPartitionDirIsQuarantined(t *testing.T) {
	const topic = "foreign"
	p, ctx := procTopicWithRecords(t, 2*time.Minute, topic, 1, 4)
	dir := filepath.Join(p.dataDir, "logs", topic+"-0")
	other := "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n"
	if err := os.WriteFile(filepath.Join(dir, "partition.metadata"), []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	p.start()
	if m := procMetric(t, p.metrics, "strata_quarantined_partitions"); m != "1" {
		t.Fatalf("strata_quarantined_partitions = %q, want 1", m)
	}
	procProduce(ctx, t, p.addr, topic, 0, 1) // the topic in etcd gets a fresh partition
	p.kill(syscall.SIGTERM)

	out, err := runStrata("partition", "quarantine", "list", "--data-dir", p.dataDir)
	if err != nil || !strings.Contains(out, topic+"-0-") || !strings.Contains(out, "AAAAAAAAAAAAAAAAAAAAAA") {
		t.Fatalf("quarantine list: %v\n%s", err, out)
	}
	des, err := os.ReadDir(filepath.Join(p.dataDir, "quarantine"))
	if err != nil || len(des) != 1 {
		t.Fatalf("quarantine folder: %v, %v", des, err)
	}
	name := des[0].Name()
	if _, err := os.Stat(filepath.Join(p.dataDir, "quarantine", name, "00000000000000000000.log")); err != nil {
		t.Fatalf("quarantined log: %v", err)
	}
	if out, err := runStrata("partition", "quarantine", "restore", name, "--data-dir", p.dataDir); err == nil || !strings.Contains(err.Error(), "recreated") {
		t.Fatalf("restore over the recreated partition: %v\n%s", err, out)
	}
	if out, err := runStrata("partition", "quarantine", "delete", name, "--data-dir", p.dataDir); err != nil {
		t.Fatalf("quarantine delete: %v\n%s", err, out)
	}
	if out, _ := runStrata("partition", "quarantine", "list", "--data-dir", p.dataDir); !strings.Contains(out, "nothing quarantined") {
		t.Fatalf("after delete: %s", out)
	}
}

// procProduceCode sends one Produce request (acks=all, one empty-valued
// record) for topic/partition and returns the partition's error code,
// without the client's retries.
func procProduceCode(ctx context.Context, t *testing.T, addr, topic string, partition int32) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now().UnixMilli()
	batch := recordbatch.AppendBatch(nil, recordbatch.Header{BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 1},
		recordbatch.AppendRecord(nil, 0, 0, nil, []byte("x"), nil))
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce request: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// procMetric returns the value of an unlabelled metric from /metrics.
func procMetric(t *testing.T, addr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}
