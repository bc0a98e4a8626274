package server

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestProduceConsumeCodecs(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin()
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			topic := "codec-" + c.name
			if _, err := adm.CreateTopic(ctx, 4, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			for _, acks := range []kgo.Acks{kgo.LeaderAck(), kgo.AllISRAcks()} {
				opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c.codec),
					kgo.RequiredAcks(acks), kgo.RecordPartitioner(kgo.ManualPartitioner())}
				if acks != kgo.AllISRAcks() {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				pr := tb.client(opts...)
				for i := 0; i < 200; i++ {
					r := &kgo.Record{
						Key:       []byte(fmt.Sprintf("k%03d", i)),
						Value:     []byte(fmt.Sprintf("value %d of codec %s, repeated to compress %s", i, c.name, "xxxxxxxxxxxxxxxxxxxxxxxxxxxx")),
						Headers:   []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}},
						Partition: int32(i % 4),
					}
					pr.Produce(ctx, r, func(r *kgo.Record, err error) {
						if err != nil {
							t.Errorf("produce: %v", err)
						}
					})
				}
				if err := pr.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			recs := consumeAll(t, tb, topic, 400)
			if len(recs) != 400 {
				t.Fatalf("consumed %d records, want 400", len(recs))
			}
			next := map[int32]int64{}
			for _, r := range recs {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				i, err := strconv.Atoi(string(r.Headers[0].Value))
				if err != nil || int32(i%4) != r.Partition || string(r.Key) != fmt.Sprintf("k%03d", i) {
					t.Fatalf("record mismatch: partition %d key %q header %q", r.Partition, r.Key, r.Headers[0].Value)
				}
			}
		})
	}
}

func TestListOffsetsByTimestamp(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	topic := "by-time"
	cl := tb.client(kgo.DefaultProduceTopic(topic))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 100; i++ {
		r := &kgo.Record{Value: []byte(strconv.Itoa(i)), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	tests := []struct {
		at   time.Time
		want int64
	}{
		{base.Add(-time.Minute), 0},
		{base, 0},
		{base.Add(37 * time.Second), 37},
		{base.Add(37*time.Second + time.Millisecond), 38},
		{base.Add(99 * time.Second), 99},
		{base.Add(2 * time.Hour), -1},
	}
	for _, tc := range tests {
		offs, err := adm.ListOffsetsAfterMilli(ctx, tc.at.UnixMilli(), topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup(topic, 0)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		want := tc.want
		if want == -1 {
			want = 100 // kadm maps "no such record" to the end offset
		}
		if o.Offset != want {
			t.Errorf("offset after %v: got %d, want %d", tc.at.Sub(base), o.Offset, want)
		}
	}
	starts, _ := adm.ListStartOffsets(ctx, topic)
	ends, _ := adm.ListEndOffsets(ctx, topic)
	s, _ := starts.Lookup(topic, 0)
	e, _ := ends.Lookup(topic, 0)
	if s.Offset != 0 || e.Offset != 100 {
		t.Fatalf("start %d end %d, want 0 and 100", s.Offset, e.Offset)
	}
}

func TestTopicAdmin(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin()
	ctx := testCtx(t)

	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000"), "segment.bytes": kadm.StringPtr("1048576")}, "admin")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	if resp.NumPartitions != 3 {
		t.Fatalf("partitions %d", resp.NumPartitions)
	}

	errCases := []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       error
	}{
		{"admin", 1, 1, nil, kerr.TopicAlreadyExists},
		{"bad/name", 1, 1, nil, kerr.InvalidTopicException},
		{"zero-parts", 0, 1, nil, kerr.InvalidPartitions},
		{"rf3", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"badcfg", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, kerr.InvalidConfig},
		{"unknowncfg", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig},
		{"badpolicy", 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact,nope")}, kerr.InvalidConfig},
		{"badratio", 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "min.cleanable.dirty.ratio": kadm.StringPtr("1.5")}, kerr.InvalidConfig},
		{"lagconflict", 1, 1, map[string]*string{"min.compaction.lag.ms": kadm.StringPtr("10"), "max.compaction.lag.ms": kadm.StringPtr("5")}, kerr.InvalidConfig},
		{"badmaxlag", 1, 1, map[string]*string{"max.compaction.lag.ms": kadm.StringPtr("0")}, kerr.InvalidConfig},
	}
	for _, tc := range errCases {
		r, err := adm.CreateTopic(ctx, tc.partitions, tc.rf, tc.configs, tc.name)
		if err == nil {
			err = r.Err
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("create %s: got %v, want %v", tc.name, err, tc.want)
		}
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rc.Configs {
		got[c.Key] = c.MaybeValue()
	}
	if got["retention.ms"] != "3600000" || got["segment.bytes"] != "1048576" || got["cleanup.policy"] != "delete" || got["max.message.bytes"] != "1048588" {
		t.Fatalf("configs: %v", got)
	}

	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("1000000")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "admin")
	if err != nil || alter[0].Err != nil {
		t.Fatalf("alter: %v %v", err, alter)
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "admin")
	rc, _ = rcs.On("admin", nil)
	got = map[string]string{}
	for _, c := range rc.Configs {
		got[c.Key] = c.MaybeValue()
	}
	if got["retention.bytes"] != "1000000" || got["retention.ms"] != "604800000" {
		t.Fatalf("configs after alter: %v", got)
	}
	bad, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("-5")}}, "admin")
	if err == nil && !errors.Is(bad[0].Err, kerr.InvalidConfig) {
		t.Fatalf("alter to invalid value: %v %v", err, bad)
	}

	if _, err := adm.UpdatePartitions(ctx, 5, "admin"); err != nil {
		t.Fatal(err)
	}
	shrink, err := adm.UpdatePartitions(ctx, 2, "admin")
	if err == nil {
		err = shrink.Error()
	}
	if !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("shrink partitions: %v", err)
	}
	td, err := adm.ListTopics(ctx, "admin")
	if err != nil || len(td["admin"].Partitions) != 5 {
		t.Fatalf("after create partitions: %v %v", err, td)
	}
	// The new partitions take writes.
	cl := tb.client(kgo.DefaultProduceTopic("admin"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 4, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	dr, err := adm.DeleteTopics(ctx, "admin")
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete: %v %v", err, dr.Error())
	}
	dr, _ = adm.DeleteTopics(ctx, "admin")
	if !errors.Is(dr.Error(), kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete twice: %v", dr.Error())
	}
	names, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names.Has("admin") {
		t.Fatal("topic still listed after delete")
	}
}

