//go:build cgo

package duckdbtest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/server"
)

// snapshotFiles lists the data files of the topic's current Iceberg
// snapshot as quoted DuckDB paths, with the metadata file planned from
// (none while there is no table).
func snapshotFiles(ctx context.Context, t *testing.T, srv *server.Server, topic string) (files []string, loc string) {
	t.Helper()
	loc, _, found, err := srv.Tables().Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return nil, ""
	}
	tbl, err := table.NewFromLocation(ctx, table.Identifier{"default", topic}, loc, iceio.LoadFSFunc(nil, loc), nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		files = append(files, "'"+strings.TrimPrefix(task.File.FilePath(), "file://")+"'")
	}
	return files, loc
}

// TestDuckDBAfterDeleteRecords: after DeleteRecords in the middle of a
// tiered file, the Iceberg table (and so DuckDB over it) drops every file
// wholly below the new log start; the straddling file stays whole, so a
// warehouse query filters on the log start (docs/export.md), and with
// that filter DuckDB returns exactly the records Kafka consumers still
// see.
func TestDuckDBAfterDeleteRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", BrokerID: 1, AutoCreateTopics: true, DefaultPartitions: 1,
		RetentionCheckInterval: 100 * time.Millisecond, TierRowGroupBytes: 32 << 10,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr()), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(4096))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic, n = "deleted-ducks", 3000
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes": kadm.StringPtr("16384"), "local.retention.ms": kadm.StringPtr("0"),
		"strata.tier.max.lag.ms": kadm.StringPtr("300"), "strata.tier.target.file.bytes": kadm.StringPtr("0"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "value %d %s", i, strings.Repeat("x", 80))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// perFile is each snapshot file's [min, max] offset, by file.
	perFile := func(files []string) map[string][2]int64 {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT filename, min("offset"), max("offset") FROM read_parquet([`+strings.Join(files, ",")+`], filename=true) GROUP BY filename`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][2]int64{}
		for rows.Next() {
			var f string
			var lo, hi int64
			if err := rows.Scan(&f, &lo, &hi); err != nil {
				t.Fatal(err)
			}
			out[f] = [2]int64{lo, hi}
		}
		return out
	}
	// Everything in the table first.
	var before map[string][2]int64
	for {
		if files, _ := snapshotFiles(ctx, t, srv, topic); len(files) > 0 {
			before = perFile(files)
			maxOff := int64(-1)
			for _, r := range before {
				maxOff = max(maxOff, r[1])
			}
			if maxOff == n-1 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the table never held every record")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(before) < 4 {
		t.Fatalf("%d files in the table, want at least 4", len(before))
	}
	// A log start in the middle of the file holding offset n/2.
	var straddler [2]int64
	for _, r := range before {
		if r[0] <= n/2 && n/2 <= r[1] {
			straddler = r
		}
	}
	at := straddler[0] + (straddler[1]-straddler[0])/2 + 1
	resp, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: at}}})
	if err != nil || resp.Error() != nil {
		t.Fatalf("delete records below %d: %v %v", at, err, resp.Error())
	}
	var files []string
	for {
		files, _ = snapshotFiles(ctx, t, srv, topic)
		after := perFile(files)
		dropped := true
		for _, r := range after {
			if r[1] < at {
				dropped = false
			}
		}
		if dropped {
			if len(after) != countAtOrAbove(before, at) {
				t.Fatalf("%d files after the delete, want the %d that hold offsets from %d", len(after), countAtOrAbove(before, at), at)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("files wholly below %d still in the table: %v", at, after)
		}
		time.Sleep(100 * time.Millisecond)
	}
	from := "read_parquet([" + strings.Join(files, ",") + "])"
	var lo, cnt int64
	if err := db.QueryRowContext(ctx, `SELECT min("offset"), count(*) FROM `+from).Scan(&lo, &cnt); err != nil {
		t.Fatal(err)
	}
	if lo != straddler[0] {
		t.Fatalf("unfiltered: first offset %d, want the straddling file's %d (kept whole)", lo, straddler[0])
	}
	if err := db.QueryRowContext(ctx, `SELECT min("offset"), count(*) FROM `+from+` WHERE "offset" >= ?`, at).Scan(&lo, &cnt); err != nil {
		t.Fatal(err)
	}
	if lo != at || cnt != n-at {
		t.Fatalf("filtered on the log start %d: first offset %d, %d rows; want %d, %d", at, lo, cnt, at, n-at)
	}
}

// countAtOrAbove counts the files holding some offset >= at.
func countAtOrAbove(files map[string][2]int64, at int64) int {
	k := 0
	for _, r := range files {
		if r[1] >= at {
			k++
		}
	}
	return k
}
