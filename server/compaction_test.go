package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// compactBroker is a broker whose log cleaner looks every 100 ms.
func compactBroker(t *testing.T) *testBroker {
	return startBroker(t, func(c *Config) {
		c.LogCleanerBackoff = 100 * time.Millisecond
		c.LogCleanerDedupeBufferBytes = 1 << 20
	})
}

// keyedRecord is one record as its producer wrote it.
type keyedRecord struct {
	partition int32
	offset    int64
	key       string
	value     *string // nil: a tombstone
}

// latestPerKey is what a compacted partition read from 0 must hold once
// cleaned: per key its last record, at the offset it was keyedRecord at, in
// offset order; tombstones only if keepTombstones.
func latestPerKey(recs []keyedRecord, keepTombstones bool) map[int32][]string {
	last := map[[2]string]keyedRecord{}
	for _, r := range recs {
		last[[2]string{fmt.Sprint(r.partition), r.key}] = r
	}
	out := map[int32][]string{}
	for _, r := range recs {
		if last[[2]string{fmt.Sprint(r.partition), r.key}] != r || (r.value == nil && !keepTombstones) {
			continue
		}
		out[r.partition] = append(out[r.partition], describe(r))
	}
	return out
}

func describe(r keyedRecord) string {
	v := "<tombstone>"
	if r.value != nil {
		v = *r.value
	}
	return fmt.Sprintf("%d:%s=%s", r.offset, r.key, v)
}

// readPartitions reads every partition of topic from offset 0 to its end.
func readPartitions(t *testing.T, tb *testBroker, topic string, parts int32) map[int32][]string {
	t.Helper()
	ctx := testCtx(t)
	adm := tb.admin()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offs := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	for p := range parts {
		offs[p] = kgo.NewOffset().At(0)
		o, _ := ends.Lookup(topic, p)
		want[p] = o.Offset
	}
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	out := map[int32][]string{}
	done := map[int32]bool{}
	for p, end := range want {
		done[p] = end == 0
	}
	for {
		all := true
		for _, d := range done {
			all = all && d
		}
		if all {
			return out
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			r2 := keyedRecord{partition: r.Partition, offset: r.Offset, key: string(r.Key)}
			if r.Value != nil {
				v := string(r.Value)
				r2.value = &v
			}
			out[r.Partition] = append(out[r.Partition], describe(r2))
			if r.Offset+1 >= want[r.Partition] {
				done[r.Partition] = true
			}
		})
	}
}

