//go:build cgo

package duckdbtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/server"
)

type rec struct {
	key, value []byte
	ts         int64
	headers    []kgo.RecordHeader
}

// TestDuckDBReadsTieredTopic produces to a broker, waits until the data is
// in the cold tier (the default file store), and queries the Parquet files
// with DuckDB: counts, offsets, keys, values, timestamps and headers match
// what was produced, and the Hive partition columns work.
func TestDuckDBReadsTieredTopic(t *testing.T) {
	dataDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		DataDir: dataDir, Listen: "127.0.0.1:0", BrokerID: 1, AutoCreateTopics: true, DefaultPartitions: 1,
		RetentionCheckInterval: 100 * time.Millisecond, TierRowGroupBytes: 32 << 10,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const topic, n = "ducks", 3000
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, map[string]*string{
		"segment.bytes": kadm.StringPtr("16384"), "local.retention.ms": kadm.StringPtr("0"),
		"strata.tier.max.lag.ms": kadm.StringPtr("300"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	want := map[[2]int64]rec{}
	var mu sync.Mutex
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Timestamp: base.Add(time.Duration(i) * time.Millisecond),
			Value: fmt.Appendf(nil, "value-%d-%s", i, bytes.Repeat([]byte{'x'}, i%50))}
		if i%4 != 0 {
			r.Key = fmt.Appendf(nil, "key-%d", i%97)
		}
		if i%10 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "trace", Value: fmt.Appendf(nil, "t%d", i)}}
		}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			want[[2]int64{int64(r.Partition), r.Offset}] = rec{r.Key, r.Value, r.Timestamp.UnixMilli(), r.Headers}
			mu.Unlock()
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait until everything is tiered (max lag rolls the active segments).
	for p := int32(0); p < 3; p++ {
		for {
			_, end, err := srv.Tier().ColdRange(ctx, topic, p)
			part, _ := srv.Broker().Partition(topic, p)
			if err == nil && end == part.HighWatermark() {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("partition %d not fully tiered", p)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	glob := filepath.Join(dataDir, "objects", "topic="+topic, "partition=*", "*.parquet")
	from := fmt.Sprintf("read_parquet('%s', hive_partitioning=true)", glob)

	// Counts and offset ranges per partition.
	rows, err := db.QueryContext(ctx, "SELECT partition, count(*), min(\"offset\"), max(\"offset\"), count(DISTINCT \"offset\") FROM "+from+" GROUP BY ALL ORDER BY partition")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for rows.Next() {
		var p, cnt, lo, hi, distinct int64
		if err := rows.Scan(&p, &cnt, &lo, &hi, &distinct); err != nil {
			t.Fatal(err)
		}
		if lo != 0 || hi != cnt-1 || distinct != cnt || cnt != n/3 {
			t.Errorf("partition %d: %d rows, offsets %d..%d (%d distinct), want %d rows from 0", p, cnt, lo, hi, distinct, n/3)
		}
		total += int(cnt)
	}
	rows.Close()
	if total != n {
		t.Fatalf("DuckDB counted %d rows, produced %d", total, n)
	}

	// Every row against what was produced.
	rows, err = db.QueryContext(ctx, `SELECT topic, partition, "offset", key, value, epoch_ms("timestamp"), len(headers),
		CASE WHEN len(headers) > 0 THEN headers[1].key END, CASE WHEN len(headers) > 0 THEN headers[1].value END
		FROM `+from+` ORDER BY partition, "offset"`)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var (
			tp             string
			p, off, ts, nh int64
			key, val, hv   []byte
			hk             sql.NullString
		)
		if err := rows.Scan(&tp, &p, &off, &key, &val, &ts, &nh, &hk, &hv); err != nil {
			t.Fatal(err)
		}
		w, ok := want[[2]int64{p, off}]
		if !ok || tp != topic {
			t.Fatalf("DuckDB row %s/%d/%d was not produced", tp, p, off)
		}
		if (key == nil) != (w.key == nil) || !bytes.Equal(key, w.key) || !bytes.Equal(val, w.value) || ts != w.ts || int(nh) != len(w.headers) {
			t.Fatalf("row %d/%d: key %q value %q ts %d headers %d; want key %q value %q ts %d headers %d", p, off, key, val, ts, nh, w.key, w.value, w.ts, len(w.headers))
		}
		if nh > 0 && (hk.String != w.headers[0].Key || !bytes.Equal(hv, w.headers[0].Value)) {
			t.Fatalf("row %d/%d: header %s=%q, want %s=%q", p, off, hk.String, hv, w.headers[0].Key, w.headers[0].Value)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if seen != n {
		t.Fatalf("DuckDB returned %d rows, want %d", seen, n)
	}

	// The documented column types, and file metadata.
	var tsType, offType string
	if err := db.QueryRowContext(ctx, `SELECT typeof("timestamp"), typeof("offset") FROM `+from+` LIMIT 1`).Scan(&tsType, &offType); err != nil {
		t.Fatal(err)
	}
	// isAdjustedToUTC: Kafka timestamps are instants.
	if tsType != "TIMESTAMP WITH TIME ZONE" || offType != "BIGINT" {
		t.Errorf("column types: timestamp %s, offset %s", tsType, offType)
	}
	var kvTopic string
	if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT decode(value) FROM parquet_kv_metadata('%s') WHERE decode(key) = 'strata.topic' LIMIT 1`, glob)).Scan(&kvTopic); err != nil {
		t.Fatal(err)
	}
	if kvTopic != topic {
		t.Errorf("strata.topic metadata %q", kvTopic)
	}
	// Pruning on offset works (and reads only what it needs).
	var c int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+from+` WHERE partition = 1 AND "offset" BETWEEN 100 AND 199`).Scan(&c); err != nil || c != 100 {
		t.Errorf("offset range query: %d %v", c, err)
	}
}
