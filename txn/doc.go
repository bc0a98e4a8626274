// Package txn is Strata's transaction coordinator (KIP-98, KIP-447, and
// the broker-side verification of KIP-890 part 1): the state machine of
// each transactional id, as Kafka's TransactionCoordinator and
// TransactionStateManager, with its state in etcd.
//
// What it owns:
//
//   - The state machine: Empty -> Ongoing (AddPartitionsToTxn,
//     AddOffsetsToTxn) -> PrepareCommit or PrepareAbort (EndTxn, a
//     timeout, or an InitProducerId that fences the producer of an open
//     transaction, through the in-memory PrepareEpochFence) ->
//     CompleteCommit or CompleteAbort once every marker is written; Dead
//     while an expired id is removed. The transitions are Kafka's
//     (validPrevious).
//   - Producer ids and epochs of transactional ids: InitProducerId keeps
//     the id's producer id and bumps its epoch, which fences every older
//     producer; an exhausted epoch rotates to a new producer id; KIP-360
//     recovery with the producer given.
//   - Markers: a Prepare state is followed by a commit or abort marker to
//     every partition of the transaction, sent through the Markers
//     interface (the composition root sends WriteTxnMarkers requests to
//     the partition leaders over the inter-broker connection) and retried
//     until every one is written. The markers of a transaction's group
//     offsets go to the group's coordinator as a __consumer_offsets
//     partition, as in Kafka.
//   - Timeouts (transaction.timeout.ms, bounded by MaxTimeout) abort the
//     transaction under a bumped epoch; ids idle longer than IDExpiration
//     are removed.
//   - Placement: an id is coordinated by one live broker, chosen by
//     rendezvous hashing (package placement, the same as the groups'), so
//     a broker joining or leaving moves only its share of ids.
//
// Persistence goes through package meta only (the Store interface): one
// etcd key per id (txns/<id>), each write guarded by the key's mod
// revision. A coordinator loading an id writes it first with the
// coordinator epoch raised, so the previous coordinator's writes fail
// (it unloads the id) and the partitions can refuse its markers. It then
// resumes the markers of a Prepare state; a broker that comes to own ids
// (a failover) loads every unfinished one without waiting for its
// producer, so open transactions time out and decided ones complete.
//
// Errors are franz-go kerr errors wrapped with a message; package ingest
// turns them into Kafka error codes.
package txn
