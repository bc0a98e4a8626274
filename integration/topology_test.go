package integration

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceConsume: three broker containers on one etcd container form a
// cluster; a client on the host produces through the mapped ports to a
// replicated topic and reads every record back, keys, values and headers
// intact, at the offsets it was acknowledged with.
func TestProduceConsume(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := c.admin()

	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, b := range md.Brokers {
		hosts = append(hosts, fmt.Sprintf("%d=%s:%d", b.NodeID, b.Host, b.Port))
	}
	sort.Strings(hosts)
	if fmt.Sprint(hosts) != "[1=strata-1:9092 2=strata-2:9092 3=strata-3:9092]" {
		t.Fatalf("brokers in metadata: %v, want the three containers' advertised addresses", hosts)
	}

	const topic, n = "orders", 3000
	createTopic(ctx, t, adm, topic, 3, 3, map[string]string{"min.insync.replicas": "2"})
	waitISR(ctx, t, adm, topic, 3)

	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()))
	type sent struct {
		key, value, hdr []byte
		pos             position
	}
	var all []sent
	results := make(chan sent, n)
	for i := range n {
		r := &kgo.Record{
			Topic:   topic,
			Key:     fmt.Appendf(nil, "k%d", i%11),
			Value:   bytes.Repeat(fmt.Appendf(nil, "v%d.", i), 1+i%7),
			Headers: []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", i)}},
		}
		prod.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
				results <- sent{}
				return
			}
			results <- sent{r.Key, r.Value, r.Headers[0].Value, position{r.Partition, r.Offset}}
		})
	}
	for range n {
		all = append(all, <-results)
	}
	if t.Failed() {
		t.FailNow()
	}

	got := map[position]*kgo.Record{}
	for _, r := range readAll(ctx, t, c, topic) {
		got[position{r.Partition, r.Offset}] = r
	}
	if len(got) != n {
		t.Errorf("read %d records, produced %d", len(got), n)
	}
	parts := map[int32]int{}
	for _, s := range all {
		r, ok := got[s.pos]
		if !ok {
			t.Fatalf("record acknowledged at %v not read back", s.pos)
		}
		if !bytes.Equal(r.Key, s.key) || !bytes.Equal(r.Value, s.value) || len(r.Headers) != 1 || !bytes.Equal(r.Headers[0].Value, s.hdr) {
			t.Fatalf("record at %v: read key %q value %q headers %v, produced key %q value %q seq %s", s.pos, r.Key, r.Value, r.Headers, s.key, s.value, s.hdr)
		}
		parts[s.pos.partition]++
	}
	if len(parts) != 3 {
		t.Errorf("records spread over partitions %v, want 3", parts)
	}
}
