// Package broker owns the partitions this broker hosts. It opens each
// partition's hotlog, keeps its leader epoch and high watermark, answers
// appends and reads with Kafka semantics (acks, fsync policy, leader-epoch
// checks, offsets by timestamp), and keeps the local view of topics in step
// with the metadata in etcd (through package meta, with watches).
//
// It is the one place where the hot log, the cold tier and the metadata
// meet; it does not speak the wire protocol (package ingest does). Errors
// that a Kafka client must see carry a kerr code (wrapped with context), so
// the protocol layer can answer with the right error code.
//
// Admin state it keeps for the protocol layer: the DeleteRecords log start
// (logstart.go, in etcd), the dynamic broker configs and the log level
// (brokerconfig.go, in etcd and watched).
//
// It decides what happens to partition directories on disk: one whose
// partition.metadata does not match etcd is quarantined, never deleted
// (partitiondir.go); one that cannot be opened stays offline and is
// retried while the others are served (offline.go). Only etcd state
// deletes a partition's files.
package broker
