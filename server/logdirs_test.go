package server

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// localSize is the bytes of the broker's local segments of topic/p.
func localSize(t *testing.T, tb *testBroker, topic string, p int32) int64 {
	t.Helper()
	for _, lp := range tb.srv.Broker().LocalPartitions() {
		if lp.Topic() == topic && lp.Index() == p {
			var n int64
			for _, s := range lp.Segments() {
				n += s.Size
			}
			return n
		}
	}
	t.Fatalf("broker %d hosts no replica of %s/%d", tb.cfg.BrokerID, topic, p)
	return 0
}

// TestDescribeLogDirs: kadm's DescribeAllLogDirs against one broker: its
// log dir (absolute), each replica's local size and lag, the volume's
// total and usable bytes; a topic filter; raw frames at v0 and v5.
func TestDescribeLogDirs(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic = "logdirs"
	adm := tb.admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"remote.storage.enable": kadm.StringPtr("false")}, topic); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "logdirs-other"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < 300; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: make([]byte, 100+i)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantDir, err := filepath.Abs(filepath.Join(tb.cfg.DataDir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs, ok := all[1]
	if !ok || len(all) != 1 || len(dirs) != 1 {
		t.Fatalf("log dirs %+v, want one dir of broker 1", all)
	}
	d, ok := dirs[wantDir]
	if !ok || d.Err != nil {
		t.Fatalf("dirs %+v, want %s without error", dirs, wantDir)
	}
	if d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
		t.Fatalf("volume: total %d, usable %d bytes", d.TotalBytes, d.UsableBytes)
	}
	for p := int32(0); p < 2; p++ {
		got, ok := d.Topics.Lookup(topic, p)
		if want := localSize(t, tb, topic, p); !ok || got.Size != want || got.Size < 150*100 || got.OffsetLag != 0 || got.IsFuture {
			t.Fatalf("%s/%d: %+v, want size %d, lag 0", topic, p, got, want)
		}
	}
	if _, ok := d.Topics.Lookup("logdirs-other", 0); !ok {
		t.Fatal("an empty replica is not listed")
	}

	filtered, err := adm.DescribeBrokerLogDirs(ctx, 1, kadm.TopicsSet{topic: {1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	filtered.EachPartition(func(p kadm.DescribedLogDirPartition) { got = append(got, p.Topic) })
	if len(got) != 1 || got[0] != topic {
		t.Fatalf("filtered to %s/1: %v", topic, got)
	}

	for _, version := range []int16{0, 5} {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		req.Version = version
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := rawCall(t, tb, req).(*kmsg.DescribeLogDirsResponse)
		if resp.ErrorCode != 0 || len(resp.Dirs) != 1 || resp.Dirs[0].Dir != wantDir || len(resp.Dirs[0].Topics) != 1 {
			t.Fatalf("v%d: %+v", version, resp)
		}
		rd := resp.Dirs[0]
		if p := rd.Topics[0].Partitions; len(p) != 1 || p[0].Partition != 0 || p[0].Size != localSize(t, tb, topic, 0) {
			t.Fatalf("v%d: partitions %+v", version, p)
		}
		if version >= 4 && (rd.TotalBytes <= 0 || rd.UsableBytes < 0) {
			t.Fatalf("v%d: total %d, usable %d", version, rd.TotalBytes, rd.UsableBytes)
		}
	}
}

// TestDescribeLogDirsThreeBrokers: every broker answers for its own
// replicas; once the followers caught up, the three replicas of a
// partition hold the same bytes with no lag.
func TestDescribeLogDirsThreeBrokers(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "logdirs-repl"
	cl := c.client()
	createAssigned(ctx, t, cl, topic, []int32{1, 2, 3}, map[string]*string{"remote.storage.enable": kadm.StringPtr("false")})
	c.waitISR(ctx, topic, 3)
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := 0; i < 200; i++ {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: make([]byte, 200)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	for {
		all, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		sizes := map[int32]int64{}
		lagging := false
		for id, dirs := range all {
			dirs.EachPartition(func(p kadm.DescribedLogDirPartition) {
				sizes[id] = p.Size
				lagging = lagging || p.OffsetLag != 0
			})
		}
		want := localSize(t, c.broker(leaderNow(ctx, t, adm, topic)), topic, 0)
		same := len(sizes) == 3 && !lagging
		for _, s := range sizes {
			same = same && s == want
		}
		if same {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("replica sizes %v (lagging %v), want three of %d", sizes, lagging, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDescribeTopicPartitions: raw v0 frames (kmsg's only version, min and
// max) against a broker: a named topic walked with NextCursor two
// partitions at a time, and the internal __consumer_offsets in a listing.
func TestDescribeTopicPartitions(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic = "dtp"
	if _, err := tb.admin().CreateTopic(ctx, 5, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var seen []int32
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for pages := 0; pages < 10; pages++ {
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = topic
		req.Topics = append(req.Topics, rt)
		req.ResponsePartitionLimit, req.Cursor = 2, cursor
		resp := rawCall(t, tb, req).(*kmsg.DescribeTopicPartitionsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || resp.Topics[0].IsInternal || len(resp.Topics[0].Partitions) > 2 {
			t.Fatalf("page %d: %+v", pages, resp.Topics)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.LeaderID != 1 || len(p.ISR) != 1 {
				t.Fatalf("partition %+v", p)
			}
			seen = append(seen, p.Partition)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	if fmt.Sprint(seen) != "[0 1 2 3 4]" {
		t.Fatalf("walked partitions %v", seen)
	}
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = 100
	resp := rawCall(t, tb, req).(*kmsg.DescribeTopicPartitionsResponse)
	internal := false
	for _, rt := range resp.Topics {
		internal = internal || (*rt.Topic == "__consumer_offsets" && rt.IsInternal && len(rt.Partitions) == 50)
	}
	if !internal || resp.NextCursor != nil {
		t.Fatalf("listing: __consumer_offsets internal with 50 partitions %v, cursor %+v", internal, resp.NextCursor)
	}
}
