package txn

import (
	"context"
	"errors"

	"github.com/stratalog/strata/meta"
)

// Store is what the coordinator keeps in etcd; *meta.Client implements it.
type Store interface {
	LoadTxn(ctx context.Context, id string) (meta.TxnState, bool, error)
	AllTxns(ctx context.Context) ([]meta.TxnState, error)
	SaveTxn(ctx context.Context, st meta.TxnState, revision int64) (int64, error)
	DeleteTxn(ctx context.Context, id string, revision int64) error
}

// ProducerIDs hands out cluster-unique producer ids.
type ProducerIDs interface {
	NewProducerID(ctx context.Context) (int64, error)
}

// Markers writes transaction markers: one WriteTxnMarkers request (Kafka's
// wire protocol) to each broker named by the targets. It returns one error
// per target of m (nil: written); the coordinator retries the others. A
// partition that no longer exists answers an error wrapping
// ErrPartitionGone (the marker is dropped, as Kafka drops markers of
// deleted topics); a partition that knows a newer coordinator or producer
// epoch answers one wrapping ErrFenced (this coordinator stops).
type Markers interface {
	WriteMarkers(ctx context.Context, m Marker) []error
}

// Marker is one commit or abort marker of a producer's transaction.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool
	Targets          []Target
}

// Target is one partition a marker goes to. Broker is where the request is
// sent: -1 for a data partition (its leader), the group's coordinator for
// a partition of __consumer_offsets (the group offsets of the
// transaction: Strata keeps them in etcd, and that broker's group
// coordinator makes them visible or drops them).
type Target struct {
	Topic     string
	Partition int32
	Broker    int32
}

var (
	// ErrPartitionGone: the marker's partition was deleted.
	ErrPartitionGone = errors.New("partition no longer exists")
	// ErrFenced: the partition knows a newer coordinator epoch or
	// producer epoch than the marker's.
	ErrFenced = errors.New("transaction coordinator fenced")
)

// OffsetsTopic is the internal topic whose partitions stand for the
// consumer groups of a transaction (AddOffsetsToTxn), as in Kafka.
const OffsetsTopic = "__consumer_offsets"

// OffsetsPartitions is Kafka's default offsets.topic.num.partitions, the
// partition count clients see for OffsetsTopic.
const OffsetsPartitions = 50

// InitRequest is an InitProducerId with a transactional id.
type InitRequest struct {
	TransactionalID string
	TimeoutMs       int32
	// ProducerID and ProducerEpoch are the producer the client had
	// (KIP-360, InitProducerId v3+); -1 and -1: none.
	ProducerID    int64
	ProducerEpoch int16
}

// Producer is a producer id and epoch.
type Producer struct {
	ID    int64
	Epoch int16
}

// Description is one transactional id as DescribeTransactions shows it.
type Description struct {
	TransactionalID string
	Err             error
	State           State
	TimeoutMs       int32
	StartMs         int64 // -1 when no transaction is open
	ProducerID      int64
	ProducerEpoch   int16
	Partitions      []meta.TopicPartition
}

// Listing is one transactional id as ListTransactions shows it.
type Listing struct {
	TransactionalID string
	ProducerID      int64
	State           State
}
