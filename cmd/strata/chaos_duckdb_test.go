//go:build chaosduckdb

package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/stratalog/strata/objstore"
)

// checkColdListing is the warehouse's view of the cold tier: every object
// under topic=<topic>/ in the bucket (copied to a local directory, since
// DuckDB's httpfs extension cannot be installed offline) read by DuckDB
// with read_parquet(hive_partitioning), as docs/query-with-duckdb.md tells
// users to. Each acknowledged record the manifest has tiered must be there
// with its value; a row of an offset the topic holds with another value is
// wrong; a (partition, offset) seen twice is counted as doubled, the view
// a listing gives while an object not in the manifest (an upload whose
// commit a crash cut off, before the orphan sweep) is still in the bucket.
func checkColdListing(ctx context.Context, t *testing.T, store objstore.Bucket, topic string, want map[recordAt]string, cold coldCheck) listingCheck {
	t.Helper()
	dir := t.TempDir()
	var res listingCheck
	err := store.List(ctx, "topic="+topic+"/", func(oi objstore.ObjectInfo) error {
		rc, err := store.Get(ctx, oi.Key)
		if err != nil {
			return fmt.Errorf("get %s: %w", oi.Key, err)
		}
		defer rc.Close()
		path := filepath.Join(dir, filepath.FromSlash(oi.Key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, rc); err != nil {
			f.Close()
			return fmt.Errorf("copy %s: %w", oi.Key, err)
		}
		res.objects++
		if !cold.named[oi.Key] {
			t.Logf("in the bucket, not in the manifest: %s (%d bytes, written %s)", oi.Key, oi.Size, oi.LastModified.Format(time.RFC3339))
		}
		return f.Close()
	})
	if err != nil {
		t.Fatalf("list the cold tier: %v", err)
	}
	if res.objects == 0 {
		t.Errorf("the bucket holds no object under topic=%s/", topic)
		return res
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT partition, "offset", value, count(*) OVER (PARTITION BY partition, "offset") AS copies
		FROM read_parquet('%s/topic=%s/partition=*/*.parquet', hive_partitioning = true)`, dir, topic))
	if err != nil {
		t.Fatalf("duckdb read_parquet: %v", err)
	}
	defer rows.Close()
	seen := map[recordAt]bool{}
	for rows.Next() {
		var part int32
		var off, copies int64
		var value []byte
		if err := rows.Scan(&part, &off, &value, &copies); err != nil {
			t.Fatal(err)
		}
		res.rows++
		at := recordAt{part, off}
		if copies > 1 && !seen[at] {
			res.doubled++
		}
		seen[at] = true
		if w, ok := want[at]; !ok || w != string(value) {
			res.wrong++
			if res.wrong <= 10 {
				t.Errorf("DuckDB row %d/%d holds %q; the topic holds %q there", part, off, value, w)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for at := range want {
		if last, ok := cold.tiered[at.partition]; ok && at.offset <= last && !seen[at] {
			res.missing++
			if res.missing <= 10 {
				t.Errorf("record %d/%d is tiered by the manifest but not in the DuckDB view", at.partition, at.offset)
			}
		}
	}
	t.Logf("DuckDB over the bucket listing: %d objects, %d rows, %d offsets doubled, %d missing, %d wrong",
		res.objects, res.rows, res.doubled, res.missing, res.wrong)
	return res
}
