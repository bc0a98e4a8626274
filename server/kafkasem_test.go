package server

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// fetchCounter counts the Fetch responses a client receives.
type fetchCounter struct{ n atomic.Int64 }

func (c *fetchCounter) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key == 1 && e2e.Err() == nil {
		c.n.Add(1)
	}
}

// TestFetchMinBytesFewerResponses: against a slow producer, a consumer
// with fetch.min.bytes 10 MiB and max wait 500 ms gets its records in a
// few responses, each after about MaxWait, where a consumer with
// fetch.min.bytes 1 gets about one response per record. Both see every
// record in order. Counts are compared as a ratio within one run.
func TestFetchMinBytesFewerResponses(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const topic = "minbytes"
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	type consumer struct {
		name     string
		minBytes int32
		fetches  fetchCounter
		cl       *kgo.Client
		values   []string
		done     chan struct{}
	}
	cons := []*consumer{{name: "min 1 B", minBytes: 1}, {name: "min 10 MiB", minBytes: 10 << 20}}
	for _, c := range cons {
		c.done = make(chan struct{})
		c.cl = tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMinBytes(c.minBytes), kgo.FetchMaxWait(500*time.Millisecond), kgo.WithHooks(&c.fetches))
	}
	// A 2 s window of one small record every 50 ms.
	const records = 40
	window, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, c := range cons {
		go func() {
			defer close(c.done)
			for len(c.values) < records && window.Err() == nil {
				fs := c.cl.PollFetches(window)
				fs.EachRecord(func(r *kgo.Record) { c.values = append(c.values, string(r.Value)) })
			}
		}()
	}
	// Paced by a ticker, not by the produce round trips, so that the
	// window stays about 2 s on a loaded machine.
	prod := tb.client(kgo.DefaultProduceTopic(topic))
	var want []string
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := range records {
		<-tick.C
		v := string(rune('A'+i%26)) + string(rune('0'+i/26))
		want = append(want, v)
		prod.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range cons {
		<-c.done
		if len(c.values) != records {
			t.Fatalf("%s: consumed %d of %d records", c.name, len(c.values), records)
		}
		for i := range want {
			if c.values[i] != want[i] {
				t.Fatalf("%s: record %d is %q, want %q", c.name, i, c.values[i], want[i])
			}
		}
	}
	small, large := cons[0].fetches.n.Load(), cons[1].fetches.n.Load()
	t.Logf("fetch responses over %d records: %d with min 1 B, %d with min 10 MiB", records, small, large)
	// About 40 against about 4-5 (2 s / 500 ms); a factor 3 is generous.
	if large*3 > small {
		t.Fatalf("min 10 MiB got %d fetch responses, min 1 B %d: MinBytes does not hold responses back", large, small)
	}
}

// TestOffsetsTopicInternal: __consumer_offsets is listed as an internal
// topic (kadm with internal topics, kcat -L) and not without them, a
// regex subscription to every topic consumes the others and skips it, and
// the group's commits go on working.
func TestOffsetsTopicInternal(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	adm := tb.admin()
	const topic = "regex-me"
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	all, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := all["__consumer_offsets"]; !ok || !d.IsInternal || len(d.Partitions) != 50 || d.Err != nil {
		t.Fatalf("ListTopicsWithInternal: __consumer_offsets = %+v (listed %v), want internal with 50 partitions", d, ok)
	}
	if d := all["__consumer_offsets"]; d.Partitions[0].Leader != 1 {
		t.Fatalf("__consumer_offsets partition 0 led by %d, want broker 1", d.Partitions[0].Leader)
	}
	plain, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain["__consumer_offsets"]; ok {
		t.Fatal("ListTopics without internal topics lists __consumer_offsets")
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "__consumer_offsets"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("CreateTopics __consumer_offsets: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	prod := tb.client(kgo.DefaultProduceTopic(topic))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons := tb.client(kgo.ConsumeRegex(), kgo.ConsumeTopics(".*"), kgo.ConsumerGroup("regex-group"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	got := 0
	for got < 2 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 2 records", got)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic != topic {
				t.Fatalf("the regex consumer read %s", r.Topic)
			}
			got++
		})
	}
	if slices.Contains(cons.GetConsumeTopics(), "__consumer_offsets") {
		t.Fatal("the regex consumer subscribed to __consumer_offsets")
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsets(ctx, "regex-group")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 2 {
		t.Fatalf("committed offsets sum to %d, want 2", total)
	}

	// kcat -L lists it too.
	out, err := exec.CommandContext(ctx, "kcat", "-b", tb.srv.KafkaAddr(), "-L", "-t", "__consumer_offsets").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `topic "__consumer_offsets" with 50 partitions`) {
		t.Fatalf("kcat -L does not list __consumer_offsets:\n%s", out)
	}
}

