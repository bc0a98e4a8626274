// Package iceberg makes every tiered topic an Apache Iceberg v2 table
// whose data files are the cold tier's Parquet objects themselves (no
// second copy). The table is derived from the partitions' tier manifests
// (the source of truth for Fetch), never the other way round:
//
//   - Tables.Sync makes one partition's files in the table exactly what its
//     manifest lists, in one snapshot: append (uploads, backfill), replace
//     (merges: the same records in other files), delete (remote retention),
//     overwrite (anything else, e.g. a repair that saw several changes).
//     The tierer calls it after each manifest change and before deleting
//     the objects the change dropped, so the current snapshot never names a
//     deleted object; a crash between the manifest commit and the table
//     commit is repaired by the next pass (the table catches up with the
//     manifest and drops what the manifest no longer names).
//   - Layout (docs/format/iceberg.md): one manifest per partition, rewritten
//     by each commit of that partition and carried over by the others;
//     one manifest list per snapshot; metadata files
//     topic=<t>/metadata/<n>-<uuid>.metadata.json beside the Parquet files;
//     after each commit a copy metadata/v<n>.metadata.json and
//     metadata/version-hint.text for path-based readers.
//   - The current metadata file is named by the etcd key iceberg/<topic>
//     (meta.IcebergTable). A commit swaps it with a compare-and-swap fenced
//     by the committing partition's leader epoch; commits of different
//     partitions of one topic race on it and the loser rebuilds.
//   - Snapshots older than strata.iceberg.snapshot.retention.ms expire at
//     the next commit; their manifest lists, the manifests only they named
//     and metadata files that fell out of the metadata log are deleted.
//
// The schema keeps the Parquet field ids of tiering/coldfile (Schema);
// the partition spec is identity on `partition`, the sort order `offset`.
// Package iceberg/rest serves the tables over the Iceberg REST catalog API.
package iceberg
