// Package group is Strata's consumer-group coordinator: the classic Kafka
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) as a state
// machine per group, and the committed offsets of every group
// (OffsetCommit, OffsetFetch, OffsetDelete), with the admin views
// (ListGroups, DescribeGroups, DeleteGroups, ConsumerGroupDescribe).
//
// What it owns:
//
//   - The group state machine: Empty -> PreparingRebalance ->
//     CompletingRebalance -> Stable, back to PreparingRebalance on any
//     membership change, and Dead once a group is deleted or moved to
//     another coordinator. Member ids (KIP-394 MEMBER_ID_REQUIRED), static
//     membership (group.instance.id, KIP-345, FENCED_INSTANCE_ID), session
//     and rebalance timeouts, the initial rebalance delay, and the pending
//     sync timeout are implemented as in Kafka's classic coordinator.
//     Assignor metadata and assignments are opaque bytes passed through
//     unchanged, so every client-side assignor (range, roundrobin, sticky,
//     cooperative-sticky) works.
//   - The KIP-848 consumer protocol (consumer*.go): ConsumerGroupHeartbeat
//     with group and member epochs, target assignments computed by the
//     server-side assignors (assignor.go: uniform, range), incremental
//     reconciliation so that no partition has two owners (reconcile.go),
//     session and rebalance timeouts, static members, regex subscriptions
//     resolved here. A group is classic or consumer; an empty one switches
//     on the other protocol's first join.
//   - Group placement: a group is coordinated by one live broker, chosen by
//     rendezvous hashing of the group id over the live broker ids
//     (Coordinator.CoordinatorFor), so a broker joining or leaving moves
//     only its share of groups. Other brokers answer NOT_COORDINATOR and
//     drop groups they no longer own.
//   - Offset retention: offsets of empty groups expire after
//     Config.OffsetsRetention (Kafka's offsets.retention.minutes).
//
// Persistence goes through package meta only (the Store interface, which
// *meta.Client implements): the group state at each generation change and
// every offset commit (one etcd transaction per OffsetCommit request). The
// in-memory group is the truth while this broker coordinates the group;
// heartbeats and offset fetches never wait on etcd (except for the one read
// that loads a group on first use). Every write is guarded by the revision
// of the group's state key, so a coordinator that lost the group to another
// broker cannot overwrite it (docs/groups.md).
//
// Requests and results are plain Go types; package ingest translates the
// Kafka wire messages. Errors are franz-go kerr errors (possibly wrapped
// with a message), so errors.As finds the Kafka error code.
package group
