// Package coldfile owns the cold tier's file format: the Parquet file that
// holds a range of one partition's records (docs/format/parquet.md is its
// documentation; keep both in step). It has the row type and its schema
// (column names and Iceberg-ready field ids), the key-value metadata of the
// footer, the object keys (topic=<t>/partition=<p>/<base>-<last>.parquet),
// the one writer (tier uploads, merges and `strata export`) and the one
// ranged reader (cold fetches and the query engine), with an optional
// row-group cache. A file may also hold typed value columns (typed.go):
// values decoded by a ValueDecoder (package typed) and shredded into a
// group beside the raw columns, which the reader never reads.
//
// It also turns RecordBatch v2 bytes into Rows (DecodeBatches, on top of
// package recordbatch): what the tierer writes and what the query engine
// reads from the hot tier are the same rows. It knows nothing of etcd or the
// upload protocol: tiering rebuilds batches from Rows and keeps the
// manifest.
package coldfile