// TestAdminReadYourWrites: on the broker that answered an admin write,
// the next read sees it, with no retry: CreateTopics and CreatePartitions
// then Metadata, AlterConfigs and IncrementalAlterConfigs then
// DescribeConfigs, DeleteTopics then Metadata, OffsetCommit then
// OffsetFetch, DeleteGroups then ListGroups. Several rounds, each read
// right after its write.
func TestAdminReadYourWrites(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	cl := tb.client()
	adm := kadm.NewClient(cl)
	// kadm's ListTopics answers from kgo's metadata cache (MetadataMinAge):
	// the broker is asked directly.
	metadata := func() map[string]kmsg.MetadataResponseTopic {
		t.Helper()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]kmsg.MetadataResponseTopic{}
		for _, mt := range resp.Topics {
			out[*mt.Topic] = mt
		}
		return out
	}
	for round := range 5 {
		topic := "ryw-" + string(rune('a'+round))
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		partitions := func(want int) {
			t.Helper()
			if mt := metadata()[topic]; mt.ErrorCode != 0 || len(mt.Partitions) != want {
				t.Fatalf("round %d: Metadata after the write: %s has %d partitions (error %d), want %d", round, topic, len(mt.Partitions), mt.ErrorCode, want)
			}
		}
		partitions(2)
		if _, err := adm.CreatePartitions(ctx, 2, topic); err != nil {
			t.Fatal(err)
		}
		partitions(4)

		retention := func(want string) {
			t.Helper()
			rc, err := adm.DescribeTopicConfigs(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			c, err := rc.On(topic, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range c.Configs {
				if e.Key == "retention.ms" {
					if e.MaybeValue() != want {
						t.Fatalf("round %d: DescribeConfigs after the write: retention.ms = %q, want %q", round, e.MaybeValue(), want)
					}
					return
				}
			}
			t.Fatalf("round %d: retention.ms not described", round)
		}
		legacy, incremental := "3600000", "7200000"
		alter := []kadm.AlterConfig{{Name: "retention.ms", Value: &legacy}}
		if _, err := adm.AlterTopicConfigsState(ctx, alter, topic); err != nil {
			t.Fatal(err)
		}
		retention(legacy)
		alter[0].Value = &incremental
		if _, err := adm.AlterTopicConfigs(ctx, alter, topic); err != nil {
			t.Fatal(err)
		}
		retention(incremental)

		grp := "ryw-group-" + topic
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: int64(10 + round), LeaderEpoch: -1})
		if resp, err := adm.CommitOffsets(ctx, grp, offs); err != nil || resp.Error() != nil {
			t.Fatalf("commit: %v %v", err, resp.Error())
		}
		fetched, err := adm.FetchOffsets(ctx, grp)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := fetched.Lookup(topic, 1); !ok || o.At != int64(10+round) {
			t.Fatalf("round %d: OffsetFetch after the commit: %+v (found %v), want %d", round, o, ok, 10+round)
		}
		if _, err := adm.DeleteGroups(ctx, grp); err != nil {
			t.Fatal(err)
		}
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := listed[grp]; ok {
			t.Fatalf("round %d: ListGroups after DeleteGroups lists %s", round, grp)
		}

		if dr, err := adm.DeleteTopics(ctx, topic); err != nil || dr.Error() != nil {
			t.Fatalf("delete topic: %v %v", err, dr.Error())
		}
		if _, ok := metadata()[topic]; ok {
			t.Fatalf("round %d: Metadata after DeleteTopics lists %s", round, topic)
		}
	}
}

