package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFailedFsyncTakesLogDirOffline makes the fsync of the leader's disk
// fail mid-stream (the hotlog SyncFile seam) under an idempotent acks=all
// producer: the leader's log dir goes offline, leadership moves to an
// in-sync replica, the producer's later records land there, every
// acknowledged record is read back exactly once, and the failed broker
// refuses appends, fails /readyz and says so in a metric.
func TestFailedFsyncTakesLogDirOffline(t *testing.T) {
	var failing [4]atomic.Bool // by broker id
	c := startCluster(t, 3, func(cfg *Config) {
		id := cfg.BrokerID
		cfg.SyncFile = func(f *os.File) error {
			if failing[id].Load() {
				return fmt.Errorf("injected fsync failure: %w", syscall.EIO)
			}
			return f.Sync()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "fsyncfail"
	adm := kadm.NewClient(c.client())
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	victim := c.waitISR(ctx, topic, 3).Partitions[0].Leader

	ap := newAckedProducer(ctx, t, c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks())), 0)
	produce := ap.produce
	produce(0, 1000)
	failing[victim].Store(true)
	produce(1000, 3000)
	if t.Failed() {
		t.FailNow()
	}
	if len(ap.acked) != 3000 {
		t.Fatalf("%d records acknowledged, want 3000", len(ap.acked))
	}
	if l := leaderNow(ctx, t, adm, topic); l == victim || l < 0 {
		t.Fatalf("partition led by %d after broker %d's fsync failed", l, victim)
	}

	recs := consumeAllFrom(t, c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), len(ap.acked))
	ap.checkRead(recs)

	// The failed broker: appends refused, not ready, the metric says why.
	bad := c.broker(victim)
	rc := dialRaw(t, bad)
	if r := produceRaw(t, rc, topic, []byte("late")); r.ErrorCode != kerr.KafkaStorageError.Code && r.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to the broker whose fsync failed: %v, want KAFKA_STORAGE_ERROR or NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(r.ErrorCode))
	}
	if code, body := httpStatus(t, "http://"+bad.srv.MetricsAddr()+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "log dir offline") {
		t.Fatalf("/readyz of the failed broker: %d %q", code, body)
	}
	if _, body := httpStatus(t, "http://"+bad.srv.MetricsAddr()+"/metrics"); !strings.Contains(body, "strata_log_dir_offline 1") {
		t.Fatal("strata_log_dir_offline is not 1 on the failed broker")
	}
	for _, b := range c.brokers {
		if b.cfg.BrokerID == victim {
			continue
		}
		if code, body := httpStatus(t, "http://"+b.srv.MetricsAddr()+"/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz of healthy broker %d: %d %q", b.cfg.BrokerID, code, body)
		}
	}
}

// httpStatus is httpGet with the status code.
func httpStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
