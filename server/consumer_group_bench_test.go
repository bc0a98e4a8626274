package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/group"
)

// BenchmarkGroupRebalance50 measures, in the same run on one broker, how
// long 50 consumers started at once take until every one of 50 partitions
// has exactly one owner and every member one partition: with the classic
// protocol (kgo's cooperative-sticky, client-side assignment, no initial
// rebalance delay) and with KIP-848 (kgo.ServerSideBalancer, the broker's
// uniform assignor), at the same heartbeat interval. It reports both
// times and the ratio KIP-848 ÷ classic. See docs/benchmarks.md.
//
//	go test -run '^$' -bench BenchmarkGroupRebalance50 -benchtime 3x ./server/
func BenchmarkGroupRebalance50(b *testing.B) {
	const members, parts = 50, 50
	const heartbeat = 500 * time.Millisecond
	tb := startBroker(b, func(c *Config) {
		c.Groups = group.Config{
			InitialRebalanceDelay:     -1,
			MinSessionTimeout:         100 * time.Millisecond,
			ConsumerSessionTimeout:    10 * time.Second,
			ConsumerHeartbeatInterval: heartbeat,
		}
	})
	const topic = "bench-rebalance"
	resp, err := tb.admin().CreateTopic(context.Background(), parts, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Fatal(err)
	}
	run := func(i int, name string, opts ...kgo.Opt) time.Duration {
		grp := fmt.Sprintf("bench-%s-%d", name, i)
		ms := make([]*member, members)
		begin := time.Now()
		for j := range ms {
			ms[j] = startMember(b, tb, fmt.Sprintf("%s-%d", name, j), grp, topic,
				append([]kgo.Opt{kgo.HeartbeatInterval(heartbeat), kgo.SessionTimeout(10 * time.Second)}, opts...)...)
		}
		took := time.Since(begin) // starting the clients
		took += waitBalanced(b, ms, parts, 2*time.Minute)
		for _, m := range ms {
			m.leave()
		}
		return took
	}
	var classic, kip848 time.Duration
	b.ResetTimer()
	for i := range b.N {
		classic += run(i, "classic", kgo.Balancers(kgo.CooperativeStickyBalancer()))
		kip848 += run(i, "kip848", kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(classic.Milliseconds())/n, "classic-ms")
	b.ReportMetric(float64(kip848.Milliseconds())/n, "kip848-ms")
	b.ReportMetric(float64(kip848)/float64(classic), "kip848/classic")
}
