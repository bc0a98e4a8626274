package server

import (
	"context"
	crand "crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/quota"
)

const quotaBytes = 1 << 20 // 1 MiB/s

func randomBytes(n int) []byte {
	b := make([]byte, n)
	crand.Read(b)
	return b
}

// setClientQuota stores key=v for a client id through AlterClientQuotas
// and waits until DescribeClientQuotas shows it.
func setClientQuota(t *testing.T, tb *testBroker, client, key string, v float64) {
	t.Helper()
	ctx := testCtx(t)
	adm := tb.admin()
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: quota.TypeClientID, Name: kadm.StringPtr(client)}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: v}},
	}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("alter client quota: %v %+v", err, res)
	}
	got, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: quota.TypeClientID, MatchName: kadm.StringPtr(client)}})
	if err != nil || len(got) != 1 || len(got[0].Values) != 1 || got[0].Values[0].Key != key || got[0].Values[0].Value != v {
		t.Fatalf("describe client quota of %s: %v %+v", client, err, got)
	}
	time.Sleep(200 * time.Millisecond) // the broker's watch applies it
}

// checkQuotaRate: a throttled client never exceeds its quota by more than
// 10 %; below it, it must still get most of it (at least 70 %: on two
// shared cores a client that is not throttled at all also dips under
// load, so a tighter floor would measure the machine, not the broker).
func checkQuotaRate(t *testing.T, who string, rate float64) {
	t.Helper()
	if rate > 1.1*quotaBytes {
		t.Errorf("throttled %s at %.0f B/s: more than 10%% over its quota of %d", who, rate, quotaBytes)
	}
	if rate < 0.7*quotaBytes {
		t.Errorf("throttled %s at %.0f B/s: starved, far below its quota of %d", who, rate, quotaBytes)
	}
}

// rateMeter adds up bytes by when they were acknowledged or consumed and
// gives the rate within a span (the start is left out: a client's first
// burst is measured over the whole quota window, as in Kafka).
type rateMeter struct {
	mu     sync.Mutex
	start  time.Time
	events []struct {
		at time.Time
		n  int
	}
}

func (m *rateMeter) add(n int) {
	m.mu.Lock()
	m.events = append(m.events, struct {
		at time.Time
		n  int
	}{time.Now(), n})
	m.mu.Unlock()
}

func (m *rateMeter) rate(from, to time.Duration) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int
	for _, e := range m.events {
		if d := e.at.Sub(m.start); d >= from && d < to {
			n += e.n
		}
	}
	return float64(n) / (to - from).Seconds()
}

// TestProduceQuota: two producers at once, one whose client id has a
// 1 MiB/s producer_byte_rate: it stays within 10 % of it (measured after
// the first window), the other goes on unthrottled, and the throttled
// client id shows in the throttle metric.
func TestProduceQuota(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.QuotaWindowSamples, c.QuotaWindow = 21, 100*time.Millisecond })
	if _, err := tb.admin().CreateTopic(testCtx(t), 2, 1, nil, "quota"); err != nil {
		t.Fatal(err)
	}
	setClientQuota(t, tb, "slow", quota.ProducerByteRate, quotaBytes)
	value := randomBytes(8 << 10)
	run := func(client string, m *rateMeter, until time.Time, wg *sync.WaitGroup) {
		defer wg.Done()
		cl := tb.client(kgo.ClientID(client), kgo.ProducerBatchMaxBytes(64<<10), kgo.ProducerLinger(0),
			kgo.ProducerBatchCompression(kgo.NoCompression()) /* quotas count bytes on the wire: what the test counts */, kgo.MaxBufferedRecords(64))
		for time.Now().Before(until) {
			cl.Produce(context.Background(), &kgo.Record{Topic: "quota", Value: value}, func(r *kgo.Record, err error) {
				if err == nil {
					m.add(len(r.Value))
				}
			})
		}
		cl.Flush(context.Background())
	}
	slow, fast := &rateMeter{}, &rateMeter{}
	start := time.Now()
	slow.start, fast.start = start, start
	until := start.Add(12 * time.Second)
	var wg sync.WaitGroup
	wg.Add(2)
	go run("slow", slow, until, &wg)
	go run("fast", fast, until, &wg)
	wg.Wait()
	s, f := slow.rate(3*time.Second, 12*time.Second), fast.rate(3*time.Second, 12*time.Second)
	t.Logf("throttled producer %.2f MiB/s (quota 1 MiB/s), unthrottled %.2f MiB/s", s/(1<<20), f/(1<<20))
	checkQuotaRate(t, "producer", s)
	if f < 4*quotaBytes {
		t.Errorf("unthrottled producer at %.0f B/s: throttled too", f)
	}
	metrics := httpGet(t, "http://"+tb.srv.MetricsAddr()+"/metrics")
	if !strings.Contains(metrics, `strata_quota_throttle_seconds_total{client_id="slow",quota="producer_byte_rate",user=""}`) {
		t.Error("no throttle metric for client id slow")
	}
	if strings.Contains(metrics, `client_id="fast"`) {
		t.Error("client id fast was throttled")
	}
}

// TestFetchQuota: a consumer whose client id has a 1 MiB/s
// consumer_byte_rate reads within 10 % of it while another consumer of
// the same data is not held back.
func TestFetchQuota(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.QuotaWindowSamples, c.QuotaWindow = 21, 100*time.Millisecond })
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, nil, "quota"); err != nil {
		t.Fatal(err)
	}
	p := tb.client(kgo.ProducerBatchMaxBytes(64<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := randomBytes(8 << 10)
	var recs []*kgo.Record
	for i := 0; i < 3000; i++ { // 24 MiB: more than the slow consumer can read in the test
		recs = append(recs, &kgo.Record{Topic: "quota", Value: value})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	setClientQuota(t, tb, "slowc", quota.ConsumerByteRate, quotaBytes)
	run := func(client string, m *rateMeter, until time.Time, wg *sync.WaitGroup) {
		defer wg.Done()
		cl := tb.client(kgo.ClientID(client), kgo.ConsumeTopics("quota"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(64<<10), kgo.FetchMaxPartitionBytes(32<<10))
		for time.Now().Before(until) {
			fctx, cancel := context.WithDeadline(context.Background(), until)
			fs := cl.PollFetches(fctx)
			cancel()
			fs.EachRecord(func(r *kgo.Record) { m.add(len(r.Value)) })
		}
	}
	slow, fast := &rateMeter{}, &rateMeter{}
	start := time.Now()
	slow.start, fast.start = start, start
	var wg sync.WaitGroup
	wg.Add(2)
	go run("slowc", slow, start.Add(12*time.Second), &wg)
	go run("fastc", fast, start.Add(12*time.Second), &wg)
	wg.Wait()
	s := slow.rate(3*time.Second, 12*time.Second)
	var fastTotal float64
	for _, e := range fast.events {
		fastTotal += float64(e.n)
	}
	t.Logf("throttled consumer %.2f MiB/s (quota 1 MiB/s); the other read %.1f MiB", s/(1<<20), fastTotal/(1<<20))
	checkQuotaRate(t, "consumer", s)
	if fastTotal < float64(len(recs)*len(value)) {
		t.Errorf("unthrottled consumer read %.0f of %d bytes in 10 s", fastTotal, len(recs)*len(value))
	}
}
