// Package meta owns everything Strata keeps in etcd: the cluster id, broker
// registrations, the controller election, topics and their configs, partition
// leadership (leader, leader epoch, replicas, ISR), and later consumer-group
// offsets and tier manifests. It also runs the embedded etcd member that backs
// the single-node default (`strata serve` with no etcd flags).
//
// Layout. Every key is built in keys.go, under one root per cluster,
// "/strata/<cluster>/"; docs/etcd-keys.md describes the same layout with value
// schemas and must be kept in step with keys.go. Values are JSON.
//
// Fencing. A write that depends on leadership goes through FencedTxn (or a
// method built on it, such as UpdatePartitionState). The leader epoch of each
// partition is mirrored into its own key, epochs/<topic>/<p>, holding the epoch
// as a decimal string, so that one etcd comparison — Value(epochs/<t>/<p>) ==
// "<epoch>" — decides whether the write goes through. A stale leader's write
// fails with ErrFenced; it never lands.
//
// Caching. The package caches nothing it cannot invalidate: every read goes to
// etcd, and callers that need a current view use the watches (WatchTopics),
// which list at a revision and watch from the next one, and re-list after a
// compaction or a broken watch.
//
// meta imports no other Strata package.
package meta
