package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/tiering"
	"github.com/stratalog/strata/tiering/coldfile"
)

// tierTopicConfig makes a topic tier within seconds: small segments, the
// active one rolled after 1 s, no merging of small files (so each object is
// one segment), and local copies deleted half a second after their last
// record, once they are tiered.
var tierTopicConfig = map[string]string{
	"segment.bytes":                 "65536",
	"strata.tier.max.lag.ms":        "1000",
	"strata.tier.target.file.bytes": "0",
	"local.retention.ms":            "500",
}

// tierValue is a record value of about 600 bytes: ~100 records a segment
// (tierProducer does not compress).
func tierValue(prefix string, i int) []byte {
	return fmt.Appendf(nil, "%s-%07d-%s", prefix, i, strings.Repeat("x", 580))
}

// tierProducer is a producer of small uncompressed batches (a batch is
// never split across segments), so that segments fill up as computed.
func tierProducer(c *cluster) *kgo.Client {
	return c.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10))
}

// produceTiered produces values tierValue(prefix, from..to-1) to partition 0
// and records them in l.
func produceTiered(ctx context.Context, t *testing.T, cl *kgo.Client, l *ledger, topic, prefix string, from, to int) {
	t.Helper()
	results := make(chan error, to-from)
	for i := from; i < to; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: tierValue(prefix, i)}, func(r *kgo.Record, err error) {
			l.mu.Lock()
			if err == nil {
				l.acked[string(r.Value)] = position{r.Partition, r.Offset}
			} else {
				l.failed++
				l.errs[err.Error()]++
			}
			l.mu.Unlock()
			results <- err
		})
	}
	for i := from; i < to; i++ {
		if err := <-results; err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// waitTiered waits until partition 0 of topic, led by b, has everything
// below offset upTo in the cold tier, no sealed segment left untiered, and
// local segments deleted (so records below the local start come from the
// object store only).
func waitTiered(ctx context.Context, t *testing.T, b *brokerCtr, topic string, upTo int64) tiering.PartitionStatus {
	t.Helper()
	var last string
	for {
		st, err := b.tierStatus(ctx, topic)
		if err == nil && len(st) == 1 {
			s := st[0]
			if s.RemoteStart == 0 && s.RemoteEnd >= upTo && s.LocalStart > 0 && s.UntieredSealedBytes == 0 && s.LastError == "" {
				return s
			}
			last = fmt.Sprintf("%+v", s)
		} else {
			last = fmt.Sprintf("%v %+v", err, st)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s/0 never tiered below %d: %s", topic, upTo, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkObjects lists the partition's Parquet objects in MinIO, decodes each
// one, and checks that every row is the record acknowledged at its offset
// and that the objects cover [0, upTo) without a gap.
func checkObjects(ctx context.Context, t *testing.T, c *cluster, l *ledger, topic string, upTo int64) {
	t.Helper()
	bucket, _, err := c.bucket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byOffset := map[int64]string{}
	l.mu.Lock()
	for v, p := range l.acked {
		byOffset[p.offset] = v
	}
	l.mu.Unlock()

	type object struct {
		key        string
		base, last int64
	}
	var objs []object
	err = bucket.List(ctx, coldfile.PartitionPrefix(topic, 0), func(o objstore.ObjectInfo) error {
		_, _, base, last, ok := coldfile.ParseObjectKey(o.Key)
		if !ok {
			return fmt.Errorf("unexpected object %s under the partition's prefix", o.Key)
		}
		objs = append(objs, object{o.Key, base, last})
		return nil
	})
	if err != nil {
		t.Fatalf("list s3://%s/%s/%s: %v", bucketName, storePrefix, coldfile.PartitionPrefix(topic, 0), err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].base < objs[j].base })
	next := int64(0)
	rows := 0
	for _, o := range objs {
		if o.base > next {
			t.Fatalf("cold tier has a gap: offsets %d..%d in no object (next object %s)", next, o.base-1, o.key)
		}
		rc, err := bucket.Get(ctx, o.key)
		if err != nil {
			t.Fatalf("get %s: %v", o.key, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", o.key, err)
		}
		recs, err := parquet.Read[coldfile.Row](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("decode Parquet object %s: %v", o.key, err)
		}
		for _, r := range recs {
			if r.Offset < o.base || r.Offset > o.last {
				t.Fatalf("%s holds offset %d", o.key, r.Offset)
			}
			if want, ok := byOffset[r.Offset]; !ok || string(r.Value) != want {
				t.Fatalf("%s: row at offset %d has value %.20q..., acknowledged %.20q...", o.key, r.Offset, r.Value, want)
			}
			rows++
		}
		next = max(next, o.last+1)
	}
	if next < upTo {
		t.Fatalf("cold tier covers offsets below %d, want below %d (%d objects)", next, upTo, len(objs))
	}
	t.Logf("%d Parquet objects in MinIO hold offsets 0..%d (%d rows), each row the acknowledged record", len(objs), next-1, rows)
}

// TestTieringColdRead: sealed segments become Parquet objects in the MinIO
// container, local copies are deleted, and a consumer reading from offset
// 0 gets every record back from the cold tier.
func TestTieringColdRead(t *testing.T) {
	c := startCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic = "cold"
	createTopic(ctx, t, c.admin(), topic, 1, 1, tierTopicConfig)

	l := newLedger()
	prod := tierProducer(c)
	const n = 3000
	produceTiered(ctx, t, prod, l, topic, "cold", 0, n)
	st := waitTiered(ctx, t, c.broker(1), topic, n*3/4)
	t.Logf("tier status: local %d..%d, remote %d..%d in %d files", st.LocalStart, st.LocalEnd, st.RemoteStart, st.RemoteEnd, st.RemoteFiles)
	checkObjects(ctx, t, c, l, topic, st.LocalStart)

	// Offsets below the local start exist only in MinIO now.
	recs := readAll(ctx, t, c, topic, l)
	verifyAcked(t, l, recs)
	cold := 0
	for _, r := range recs {
		if r.Offset < st.LocalStart {
			cold++
		}
	}
	if cold < int(st.LocalStart) {
		t.Fatalf("read %d records below the local start %d", cold, st.LocalStart)
	}
	t.Logf("%d records read from the cold tier, %d from the hot log", cold, len(recs)-cold)
}

// TestMinIORestartDuringTiering: the MinIO container stops while segments
// are being tiered. Produce goes on (tiering never blocks it), the broker
// reports the store down on /readyz and keeps local segments until they
// are tiered; once MinIO is back, tiering catches up and every record reads
// back, the old ones from the cold tier.
func TestMinIORestartDuringTiering(t *testing.T) {
	c := startCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const topic = "minio-restart"
	createTopic(ctx, t, c.admin(), topic, 1, 1, tierTopicConfig)
	b := c.broker(1)
	l := newLedger()
	prod := tierProducer(c)

	produceTiered(ctx, t, prod, l, topic, "before", 0, 1000)
	waitTiered(ctx, t, b, topic, 750)

	c.stop(ctx, c.minio)
	// Produce while the store is down: every record is acknowledged.
	produceTiered(ctx, t, prod, l, topic, "during", 0, 1500)
	body := b.waitReadyz(ctx, t, http.StatusServiceUnavailable, "object store")
	t.Logf("store down: /readyz says %q", body)
	// Sealed segments pile up locally; none is deleted untiered.
	var down tiering.PartitionStatus
	for {
		st, err := b.tierStatus(ctx, topic)
		if err == nil && len(st) == 1 && st[0].UntieredSealedBytes > 0 && st[0].LastError != "" {
			down = st[0]
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("tier status never showed untiered segments and an error while MinIO was down: %+v %v", st, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if down.LocalStart > down.RemoteEnd {
		t.Fatalf("while the store was down, local segments below %d were deleted but only offsets below %d are tiered", down.LocalStart, down.RemoteEnd)
	}
	t.Logf("store down: %d sealed bytes untiered, local %d..%d kept, error %q", down.UntieredSealedBytes, down.LocalStart, down.LocalEnd, down.LastError)
	// The hot log still serves: read the local part back meanwhile.
	hot := readPartitionFrom(ctx, t, c, topic, 0, down.LocalStart)
	l.mu.Lock()
	for _, r := range hot {
		if p, ok := l.acked[string(r.Value)]; !ok || p.offset != r.Offset {
			l.mu.Unlock()
			t.Fatalf("store down: read %.20q at offset %d, acknowledged at %v", r.Value, r.Offset, p)
		}
	}
	l.mu.Unlock()
	t.Logf("store down: %d records read from the local log", len(hot))

	c.start(ctx, c.minio)
	produceTiered(ctx, t, prod, l, topic, "after", 0, 500)
	const total = 1000 + 1500 + 500
	st := waitTiered(ctx, t, b, topic, total*3/4)
	b.waitReadyz(ctx, t, http.StatusOK, "ready")
	t.Logf("after restart: local %d..%d, remote %d..%d in %d files", st.LocalStart, st.LocalEnd, st.RemoteStart, st.RemoteEnd, st.RemoteFiles)
	checkObjects(ctx, t, c, l, topic, st.LocalStart)
	verifyAcked(t, l, readAll(ctx, t, c, topic, l))
	if l.ackedCount() != total {
		t.Fatalf("%d records acknowledged, want %d", l.ackedCount(), total)
	}
}
