//go:build cgo

package query_test

import (
	"database/sql"
	"fmt"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/stratalog/strata/query"
)

func jsonOrBad(i int) []byte {
	switch {
	case i%97 == 5:
		return []byte("not json")
	case i%89 == 7:
		return fmt.Appendf(nil, `{"id":"str%d","name":"x","score":1,"ok":true}`, i)
	}
	return textValue(i)
}

// TestDuckDBReadsExport exports a cold+hot range as Parquet, plain and with
// JSON values projected, and queries both with DuckDB: counts, the
// cold-tier column types, typed JSON columns, and _raw/_error for the
// records that did not parse (none dropped).
func TestDuckDBReadsExport(t *testing.T) {
	e := startEnv(t)
	coldHot(t, e, "duck", 2, jsonOrBad)
	plain, _ := exportFile(t, e, "duck", -1, -1, query.ExportOptions{Format: query.FormatParquet})
	vs, err := query.ParseValueSchema([]byte(`{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":["string","null"]},"score":{"type":"number"},"ok":{"type":"boolean"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	proj, _ := exportFile(t, e, "duck", -1, -1, query.ExportOptions{Format: query.FormatParquet, ValueJSON: true, ValueSchema: vs})
	inferred, _ := exportFile(t, e, "duck", -1, -1, query.ExportOptions{Format: query.FormatParquet, ValueJSON: true, SampleRows: 300})
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	one := func(q string, args ...any) string {
		t.Helper()
		var s string
		if err := db.QueryRow(q, args...).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	if n := one(fmt.Sprintf("SELECT count(*)::VARCHAR FROM read_parquet('%s')", plain)); n != "1900" {
		t.Fatalf("plain: %s rows", n)
	}
	types := one(fmt.Sprintf(`SELECT string_agg(column_name || ':' || column_type, ',' ORDER BY column_name) FROM (DESCRIBE SELECT * FROM read_parquet('%s'))`, plain))
	for _, want := range []string{"offset:BIGINT", "timestamp:TIMESTAMP", "key:BLOB", "value:BLOB", "partition:INTEGER", "producer_epoch:SMALLINT", "headers:STRUCT(\"key\" VARCHAR, \"value\" BLOB)[]"} {
		if !contains(types, want) {
			t.Fatalf("plain export column types %s lack %s", types, want)
		}
	}
	if s := one(fmt.Sprintf(`SELECT decode(value) FROM read_parquet('%s') WHERE partition = 1 AND "offset" = 10`, plain)); s != string(jsonOrBad(21)) {
		t.Fatalf("value of 1/10: %s", s)
	}
	ptypes := one(fmt.Sprintf(`SELECT string_agg(column_name || ':' || column_type, ',' ORDER BY column_name) FROM (DESCRIBE SELECT * FROM read_parquet('%s'))`, proj))
	for _, want := range []string{"id:BIGINT", "name:VARCHAR", "score:DOUBLE", "ok:BOOLEAN", "_raw:BLOB", "_error:VARCHAR", "offset:BIGINT"} {
		if !contains(ptypes, want) {
			t.Fatalf("projected column types %s lack %s", ptypes, want)
		}
	}
	if n := one(fmt.Sprintf("SELECT count(*)::VARCHAR FROM read_parquet('%s')", proj)); n != "1900" {
		t.Fatalf("projected: %s rows, want 1900 (none dropped)", n)
	}
	bad := 0
	for i := 0; i < 1900; i++ {
		if i%97 == 5 || i%89 == 7 {
			bad++
		}
	}
	if n := one(fmt.Sprintf("SELECT count(*)::VARCHAR FROM read_parquet('%s') WHERE _error IS NOT NULL AND _raw IS NOT NULL", proj)); n != fmt.Sprint(bad) {
		t.Fatalf("%s records with _error, want %d", n, bad)
	}
	// Record 100 (partition 0, offset 50): every field typed.
	if s := one(fmt.Sprintf(`SELECT id::VARCHAR || '|' || name || '|' || score::VARCHAR || '|' || ok::VARCHAR FROM read_parquet('%s') WHERE partition = 0 AND "offset" = 50`, proj)); s != "100|n100|100.5|true" {
		t.Fatalf("record 100: %s", s)
	}
	// Inferred from a sample: id was seen as a number and as a string, so
	// it is kept as JSON text; only the values that are not JSON fail.
	itypes := one(fmt.Sprintf(`SELECT string_agg(column_name || ':' || column_type, ',' ORDER BY column_name) FROM (DESCRIBE SELECT * FROM read_parquet('%s'))`, inferred))
	for _, want := range []string{"id:VARCHAR", "name:VARCHAR", "score:DOUBLE", "ok:BOOLEAN", "_raw:BLOB", "_error:VARCHAR"} {
		if !contains(itypes, want) {
			t.Fatalf("inferred column types %s lack %s", itypes, want)
		}
	}
	notJSON := 0
	for i := 0; i < 1900; i++ {
		if i%97 == 5 {
			notJSON++
		}
	}
	if n := one(fmt.Sprintf("SELECT count(*)::VARCHAR FROM read_parquet('%s') WHERE _error IS NOT NULL", inferred)); n != fmt.Sprint(notJSON) {
		t.Fatalf("inferred: %s records with _error, want %d", n, notJSON)
	}
	if s := one(fmt.Sprintf(`SELECT sum(id)::VARCHAR FROM read_parquet('%s') WHERE _error IS NULL`, proj)); s == "" {
		t.Fatal("no sum")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
