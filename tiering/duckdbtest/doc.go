// Package duckdbtest checks, with DuckDB (through cgo, in tests only — the
// broker binary stays static), that the cold tier is what DESIGN.md
// promises data warehouses: Parquet files under Hive-style
// topic=<t>/partition=<p>/ paths that read_parquet(...,
// hive_partitioning=true) queries directly. The queries are the ones
// docs/query-with-duckdb.md shows.
package duckdbtest
