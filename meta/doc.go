// Package meta owns everything Strata keeps in etcd, and is the only package
// that talks to etcd: the cluster id, broker registrations, the controller
// election, topics and their configs, partition leadership (leader, leader
// epoch, replicas, ISR), producer-id blocks, consumer-group state and
// committed offsets, and the tier manifests. The embedded etcd member that
// backs the single-node default lives apart, in meta/embedetcd.
//
// Layout. Every key is built (and parsed back) in keys.go, under one root per
// cluster, "/strata/<cluster>/"; docs/etcd-keys.md describes the same layout
// with value schemas and must be kept in step with keys.go. Values are JSON.
//
// Fencing. A write that depends on leadership goes through fencedTxn (the
// exported FencedTxn, UpdatePartitionState and the tier manifest writes are
// built on it). The leader epoch of each partition is mirrored into its own
// key, epochs/<topic>/<p>, holding the epoch as a decimal string, so that one
// etcd comparison — Value(epochs/<t>/<p>) == "<epoch>" — decides whether the
// write goes through. A stale leader's write fails with ErrFenced; it never
// lands.
//
// Watching. One list-then-watch loop (watchLoop in watch.go) serves every
// watch (WatchTopics, WatchPartitions, WatchBrokers, WatchTier): it lists at
// a revision, watches from the next one, and re-lists after a compaction or
// a broken watch.
//
// Caching. The package caches nothing it cannot invalidate: every read goes to
// etcd, and callers that need a current view use the watches.
//
// meta imports no other Strata package (meta/internal/zapslog aside).
package meta