// TestAdminWritesReachOtherBrokers: of three brokers, the one that
// answered a topic write (CreateTopics, CreatePartitions, AlterConfigs,
// DeleteTopics) sees it at once; the other two see it once their etcd
// watch delivers it. The test waits for that (no bound asserted) and logs
// the longest delay, the figure docs/design-notes.md quotes.
func TestAdminWritesReachOtherBrokers(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t)
	cl := c.client()
	const topic = "everywhere"
	// Learn the three brokers first, so that cl.Broker(id) knows them.
	for {
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) == 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ask := func(id int32, req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := cl.Broker(int(id)).Request(ctx, req)
		if err != nil {
			t.Fatalf("broker %d: %v", id, err)
		}
		return resp
	}
	partitions := func(id int32) int {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		mt := ask(id, req).(*kmsg.MetadataResponse).Topics[0]
		if mt.ErrorCode != 0 {
			return 0
		}
		return len(mt.Partitions)
	}
	retention := func(id int32) string {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"retention.ms"}
		req.Resources = append(req.Resources, rr)
		res := ask(id, req).(*kmsg.DescribeConfigsResponse).Resources[0]
		if res.ErrorCode != 0 || len(res.Configs) == 0 || res.Configs[0].Value == nil {
			return ""
		}
		return *res.Configs[0].Value
	}
	var longest time.Duration
	// seen checks the answering broker at once and waits for the others.
	seen := func(what string, answered int32, holds func(id int32) bool) {
		t.Helper()
		if !holds(answered) {
			t.Fatalf("%s: broker %d, which answered the write, does not see it", what, answered)
		}
		start := time.Now()
		for id := int32(1); id <= 3; id++ {
			for !holds(id) {
				if ctx.Err() != nil {
					t.Fatalf("%s: broker %d never sees it", what, id)
				}
				time.Sleep(time.Millisecond)
			}
		}
		longest = max(longest, time.Since(start))
	}

	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, 2, 3
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 30_000
	const via = 2 // any broker answers the admin APIs
	if code := ask(via, create).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("CreateTopics: %v", kerr.ErrorForCode(code))
	}
	seen("CreateTopics", via, func(id int32) bool { return partitions(id) == 2 })

	grow := kmsg.NewPtrCreatePartitionsRequest()
	gt := kmsg.NewCreatePartitionsRequestTopic()
	gt.Topic, gt.Count = topic, 4
	grow.Topics = append(grow.Topics, gt)
	grow.TimeoutMillis = 30_000
	if code := ask(via, grow).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("CreatePartitions: %v", kerr.ErrorForCode(code))
	}
	seen("CreatePartitions", via, func(id int32) bool { return partitions(id) == 4 })

	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ar := kmsg.NewIncrementalAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	ac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ac.Name, ac.Value = "retention.ms", kmsg.StringPtr("5400000")
	ar.Configs = append(ar.Configs, ac)
	alter.Resources = append(alter.Resources, ar)
	if code := ask(via, alter).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode; code != 0 {
		t.Fatalf("IncrementalAlterConfigs: %v", kerr.ErrorForCode(code))
	}
	seen("IncrementalAlterConfigs", via, func(id int32) bool { return retention(id) == "5400000" })

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{topic} // up to v5
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(topic) // v6+
	del.Topics = append(del.Topics, dt)
	del.TimeoutMillis = 30_000
	if code := ask(via, del).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("DeleteTopics: %v", kerr.ErrorForCode(code))
	}
	seen("DeleteTopics", via, func(id int32) bool { return partitions(id) == 0 })
	t.Logf("the other brokers saw each write within %v", longest)
}

// TestOffsetCommitUnknownGroupByVersion: a commit that names a
// generation for a group that does not exist answers GROUP_ID_NOT_FOUND
// from OffsetCommit v9 on (KIP-848: one code for both protocols) and
// ILLEGAL_GENERATION before, as Kafka 4's coordinator does; a simple
// commit (generation -1) creates the group at every version.
func TestOffsetCommitUnknownGroupByVersion(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	createTopic(t, tb, "commits", 1)
	commit := func(version int16, group string, generation int32) int16 {
		t.Helper()
		// franz-go sends the highest version both sides know: cap it.
		versions := kversion.Stable()
		versions.SetMaxKeyVersion(8, version)
		cl := tb.client(kgo.MaxVersions(versions))
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation, req.MemberID = version, group, generation, ""
		if generation >= 0 {
			req.MemberID = "member-1"
		}
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "commits"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset, rp.LeaderEpoch = 1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("OffsetCommit v%d: %v", version, err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	for _, tc := range []struct {
		version    int16
		generation int32
		want       int16
	}{
		{version: 9, generation: 3, want: kerr.GroupIDNotFound.Code},
		{version: 8, generation: 3, want: kerr.IllegalGeneration.Code},
		{version: 1, generation: 3, want: kerr.IllegalGeneration.Code},
		{version: 9, generation: -1, want: 0},
		{version: 8, generation: -1, want: 0},
	} {
		group := fmt.Sprintf("unknown-v%d-gen%d", tc.version, tc.generation)
		if got := commit(tc.version, group, tc.generation); got != tc.want {
			t.Errorf("OffsetCommit v%d generation %d to a new group: error %d (%v), want %d (%v)",
				tc.version, tc.generation, got, kerr.ErrorForCode(got), tc.want, kerr.ErrorForCode(tc.want))
		}
	}
}
