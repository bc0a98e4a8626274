// Package query reads topic ranges that span the hot log and the cold tier
// as Apache Arrow record batches, and exports them (Parquet, Arrow IPC,
// JSON lines, CSV) or serves them over Arrow Flight.
//
// A Scanner reads, for each partition of a range, in offset order:
//   - the cold part directly from the object store: the Parquet files under
//     topic=<t>/partition=<p>/ (named by the etcd manifest when there is one,
//     else found by listing the Hive-style prefix), with row groups pruned by
//     their offset statistics and only the row groups it needs loaded;
//   - the rest from the brokers over the Kafka protocol (raw Fetch requests
//     through franz-go, decoded with coldfile.DecodeBatches, so hot rows carry
//     exactly the fields cold rows do), up to the high watermark read when
//     the scan started.
//
// Each partition's rows come out once, in offset order, with no gap and no
// overlap: the cold part ends where its last file ends and the hot part
// starts at the next offset. Memory is bounded by one row group (cold) or
// one fetch response (hot) plus one output batch.
//
// The Arrow schema is the cold tier's Parquet schema (coldfile.Row); see
// Schema. Control records (transaction markers) are rows with
// is_control=true, as in the cold tier.
package query
