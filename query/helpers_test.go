package query_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/local"
	"github.com/stratalog/strata/query"
	"github.com/stratalog/strata/server"
	"github.com/stratalog/strata/tiering/coldfile"
)

type env struct {
	t       testing.TB
	srv     *server.Server
	objects string // the file:// directory of the cold tier
	bucket  objstore.Bucket
	cl      *kgo.Client
}

func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startEnv(t testing.TB, mutate ...func(*server.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	objects := filepath.Join(dir, "objects")
	cfg := server.Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", BrokerID: 1,
		AutoCreateTopics: true, DefaultPartitions: 1, RetentionCheckInterval: 100 * time.Millisecond,
		ObjectStore: "file://" + objects, TierRowGroupBytes: 16 << 10, Logger: testLogger(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b, err := local.New(objects)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(2*time.Millisecond), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, srv: srv, objects: objects, bucket: b, cl: cl}
}

func (e *env) createTieredTopic(topic string, partitions int32) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := kadm.NewClient(e.cl).CreateTopic(ctx, partitions, 1, map[string]*string{
		"segment.bytes":          kadm.StringPtr("16384"),
		"local.retention.ms":     kadm.StringPtr("0"),
		"strata.tier.max.lag.ms": kadm.StringPtr("300"),
		"retention.ms":           kadm.StringPtr("-1"),
	}, topic)
	if err != nil {
		e.t.Fatal(err)
	}
}

type rec struct {
	partition int32
	offset    int64
	key       []byte
	value     []byte
	headers   []kgo.RecordHeader
	ts        int64
}

// produce writes n records round robin over partitions; value(i) gives the
// value of record i. It returns them by partition, in offset order.
func (e *env) produce(topic string, partitions int32, n, seq int, value func(i int) []byte) map[int32][]rec {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range recs {
		j := seq + i
		r := &kgo.Record{Topic: topic, Partition: int32(j) % partitions, Value: value(j), Timestamp: base.Add(time.Duration(j) * time.Millisecond)}
		switch j % 4 {
		case 0:
		case 1:
			r.Key = []byte{}
		default:
			r.Key = fmt.Appendf(nil, "key-%d", j)
		}
		if j%3 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", j)}, {Key: "nil"}}
		}
		recs[i] = r
	}
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	out := map[int32][]rec{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], rec{r.Partition, r.Offset, r.Key, r.Value, r.Headers, r.Timestamp.UnixMilli()})
	}
	return out
}

// waitCold waits until every partition has at least minCold offsets in the
// cold tier.
func (e *env) waitCold(topic string, partitions int32, minCold int64) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for p := int32(0); p < partitions; p++ {
			_, end, err := e.srv.Tier().ColdRange(context.Background(), topic, p)
			if err != nil || end < minCold {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			st, _ := e.srv.Tier().Status(context.Background(), topic)
			e.t.Fatalf("not tiered: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) planner() *query.Planner {
	return query.NewPlanner(query.Config{Client: e.cl, Bucket: e.bucket, BatchRows: 500})
}

func merge(ms ...map[int32][]rec) map[int32][]rec {
	out := map[int32][]rec{}
	for _, m := range ms {
		for p, rs := range m {
			out[p] = append(out[p], rs...)
		}
	}
	return out
}

// compareRows checks rows (in scan order) against want for [from, to) of
// each partition in parts.
func compareRows(t testing.TB, rows []coldfile.Row, want map[int32][]rec, from, to int64) {
	t.Helper()
	i := 0
	for p := int32(0); p < int32(len(want)); p++ {
		for _, w := range want[p] {
			if w.offset < from || (to >= 0 && w.offset >= to) {
				continue
			}
			if i >= len(rows) {
				t.Fatalf("%d rows, missing %d/%d", len(rows), p, w.offset)
			}
			r := rows[i]
			i++
			if r.Partition != p || r.Offset != w.offset || !bytes.Equal(r.Value, w.value) || (r.Key == nil) != (w.key == nil) ||
				!bytes.Equal(r.Key, w.key) || r.Timestamp != w.ts || len(r.Headers) != len(w.headers) {
				t.Fatalf("row %d: got %d/%d key %q value %q ts %d headers %v; want %d/%d key %q value %q ts %d headers %v",
					i-1, r.Partition, r.Offset, r.Key, r.Value, r.Timestamp, r.Headers, p, w.offset, w.key, w.value, w.ts, w.headers)
			}
			for k, h := range r.Headers {
				if h.Key != w.headers[k].Key || !bytes.Equal(h.Value, w.headers[k].Value) || (h.Value == nil) != (w.headers[k].Value == nil) {
					t.Fatalf("row %d/%d header %d: %+v want %+v", p, w.offset, k, h, w.headers[k])
				}
			}
		}
	}
	if i != len(rows) {
		t.Fatalf("%d rows, want %d", len(rows), i)
	}
}
