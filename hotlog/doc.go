// Package hotlog is a partition's local log: the recent part of one Kafka
// partition kept on local disk as RecordBatch v2 bytes, exactly as produced.
//
// hotlog owns
//   - segments: <dir>/<base offset, 20 digits>.log files of concatenated batches,
//     each with a sparse offset index (.index) and time index (.timeindex);
//   - append (assigning offsets and the leader epoch, the only bytes the broker
//     changes, both outside the batch CRC), read (whole stored batches, zero
//     re-encoding), timestamp and leader-epoch lookups;
//   - durability: appends are written without fsync, FlushUpTo group-commits one
//     fsync for every caller waiting on it;
//   - recovery on Open: a torn or corrupt tail of the active segment is cut off,
//     broken indexes are rebuilt from the segment they describe;
//   - idempotent producers: per producer id its epoch and last 5 batches,
//     checked by Append (duplicates, sequence gaps, fenced epochs, Kafka's
//     rules), snapshotted to <offset>.snapshot files at rolls and Close and
//     rebuilt on Open from the newest snapshot and the batch headers after it;
//   - transactions (txnstate.go): per producer its open transaction's first
//     offset and last marker's coordinator epoch (in the snapshots too), the
//     last stable offset, and per segment the aborted transactions
//     (<base>.txnindex, txnindex.go) that read_committed fetches name;
//   - local retention by age and size, with a veto for the caller (tiering only
//     lets go of segments that are safe in the object store);
//   - file descriptors: segment files are opened on use through a FileCache
//     shared by every log of a broker, which keeps at most its cap open (idle
//     ones closed least recently used first), however many partitions and
//     segments there are.
//
// hotlog knows nothing about Kafka requests, object stores or etcd: callers
// validate requests, track high watermarks and decide what is committed.
// The RecordBatch format itself (headers, CRC, records, decompression) is
// package recordbatch's; hotlog reads batches only through it.
//
// The on-disk formats are written down in docs/format/segment.md,
// docs/format/index.md, docs/format/recovery.md,
// docs/format/producer-state.md and docs/format/txnindex.md; keep them in
// step with the code.
//
// Concurrency: every method of Log is safe for concurrent use. Appends are
// serialised by one mutex; reads and flushes run beside appends. Operations
// that close or shorten files (retention, TruncateTo, Close) wait for reads
// and flushes in flight, so a reader never sees a file vanish or change under
// it.
package hotlog