func TestRestartKeepsData(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	topic := "durable"
	adm := tb.admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": kadm.StringPtr("4096")}, topic); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.DefaultProduceTopic(topic))
	for i := 0; i < 300; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: make([]byte, 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tb.restart()
	recs := consumeAll(t, tb, topic, 300)
	keys := map[string]bool{}
	for _, r := range recs {
		keys[string(r.Key)] = true
	}
	if len(keys) != 300 {
		t.Fatalf("after restart read %d distinct keys of 300", len(keys))
	}
	// Appends continue at the right offsets after the restart.
	cl2 := tb.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res := cl2.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("after")})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Partition == 0 {
			n++
		}
	}
	if got := res[0].Record.Offset; got != int64(n) {
		t.Fatalf("offset after restart %d, want %d", got, n)
	}
}

func TestRetentionDeletesOldSegments(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	topic := "retained"
	adm := tb.admin()
	cfg := map[string]*string{"segment.bytes": kadm.StringPtr("2048"), "retention.bytes": kadm.StringPtr("8192")}
	if _, err := adm.CreateTopic(ctx, 1, 1, cfg, topic); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < 200; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 200)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var start int64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := starts.Lookup(topic, 0)
		if start = s.Offset; start > 100 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if start <= 100 {
		t.Fatalf("log start offset %d: retention.bytes=8192 should have removed most of 200 records of 200 bytes", start)
	}
	// A consumer from the start gets exactly the retained tail.
	recs := consumeAll(t, tb, topic, int(200-start))
	if recs[0].Offset != start || recs[len(recs)-1].Offset != 199 {
		t.Fatalf("retained records %d..%d, want %d..199", recs[0].Offset, recs[len(recs)-1].Offset, start)
	}
	// Retention by time: a topic whose retention.ms is short loses its
	// sealed segments.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}, {Op: kadm.DeleteConfig, Name: "retention.bytes"}}, topic); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		starts, _ := adm.ListStartOffsets(ctx, topic)
		s, _ := starts.Lookup(topic, 0)
		if s.Offset > start && s.Offset > 190 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("retention.ms=1 did not delete the sealed segments")
}

func TestFetchLongPoll(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	topic := "longpoll"
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cons := tb.client(kgo.ConsumeTopics(topic), kgo.FetchMaxWait(5*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := make(chan time.Time, 1)
	go func() {
		fs := cons.PollFetches(ctx)
		if len(fs.Records()) > 0 {
			got <- time.Now()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	prod := tb.client(kgo.DefaultProduceTopic(topic))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("wake up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		// The waiting fetch is answered by the append, not by its 5 s
		// max wait.
		if d := at.Sub(sent); d > 3*time.Second {
			t.Fatalf("long-polling fetch answered %v after the produce", d)
		}
	case <-ctx.Done():
		t.Fatal("consumer never saw the record")
	}
}

func TestMetadataAndAutoCreate(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.DefaultPartitions = 3 })
	ctx := testCtx(t)
	adm := tb.admin()
	// Producing to an unknown topic creates it with the default partitions.
	cl := tb.client(kgo.DefaultProduceTopic("auto"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	td, err := adm.ListTopics(ctx, "auto")
	if err != nil {
		t.Fatal(err)
	}
	if len(td["auto"].Partitions) != 3 {
		t.Fatalf("auto-created topic has %d partitions, want 3", len(td["auto"].Partitions))
	}
	bm, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bm.Brokers) != 1 || bm.Brokers[0].NodeID != 1 || bm.Cluster == "" {
		t.Fatalf("broker metadata %+v", bm)
	}
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dreq.EndpointType = 1
	cluster, err := dreq.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	if cluster.ErrorCode != 0 || cluster.ClusterID != bm.Cluster || len(cluster.Brokers) != 1 {
		t.Fatalf("describe cluster %+v", cluster)
	}
	bcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(bcs) != 1 || len(bcs[0].Configs) == 0 {
		t.Fatalf("broker configs %+v", bcs)
	}
}

func TestNoAutoCreate(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	ctx := testCtx(t)
	cl := tb.client(kgo.DefaultProduceTopic("absent"), kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(3*time.Second))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Fatal("produce to an absent topic worked without auto-create")
	}
	topics, err := tb.admin().ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 0 {
		t.Fatalf("topics created: %v", topics.Names())
	}
}
