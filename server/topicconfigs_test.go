package server

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/recordbatch"
)

// kafkaTopicConfigs are the topic configs Apache Kafka documents (3.9).
var kafkaTopicConfigs = []string{
	"cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type", "compression.zstd.level",
	"delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms", "follower.replication.throttled.replicas",
	"index.interval.bytes", "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
	"max.compaction.lag.ms", "max.message.bytes", "message.downconversion.enable", "message.format.version",
	"message.timestamp.after.max.ms", "message.timestamp.before.max.ms", "message.timestamp.difference.max.ms",
	"message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
	"remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
	"segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
}

// TestTopicConfigsKnown: every documented Kafka topic config is described
// and accepted at creation; an unknown one is INVALID_CONFIG.
func TestTopicConfigsKnown(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	adm := tb.admin()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"preallocate": kadm.StringPtr("true"), "segment.jitter.ms": kadm.StringPtr("100"),
		"follower.replication.throttled.replicas": kadm.StringPtr("0:1"), "compression.zstd.level": kadm.StringPtr("7"),
	}, "known"); err != nil {
		t.Fatal(err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "known")
	if err != nil || rcs[0].Err != nil {
		t.Fatal(err, rcs)
	}
	have := map[string]bool{}
	for _, c := range rcs[0].Configs {
		have[c.Key] = true
	}
	for _, name := range kafkaTopicConfigs {
		if !have[name] {
			t.Errorf("topic config %s not described", name)
		}
	}
	for _, bad := range []map[string]*string{
		{"no.such.config": kadm.StringPtr("1")},
		{"compression.type": kadm.StringPtr("brotli")},
		{"follower.replication.throttled.replicas": kadm.StringPtr("x")},
		{"message.timestamp.before.max.ms": kadm.StringPtr("-5")},
	} {
		resp, err := adm.CreateTopic(ctx, 1, 1, bad, "refused")
		if !errors.Is(err, kerr.InvalidConfig) && !errors.Is(resp.Err, kerr.InvalidConfig) {
			t.Errorf("create with %v: %v %v, want INVALID_CONFIG", bad, err, resp.Err)
		}
	}
}

// TestTimestampBounds: a CreateTime topic with message.timestamp.before/
// after.max.ms refuses records outside them with INVALID_TIMESTAMP and
// takes the others; a LogAppendTime topic ignores the bounds.
func TestTimestampBounds(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	adm := tb.admin()
	bounds := map[string]*string{"message.timestamp.before.max.ms": kadm.StringPtr("3600000"), "message.timestamp.after.max.ms": kadm.StringPtr("60000")}
	if _, err := adm.CreateTopic(ctx, 1, 1, bounds, "bounded"); err != nil {
		t.Fatal(err)
	}
	stamped := map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")}
	for k, v := range bounds {
		stamped[k] = v
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, stamped, "stamped"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.RecordRetries(1))
	now := time.Now()
	for _, tc := range []struct {
		topic string
		ts    time.Time
		want  error
	}{
		{"bounded", now, nil},
		{"bounded", now.Add(-30 * time.Minute), nil},
		{"bounded", now.Add(-2 * time.Hour), kerr.InvalidTimestamp},
		{"bounded", now.Add(10 * time.Minute), kerr.InvalidTimestamp},
		{"stamped", now.Add(-2 * time.Hour), nil},
	} {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: tc.topic, Value: []byte("v"), Timestamp: tc.ts}).FirstErr()
		if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("%s at %v: %v, want %v", tc.topic, tc.ts.Sub(now).Round(time.Minute), err, tc.want)
		}
	}
}

// TestCompressionType: a topic with compression.type=zstd stores what a
// snappy producer sent as zstd batches (raw Fetch), and consumers read the
// same records; producer keeps the producer's codec.
func TestCompressionType(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	adm := tb.admin()
	for topic, codec := range map[string]string{"zstd-topic": "zstd", "as-sent": "producer"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": kadm.StringPtr(codec), "remote.storage.enable": kadm.StringPtr("false")}, topic); err != nil {
			t.Fatal(err)
		}
	}
	cl := tb.client(kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	const n = 200
	for _, topic := range []string{"zstd-topic", "as-sent"} {
		for i := 0; i < n; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte("value value value value value")}, nil)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]recordbatch.Codec{"zstd-topic": recordbatch.CodecZstd, "as-sent": recordbatch.CodecSnappy} {
		p := rawFetch(ctx, t, cl, topic, 0)
		hs, err := recordbatch.Validate(p.RecordBatches, recordbatch.DefaultMaxDecompressed)
		if err != nil || len(hs) == 0 {
			t.Fatalf("%s: %d batches, %v", topic, len(hs), err)
		}
		for _, h := range hs {
			if h.Compression() != want {
				t.Fatalf("%s: a batch stored with codec %d, want %d", topic, h.Compression(), want)
			}
		}
		recs := consumeAll(t, tb, topic, n)
		for _, r := range recs {
			if string(r.Value) != "value value value value value" {
				t.Fatalf("%s: record %d value %q", topic, r.Offset, r.Value)
			}
		}
	}
}
