// Package tiering is Strata's cold tier: it turns sealed hot-log segments
// into Parquet files in an object store, keeps the partition's manifest of
// those files in etcd, and serves reads below the local log start from them.
//
// Upload protocol (crash-safe; docs/format/parquet.md):
//  1. a sealed segment whose records are all below the high watermark, the
//     fsynced offset and the last stable offset (every transaction decided;
//     records of aborted ones get aborted = true) is converted to one
//     Parquet file (a temporary file on local disk);
//  2. the file is PUT to the object store under
//     topic=<t>/partition=<p>/<base>-<last>.parquet (multipart only when
//     large) and its size (and ETag) verified with a HEAD;
//  3. the manifest entry tier/<t>/<p>/<base> is written to etcd in one
//     transaction fenced by the leader epoch (meta.ReplaceTierSegments),
//     which refuses an entry that does not start where the manifest ends;
//  4. only now may local retention (local.retention.ms/bytes) delete the
//     local segment: the broker asks ColdRange before deleting.
//
// A crash between 2 and 3 leaves an object no manifest entry names: the next
// attempt overwrites it, or the orphan sweep deletes it after a grace
// period. The manifest never names a missing object: objects are deleted
// only after their entries (remote retention, merges).
//
// DeleteRecords: the partition's log start as DeleteRecords set it
// (Partition.DeletedBefore) drops, at the next job and before any upload,
// the manifest entries wholly below it (through remote retention, so the
// table sync and the object deletes follow), and nothing below it is
// uploaded; a file straddling it stays whole (the broker clamps reads to
// the log start).
//
// Work runs in the background, one job per partition at a time and at most
// Config.UploadConcurrency jobs at once, never on the produce path. Failures
// are retried with exponential backoff; meanwhile sealed segments stay on
// local disk (strata_tier_untiered_sealed_bytes and an error log line say
// so).
//
// Cold reads (ColdRead) find the file in the manifest (cached, invalidated
// by an etcd watch), open it with ranged GETs (footer and page index from
// the tail), load whole row groups (parallel ranged GETs) into an LRU cache
// of compressed row-group bytes, prune row groups by their offset
// statistics, and rebuild uncompressed RecordBatches with the stored
// offsets, timestamps, keys, values, headers, producer fields and leader
// epochs, and a fresh CRC. After each read the next row groups are loaded
// in the background (read-ahead).
//
// The Parquet file itself (row, schema, keys, writer, ranged reader,
// row-group cache, and the decoding of record batches into its rows) is
// package tiering/coldfile; this package rebuilds batches from rows
// (rebuild.go) and runs the protocol.
package tiering