// waitCompacted reads topic until every partition holds exactly want.
func waitCompacted(t *testing.T, tb *testBroker, topic string, parts int32, want map[int32][]string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		got := readPartitions(t, tb, topic, parts)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			for p := range parts {
				if fmt.Sprint(got[p]) != fmt.Sprint(want[p]) {
					t.Fatalf("%s/%d read from 0:\n%v\nwant\n%v", topic, p, got[p], want[p])
				}
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestConnectInternalTopicsCompacted shows Kafka Connect's expectations
// without Java: its three internal topics created as Connect creates them
// (cleanup.policy=compact; 1, 25 and 5 partitions; plus small segments so
// the test need not write 128 MiB), keyed updates and tombstones written
// by kcat (configs), franz-go (offsets) and confluent-kafka (status), then
// filler records with new keys so that the workload is in sealed segments
// (the active segment is never cleaned). Read from 0, every partition
// holds exactly the latest record of every key at the offset it was
// keyedRecord at, tombstones included (delete.retention.ms, 1 day); on the
// status topic, with delete.retention.ms=8000, the tombstones go once the
// horizon has passed and more records (other keys) make the log dirty
// again. A record
// without a key is refused with INVALID_RECORD, as Kafka refuses it.
func TestConnectInternalTopicsCompacted(t *testing.T) {
	kcat, kcatErr := exec.LookPath("kcat")
	needClient(t, kcatErr, "kcat")
	needClient(t, pythonModule("confluent_kafka"), "python3-confluent-kafka")
	tb := compactBroker(t)
	ctx := testCtx(t)
	adm := tb.admin()
	// Beyond Connect's configs: small segments, and a low dirty ratio so
	// that the last few dirty segments of these small logs are cleaned too
	// (at the default 0.5 a 2 KiB dirty tail after 8 KiB of clean log
	// waits for more).
	small := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "segment.bytes": kadm.StringPtr("2048"), "min.cleanable.dirty.ratio": kadm.StringPtr("0.01")}
	for _, tc := range []struct {
		topic string
		parts int32
		extra map[string]*string
	}{
		{"connect-configs", 1, nil},
		{"connect-offsets", 25, nil},
		{"connect-status", 5, map[string]*string{"delete.retention.ms": kadm.StringPtr("8000")}},
	} {
		cfg := map[string]*string{}
		for k, v := range small {
			cfg[k] = v
		}
		for k, v := range tc.extra {
			cfg[k] = v
		}
		if r, err := adm.CreateTopic(ctx, tc.parts, 1, cfg, tc.topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", tc.topic, err, r.Err)
		}
	}
	// Connect checks the policy with DescribeConfigs.
	rcs, err := adm.DescribeTopicConfigs(ctx, "connect-configs", "connect-offsets", "connect-status")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.MaybeValue() != "compact" {
				t.Fatalf("%s: cleanup.policy=%s", rc.Name, c.MaybeValue())
			}
		}
	}

	// A record without a key: INVALID_RECORD.
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "connect-offsets", Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on a compacted topic: %v, want INVALID_RECORD", err)
	}

	// connect-configs through kcat: one partition, so offsets are the
	// line numbers. "-Z" sends an empty value as a tombstone.
	var cfgRecs []keyedRecord
	var lines bytes.Buffer
	for i := range 120 {
		key := fmt.Sprintf("connector-%d", i%9)
		r := keyedRecord{partition: 0, offset: int64(len(cfgRecs)), key: key}
		if i%13 == 12 {
			fmt.Fprintf(&lines, "%s:\n", key)
		} else {
			v := fmt.Sprintf(`{"config":%d}`, i)
			r.value = &v
			fmt.Fprintf(&lines, "%s:%s\n", key, v)
		}
		cfgRecs = append(cfgRecs, r)
	}
	kcatProduce := func(in *bytes.Buffer) {
		cmd := exec.CommandContext(ctx, kcat, "-P", "-b", tb.srv.KafkaAddr(), "-t", "connect-configs", "-K", ":", "-Z", "-X", "linger.ms=0")
		cmd.Stdin = in
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
	}
	kcatProduce(&lines)
	// A second run, more than segment.bytes however kcat batches it,
	// rolls the segment: the workload is sealed. (With 2-byte values it
	// could fit beside the workload's tail, which then stayed in the
	// active segment, never cleaned: the test failed now and then.)
	lines.Reset()
	for i := range 40 {
		v := fmt.Sprintf("f%d-%s", i, strings.Repeat("x", 100))
		fmt.Fprintf(&lines, "filler-%d:%s\n", i, v)
		cfgRecs = append(cfgRecs, keyedRecord{offset: int64(len(cfgRecs)), key: fmt.Sprintf("filler-%d", i), value: &v})
	}
	kcatProduce(&lines)

	// connect-offsets through franz-go, each record to a chosen partition.
	var offRecs []keyedRecord
	for i := range 600 {
		p := int32(i % 25)
		key := fmt.Sprintf(`["source-%d",{"file":"f%d"}]`, p%3, (i/25)%5)
		rec := &kgo.Record{Topic: "connect-offsets", Partition: p, Key: []byte(key)}
		var v *string
		if i%17 != 16 {
			s := fmt.Sprintf(`{"position":%d}`, i)
			v, rec.Value = &s, []byte(s)
		}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
		offRecs = append(offRecs, keyedRecord{partition: p, offset: rec.Offset, key: key, value: v})
	}
	fillOffsets := func(round int) {
		for p := range int32(25) {
			for i := range 40 {
				s := fmt.Sprintf("f%d", i)
				rec := &kgo.Record{Topic: "connect-offsets", Partition: p, Key: fmt.Appendf(nil, "filler-%d-%d", round, i), Value: []byte(s)}
				if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
					t.Fatal(err)
				}
				offRecs = append(offRecs, keyedRecord{partition: p, offset: rec.Offset, key: string(rec.Key), value: &s})
			}
		}
	}
	fillOffsets(0)

	// connect-status through confluent-kafka.
	statusRecs := produceConfluent(t, tb, "connect-status", 5, 0)

	waitCompacted(t, tb, "connect-configs", 1, latestPerKey(cfgRecs, true))
	waitCompacted(t, tb, "connect-offsets", 25, latestPerKey(offRecs, true))
	waitCompacted(t, tb, "connect-status", 5, latestPerKey(statusRecs, true))

	// delete.retention.ms=8000 on the status topic: past the horizon, and
	// dirty again, its tombstones are removed.
	time.Sleep(8500 * time.Millisecond)
	statusRecs = append(statusRecs, produceConfluent(t, tb, "connect-status", 5, 1)...)
	waitCompacted(t, tb, "connect-status", 5, latestPerKey(statusRecs, false))

	body := metricsBody(t, tb)
	for _, m := range []string{"strata_log_cleaner_runs_total", "strata_log_cleaner_bytes_read_total", `strata_log_cleaner_dirty_ratio{partition="0",topic="connect-configs"}`, "strata_log_cleaner_max_compaction_lag_seconds"} {
		if !strings.Contains(body, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// produceConfluent writes keyed updates and tombstones to every partition
// of topic with python3-confluent-kafka, then fillers with new keys, and
// returns what the delivery reports said.
func produceConfluent(t *testing.T, tb *testBroker, topic string, parts, round int) []keyedRecord {
	t.Helper()
	script := `
import json, sys
from confluent_kafka import Producer
addr, topic, parts, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = Producer({"bootstrap.servers": addr, "linger.ms": 0, "enable.idempotence": True})
out = []
def report(err, msg):
    if err is not None:
        sys.exit("delivery failed: %s" % err)
    v = msg.value()
    out.append({"p": msg.partition(), "o": msg.offset(), "k": msg.key().decode(), "v": None if v is None else v.decode()})
for part in range(parts):
    for i in range(60):
        # Round 1 writes other keys and no tombstones: round 0's
        # tombstones stay the latest of their keys.
        key = ("status-connector-%d" if rnd == 0 else "status-other-%d") % (i % 7)
        val = None if rnd == 0 and i % 11 == 10 else ("round%d-state-%d" % (rnd, i))
        p.produce(topic, key=key, value=val, partition=part, on_delivery=report)
        p.flush()
    for i in range(40):
        p.produce(topic, key="filler-%d-%d" % (rnd, i), value="f", partition=part, on_delivery=report)
        p.flush()
json.dump(out, sys.stdout)
`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, groupPython, "-I", "-c", script, tb.srv.KafkaAddr(), topic, fmt.Sprint(parts), fmt.Sprint(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("confluent-kafka producer: %v\n%s", err, stderr.String())
	}
	var rs []struct {
		P int32   `json:"p"`
		O int64   `json:"o"`
		K string  `json:"k"`
		V *string `json:"v"`
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatalf("producer output: %v\n%s", err, out)
	}
	recs := make([]keyedRecord, len(rs))
	for i, r := range rs {
		recs[i] = keyedRecord{partition: r.P, offset: r.O, key: r.K, value: r.V}
	}
	return recs
}

func metricsBody(t *testing.T, tb *testBroker) string {
	t.Helper()
	_, body := httpStatus(t, "http://"+tb.srv.MetricsAddr()+"/metrics")
	return body
}

// TestCompactedReplicaFromCleanedLeader: a compacted partition cleaned on
// its leader (offset gaps where whole batches went) is reassigned to a new
// broker, whose follower fetches the cleaned log from offset 0 and keeps
// the gaps; once it leads, a read from 0 gives the same latest-per-key
// records at the same offsets, and produce goes on after them.
func TestCompactedReplicaFromCleanedLeader(t *testing.T) {
	c := startCluster(t, 2, func(cfg *Config) {
		cfg.LogCleanerBackoff = 100 * time.Millisecond
		cfg.LogCleanerDedupeBufferBytes = 1 << 20
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "cleaned-move"
	cl := c.client()
	createAssigned(ctx, t, cl, topic, []int32{1}, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"), "segment.bytes": kadm.StringPtr("2048"), "min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	})
	prod := c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var recs []keyedRecord
	produce := func(key, value string, tombstone bool) {
		r := &kgo.Record{Key: []byte(key), Value: []byte(value)}
		kr := keyedRecord{key: key}
		if tombstone {
			r.Value = nil
		} else {
			kr.value = &value
		}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		kr.offset = r.Offset
		recs = append(recs, kr)
	}
	for i := range 400 {
		produce(fmt.Sprintf("k%d", i%10), fmt.Sprintf("v%d", i), i%37 == 36)
	}
	for i := range 40 {
		produce(fmt.Sprintf("filler-%d", i), "f", false)
	}
	want := latestPerKey(recs, true)
	waitCompacted(t, c.broker(1), topic, 1, want)

	moveTo(ctx, t, cl, topic, 2)
	got := readPartitions(t, c.broker(2), topic, 1)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("new leader reads\n%v\nwant\n%v", got[0], want[0])
	}
	produce("k1", "after-move", false)
	if last := recs[len(recs)-1]; last.offset != recs[len(recs)-2].offset+1 {
		t.Fatalf("produce after the move at %d, want %d", last.offset, recs[len(recs)-2].offset+1)
	}
}

// TestAlterTopicToCompact: a topic created with the default policy
// (delete) and altered to compact (IncrementalAlterConfigs, as kadm sends
// it) is cleaned from then on, its records from before the change too, and
// refuses keyless records; altered back to delete, it takes them again.
func TestAlterTopicToCompact(t *testing.T) {
	tb := compactBroker(t)
	ctx := testCtx(t)
	adm := tb.admin()
	const topic = "altered"
	if r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("2048")}, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	cl := tb.client(kgo.DefaultProduceTopic(topic))
	var recs []keyedRecord
	for i := range 200 {
		v := fmt.Sprintf("v%d", i)
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%5), Value: []byte(v)}
		if i >= 160 {
			r.Key = fmt.Appendf(nil, "filler-%d", i)
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, keyedRecord{offset: r.Offset, key: string(r.Key), value: &v})
	}
	time.Sleep(500 * time.Millisecond)
	if got := readPartitions(t, tb, topic, 1); len(got[0]) != 200 {
		t.Fatalf("cleaned before the policy changed: %d records", len(got[0]))
	}
	alter := func(policy string) {
		res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr(policy)},
			{Op: kadm.SetConfig, Name: "min.cleanable.dirty.ratio", Value: kadm.StringPtr("0.01")},
		}, topic)
		if err != nil || res[0].Err != nil {
			t.Fatalf("alter to %s: %v %v", policy, err, res)
		}
	}
	alter("compact")
	waitCompacted(t, tb, topic, 1, latestPerKey(recs, true))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record after the change: %v, want INVALID_RECORD", err)
	}
	alter("delete")
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); err != nil {
		t.Fatalf("keyless record after the change back: %v", err)
	}
}
