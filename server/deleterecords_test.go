package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/ingest/ingesttest"
)

// deleteRecords deletes the records of partition 0 of topic below at with
// kadm and returns the partition's answer.
func deleteRecords(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, at int64) kadm.DeleteRecordsResponse {
	t.Helper()
	resp, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: at}}})
	if err != nil {
		t.Fatalf("delete records of %s below %d: %v", topic, at, err)
	}
	r, ok := resp.Lookup(topic, 0)
	if !ok {
		t.Fatalf("delete records of %s: no answer for partition 0: %+v", topic, resp)
	}
	return r
}

// produceNumbered produces n records "<prefix>-<i>" to partition 0 and
// waits for them.
func produceNumbered(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		v := fmt.Appendf(nil, "r-%06d-%0100d", i, i)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// earliest is ListOffsets earliest of partition 0.
func earliest(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := starts.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("start offset of %s: %+v", topic, o)
	}
	return o.Offset
}

// firstFromStart is the offset of the first record a kgo consumer reading
// from the earliest offset gets.
func firstFromStart(ctx context.Context, t *testing.T, tb *testBroker, topic string) *kgo.Record {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("nothing consumed from %s: %v", topic, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}

// rawFetch fetches partition 0 of topic at offset with a raw kmsg Fetch
// (the newest version, by topic id) and returns the partition's answer.
func rawFetch(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, td[topic].Err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, td[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// rawFetchError is rawFetch's error and log start offset.
func rawFetchError(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, offset int64) (error, int64) {
	t.Helper()
	p := rawFetch(ctx, t, cl, topic, offset)
	return kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset
}

// rawCall sends req to tb on a connection of its own, as it is (its
// version too), and returns the answer.
func rawCall(t *testing.T, tb *testBroker, req kmsg.Request) kmsg.Response {
	t.Helper()
	c, err := net.Dial("tcp", tb.srv.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := ingesttest.Call(c, req, 10*time.Second)
	if err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// checkLogStart checks that partition 0 of topic starts at at for
// ListOffsets earliest, a kgo consumer from the start (its first record is
// the one produced at), and a Fetch below it (OFFSET_OUT_OF_RANGE, with
// the log start).
func checkLogStart(ctx context.Context, t *testing.T, tb *testBroker, topic string, at int64, when string) {
	t.Helper()
	if got := earliest(ctx, t, tb.admin(), topic); got != at {
		t.Fatalf("%s: earliest offset %d, want %d", when, got, at)
	}
	if r := firstFromStart(ctx, t, tb, topic); r.Offset != at || string(r.Value[:8]) != fmt.Sprintf("r-%06d", at) {
		t.Fatalf("%s: consumer from the start got offset %d %.8q first, want %d", when, r.Offset, r.Value, at)
	}
	if err, start := rawFetchError(ctx, t, tb.client(), topic, at-1); !errors.Is(err, kerr.OffsetOutOfRange) || start != at {
		t.Fatalf("%s: fetch at %d: %v, log start %d; want OFFSET_OUT_OF_RANGE, %d", when, at-1, err, start, at)
	}
}

// TestDeleteRecordsHotLog: DeleteRecords on a topic without a cold tier
// moves the log start (ListOffsets earliest, a consumer from the start,
// Fetch below it OFFSET_OUT_OF_RANGE), deletes the segments wholly below
// it, answers Kafka's errors, and a restart keeps it.
func TestDeleteRecordsHotLog(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic, n = "dr-hot", 2000
	adm := tb.admin()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes": kadm.StringPtr("16384"), "remote.storage.enable": kadm.StringPtr("false"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.ProducerBatchMaxBytes(4096), kgo.ProducerBatchCompression(kgo.NoCompression()))
	produceNumbered(ctx, t, cl, topic, n)

	const at = 1234
	if r := deleteRecords(ctx, t, adm, topic, at); r.Err != nil || r.LowWatermark != at {
		t.Fatalf("delete below %d: low watermark %d, err %v", at, r.LowWatermark, r.Err)
	}
	checkLogStart(ctx, t, tb, topic, at, "after DeleteRecords")
	part, err := tb.srv.Broker().Partition(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if segs := part.Segments(); segs[0].BaseOffset == 0 || segs[0].BaseOffset > at || len(segs) < 2 {
		t.Fatalf("first local segment at %d of %d segments: the ones wholly below %d should be gone, no more", segs[0].BaseOffset, len(segs), at)
	}

	// Raw frames at the oldest and newest version, so no client retries
	// or creates topics in between.
	for _, version := range []int16{0, 2} {
		for _, tc := range []struct {
			name  string
			topic string
			at    int64
			want  error
			low   int64
		}{
			{"below the start changes nothing", topic, 10, nil, at},
			{"above the high watermark", topic, n + 1, kerr.OffsetOutOfRange, -1},
			{"below -1", topic, -2, kerr.OffsetOutOfRange, -1},
			{"unknown topic", "dr-none", 5, kerr.UnknownTopicOrPartition, -1},
		} {
			req := kmsg.NewPtrDeleteRecordsRequest()
			req.Version, req.TimeoutMillis = version, 5000
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = tc.topic
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Offset = tc.at
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := rawCall(t, tb, req).(*kmsg.DeleteRecordsResponse)
			p := resp.Topics[0].Partitions[0]
			if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, tc.want) || p.LowWatermark != tc.low {
				t.Fatalf("v%d %s: low watermark %d, err %v; want %d, %v", version, tc.name, p.LowWatermark, err, tc.low, tc.want)
			}
		}
	}

	tb.restart()
	adm = tb.admin()
	checkLogStart(ctx, t, tb, topic, at, "after a restart")
	if r := deleteRecords(ctx, t, adm, topic, -1); r.Err != nil || r.LowWatermark != n {
		t.Fatalf("delete below the high watermark (-1): low watermark %d, err %v; want %d", r.LowWatermark, r.Err, n)
	}
	if got := earliest(ctx, t, adm, topic); got != n {
		t.Fatalf("earliest after deleting everything: %d, want %d", got, n)
	}
}

// TestDeleteRecordsColdTier: DeleteRecords below the local log start, in
// the middle of a tiered file: reads start there at once (the straddling
// file's records below it are not served), the files wholly below it leave
// the manifest, and a restart keeps it.
func TestDeleteRecordsColdTier(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic, n = "dr-cold", 3000
	adm := tb.admin()
	configs := tieredTopicConfigs()
	configs["strata.tier.target.file.bytes"] = kadm.StringPtr("0") // no merges: files of one segment each
	if _, err := adm.CreateTopic(ctx, 1, 1, configs, topic); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.ProducerBatchMaxBytes(4096), kgo.ProducerBatchCompression(kgo.NoCompression()))
	produceNumbered(ctx, t, cl, topic, n)
	waitTiered(t, tb, topic, 1, time.Minute)
	files, err := tb.srv.meta.TierSegments(ctx, topic, 0)
	if err != nil || len(files) < 4 {
		t.Fatalf("%d tiered files (%v), want at least 4", len(files), err)
	}
	straddler := files[2]
	at := straddler.BaseOffset + (straddler.LastOffset-straddler.BaseOffset)/2 + 1
	if r := deleteRecords(ctx, t, adm, topic, at); r.Err != nil || r.LowWatermark != at {
		t.Fatalf("delete below %d: low watermark %d, err %v", at, r.LowWatermark, r.Err)
	}
	checkLogStart(ctx, t, tb, topic, at, "after DeleteRecords")
	// The tierer drops the two files wholly below; the straddling one stays.
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, err = tb.srv.meta.TierSegments(ctx, topic, 0)
		if err == nil && len(files) > 0 && files[0].BaseOffset == straddler.BaseOffset {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("manifest starts at %d (%v), want the straddling file at %d", files[0].BaseOffset, err, straddler.BaseOffset)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.restart()
	checkLogStart(ctx, t, tb, topic, at, "after a restart")
}

// TestDeleteRecordsReplicated: on three brokers, the followers cut their
// hot logs to the log start DeleteRecords set on the leader, and a new
// leader after the old one stops answers the same log start.
func TestDeleteRecordsReplicated(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, n = "dr-repl", 2000
	cl := c.client()
	createAssigned(ctx, t, cl, topic, []int32{1, 2, 3}, map[string]*string{
		"segment.bytes": kadm.StringPtr("16384"), "remote.storage.enable": kadm.StringPtr("false"),
	})
	c.waitISR(ctx, topic, 3)
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(4096), kgo.ProducerBatchCompression(kgo.NoCompression()))
	produceNumbered(ctx, t, prod, topic, n)
	adm := kadm.NewClient(cl)
	const at = 1500
	if r := deleteRecords(ctx, t, adm, topic, at); r.Err != nil || r.LowWatermark != at {
		t.Fatalf("delete below %d: low watermark %d, err %v", at, r.LowWatermark, r.Err)
	}
	leader := leaderNow(ctx, t, adm, topic)
	// Every replica's hot log starts there once the followers have fetched.
	for _, b := range c.brokers {
		for {
			var p *broker.Partition
			for _, lp := range b.srv.Broker().LocalPartitions() {
				if lp.Topic() == topic && lp.Index() == 0 {
					p = lp
				}
			}
			if p != nil && p.LogStartOffset() == at {
				if segs := p.Segments(); segs[0].BaseOffset == 0 {
					t.Fatalf("broker %d kept the segment at 0 below the log start %d", b.cfg.BrokerID, at)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("broker %d: local log start never reached %d", b.cfg.BrokerID, at)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.broker(leader).stop()
	for leaderNow(ctx, t, adm, topic) == leader {
		if ctx.Err() != nil {
			t.Fatal("no new leader")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := earliest(ctx, t, adm, topic); got != at {
		t.Fatalf("earliest on the new leader %d, want %d", got, at)
	}
}
