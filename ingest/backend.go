package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/group"
)

// The interfaces below are what the handlers call, each named for one
// concern and holding only the methods some handler uses. ingest owns
// them and the plain types they carry, so nothing of the broker's or the
// metadata store's concrete types crosses into the protocol layer: the
// composition root (package server) adapts the broker to them, and the
// handler tests fake them in process.

// Partition is one partition as the produce, fetch, list-offsets and
// leader-epoch paths use it. Errors carry a kerr code for the client.
type Partition interface {
	// Append validates and appends the batches of one produce partition;
	// acks=all returns once they are durable and replicated.
	Append(ctx context.Context, records []byte, acks int16) (AppendResult, error)
	// Fetch reads committed batches for a consumer from offset, at most
	// maxBytes except that with minOneBatch the first batch always comes
	// back (KIP-74).
	Fetch(offset int64, maxBytes int, minOneBatch bool, clientEpoch int32) (FetchResult, error)
	// FetchAhead starts a consumer fetch (minOneBatch) in the background
	// when the partition serves it slowly (from the cold tier), so that a
	// request naming many such partitions waits about once; it returns
	// nil when the read is cheap and should be made in order with Fetch.
	// The partition decides which reads are slow and bounds how many run
	// at once.
	FetchAhead(offset int64, maxBytes int, clientEpoch int32) PendingFetch
	// ReplicaFetch answers a follower: it records the follower's progress
	// and reads past the high watermark.
	ReplicaFetch(replicaID int32, offset int64, maxBytes int, clientEpoch int32) (FetchResult, error)
	// ListOffset answers ListOffsets: the offset and timestamp for ts (or
	// one of the special timestamps), and the leader epoch.
	ListOffset(ts int64, clientEpoch int32) (offset, timestamp int64, epoch int32, err error)
	// EndOffsetForEpoch answers OffsetForLeaderEpoch.
	EndOffsetForEpoch(epoch, clientEpoch int32) (int32, int64, error)
	// Wait returns a channel closed at the next append (or high-watermark
	// move): a fetch waiting for MinBytes selects on it.
	Wait() <-chan struct{}
	// WriteTxnMarker appends a transaction's commit (or abort) marker for
	// the producer as the leader and returns once it is replicated as
	// acks=all (WriteTxnMarkers). Errors carry NOT_LEADER_OR_FOLLOWER,
	// INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED,
	// NOT_ENOUGH_REPLICAS, KAFKA_STORAGE_ERROR, REQUEST_TIMED_OUT.
	WriteTxnMarker(ctx context.Context, producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool) error
	// DeleteRecords deletes the records below offset (-1: the high
	// watermark) and returns the log start offset after it. Errors carry
	// OFFSET_OUT_OF_RANGE (above the high watermark),
	// NOT_LEADER_OR_FOLLOWER, POLICY_VIOLATION (a compacted topic),
	// KAFKA_STORAGE_ERROR.
	DeleteRecords(ctx context.Context, offset int64) (int64, error)
	// LastStableOffset is the partition's last stable offset (ListOffsets
	// latest for read_committed).
	LastStableOffset() int64
	// AbortedTransactions are the aborted transactions a read_committed
	// fetch of [from, upTo) names (KAFKA_STORAGE_ERROR if the cold tier
	// that served the range cannot say).
	AbortedTransactions(from, upTo int64) ([]AbortedTxn, error)
	// Producers answers DescribeProducers (NOT_LEADER_OR_FOLLOWER on a
	// follower).
	Producers() ([]ProducerState, error)
}

// AbortedTxn is an aborted transaction as a fetch response names it:
// the producer's records from FirstOffset up to its abort marker are to
// be skipped.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
}

// ProducerState is one producer of a partition as DescribeProducers
// shows it.
type ProducerState struct {
	ProducerID            int64
	ProducerEpoch         int32
	LastSequence          int32
	LastTimestamp         int64
	CoordinatorEpoch      int32
	CurrentTxnStartOffset int64
}

// PendingFetch is a fetch running in the background; Result blocks until
// it is done.
type PendingFetch interface {
	Result() (FetchResult, error)
}

// AppendResult is what a produce partition learns about its batches.
type AppendResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
}

// FetchResult is one partition's share of a fetch response.
type FetchResult struct {
	Records          []byte
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
}

// Partitions finds the partitions this broker leads. Errors carry
// UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER_OR_FOLLOWER.
type Partitions interface {
	Partition(topic string, partition int32) (Partition, error)
}

// ClusterInfo is who this broker is and who its peers are (Metadata,
// DescribeCluster, FindCoordinator, DescribeConfigs of the broker).
type ClusterInfo interface {
	ID() int32
	ClusterID() string
	ControllerID() int32
	Brokers() []BrokerInfo
}

// BrokerInfo is a live broker as clients see it.
type BrokerInfo struct {
	ID   int32
	Host string
	Port int32
	Rack string
	// Listeners are the broker's advertised listeners by name; empty: Host
	// and Port for every listener.
	Listeners []Endpoint
}

// TopicLookup reads the topic metadata this broker mirrors.
type TopicLookup interface {
	Topics() []TopicInfo // every topic, sorted by name
	Topic(name string) (TopicInfo, bool)
	TopicByID(id [16]byte) (TopicInfo, bool)
}

// TopicInfo is a topic as Metadata and the admin APIs show it.
type TopicInfo struct {
	Name              string
	ID                [16]byte
	ReplicationFactor int16
	Partitions        []PartitionInfo
}

// PartitionInfo is one partition's placement.
type PartitionInfo struct {
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
}

// TopicAdmin creates and deletes topics and partitions.
type TopicAdmin interface {
	// EnsureTopic returns the topic, creating it when auto-creation is
	// on; UNKNOWN_TOPIC_OR_PARTITION otherwise.
	EnsureTopic(ctx context.Context, name string) (TopicInfo, error)
	CreateTopic(ctx context.Context, req CreateTopicRequest) (TopicInfo, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error
}

// CreateTopicRequest is one topic of CreateTopics: its name, partition
// count and replication factor (-1: the broker default), an optional
// manual replica assignment by partition, and explicit configs.
type CreateTopicRequest struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Assignment        map[int32][]int32
	Configs           map[string]string
	ValidateOnly      bool
}

// ConfigAdmin describes and alters configs.
type ConfigAdmin interface {
	DescribeTopicConfigs(name string) ([]ConfigEntry, error)
	BrokerConfigs() []ConfigEntry
	// BrokerDefaultConfigs are the cluster-wide dynamic broker configs
	// (the BROKER resource named "").
	BrokerDefaultConfigs() []ConfigEntry
	AlterTopicConfigs(ctx context.Context, name string, changes []ConfigChange, replace, validateOnly bool) error
	// AlterBrokerConfigs changes the dynamic configs of broker resource
	// (its id, or "" for every broker's default). Errors carry
	// INVALID_REQUEST (a static config) or INVALID_CONFIG.
	AlterBrokerConfigs(ctx context.Context, resource string, changes []ConfigChange, replace, validateOnly bool) error
	// BrokerLoggers describes this broker's loggers (BROKER_LOGGER).
	BrokerLoggers() []ConfigEntry
	// AlterBrokerLoggers changes logger levels in this process.
	AlterBrokerLoggers(changes []ConfigChange, validateOnly bool) error
}

// ConfigEntry is one row of DescribeConfigs.
type ConfigEntry struct {
	Name      string
	Value     string
	Default   bool // no explicit config overrides it
	ReadOnly  bool
	Type      int8 // the DescribeConfigs config type (kmsg.ConfigType)
	Doc       string
	Sensitive bool
	// Source is the kmsg.ConfigSource; 0: derived from ReadOnly and
	// Default (static, default, or a topic's own).
	Source int8
	// Synonyms are the sources the value may come from, the one in force
	// first (include_synonyms); nil: the entry alone.
	Synonyms []ConfigSynonym
}

// ConfigSynonym is one source of a config's value.
type ConfigSynonym struct {
	Name   string
	Value  string
	Source int8 // kmsg.ConfigSource
}

// ConfigChange is one requested change to a topic's explicit configs;
// legacy AlterConfigs sets (kmsg.IncrementalAlterConfigOpSet).
type ConfigChange struct {
	Name  string
	Value *string
	Op    kmsg.IncrementalAlterConfigOp
}

// ReplicaAdmin moves replicas and leaders.
type ReplicaAdmin interface {
	Reassign(ctx context.Context, topic string, partition int32, replicas []int32) error
	// Reassignments lists partitions being reassigned (every topic when
	// topics is nil).
	Reassignments(ctx context.Context, topics []string) ([]Reassignment, error)
	ElectLeader(ctx context.Context, topic string, partition int32, unclean bool) error
}

// Reassignment is a partition whose replicas are moving.
type Reassignment struct {
	Topic            string
	Partition        int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// ProducerIDs hands out producer ids to idempotent producers.
type ProducerIDs interface {
	NewProducerID(ctx context.Context) (int64, error)
}

// GroupPlacement says which broker coordinates a group (FindCoordinator).
type GroupPlacement interface {
	CoordinatorFor(group string) int32
}

// GroupMembership runs the classic rebalance protocol (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup).
type GroupMembership interface {
	Join(ctx context.Context, req group.JoinRequest) group.JoinResult
	Sync(ctx context.Context, req group.SyncRequest) group.SyncResult
	Heartbeat(ctx context.Context, req group.HeartbeatRequest) error
	Leave(ctx context.Context, groupID string, members []group.LeaveMember) ([]error, error)
}

// GroupOffsets stores committed offsets (OffsetCommit, OffsetFetch,
// OffsetDelete).
type GroupOffsets interface {
	CommitOffsets(ctx context.Context, req group.CommitRequest) []error
	// FetchOffsets answers for parts, or every committed partition when
	// parts is nil.
	FetchOffsets(ctx context.Context, groupID string, parts []TopicPartition, requireStable bool) ([]group.FetchedOffset, error)
	DeleteOffsets(ctx context.Context, groupID string, parts []TopicPartition) ([]error, error)
}

// ConsumerGroups runs the KIP-848 consumer protocol
// (ConsumerGroupHeartbeat, ConsumerGroupDescribe) and checks the members
// of its offset fetches.
type ConsumerGroups interface {
	ConsumerHeartbeat(ctx context.Context, req group.ConsumerHeartbeatRequest) group.ConsumerHeartbeatResult
	DescribeConsumerGroup(ctx context.Context, groupID string) (group.ConsumerDescription, error)
	CheckFetchMember(ctx context.Context, groupID, memberID string, epoch int32) error
}

// GroupAdmin lists, describes and deletes groups.
type GroupAdmin interface {
	ListGroups(ctx context.Context, states, types []string) ([]group.Listing, error)
	DescribeGroup(ctx context.Context, groupID string) (group.Description, error)
	DeleteGroup(ctx context.Context, groupID string) error
}

// Authorizer decides what an authenticated principal may do: a replica
// fetch (Kafka asks for ClusterAction on the cluster; here the principal
// must be the very broker the fetch names, so one broker's credential
// cannot move another's progress), and the other inter-broker requests
// (any broker).
type Authorizer interface {
	AuthorizeReplica(principal string, replicaID int32) bool
	// AuthorizeBroker: the principal is one of the cluster's brokers,
	// which alone may send inter-broker requests (WriteTxnMarkers,
	// AddPartitionsToTxn v4+).
	AuthorizeBroker(principal string) bool
}

// Transactions is the transaction coordinator: FindCoordinator for
// transactional ids, InitProducerId with a transactional id,
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions,
// ListTransactions. Errors carry a kerr code for the client.
type Transactions interface {
	// TxnCoordinatorFor returns the broker that coordinates the id.
	TxnCoordinatorFor(transactionalID string) int32
	// InitTxnProducer answers InitProducerId with a transactional id;
	// producerID and epoch are the client's (KIP-360), -1 when none.
	InitTxnProducer(ctx context.Context, transactionalID string, timeoutMs int32, producerID int64, epoch int16) (int64, int16, error)
	AddPartitionsToTxn(ctx context.Context, p TxnProducer, parts []TopicPartition) error
	// VerifyTxnPartitions (AddPartitionsToTxn VerifyOnly, KIP-890)
	// returns one error per partition (nil: in the open transaction);
	// err is for the whole transactional id.
	VerifyTxnPartitions(ctx context.Context, p TxnProducer, parts []TopicPartition) (errs []error, err error)
	AddOffsetsToTxn(ctx context.Context, p TxnProducer, group string) error
	EndTxn(ctx context.Context, p TxnProducer, commit bool) error
	DescribeTransactions(ctx context.Context, ids []string) []TxnDescription
	// ListTransactions filters by state names and producer ids (empty:
	// all) and, when minDurationMs >= 0, by how long they are open.
	ListTransactions(ctx context.Context, states []string, producerIDs []int64, minDurationMs int64) ([]TxnListing, error)
}

// TxnProducer is the producer of a transaction as its requests name it.
type TxnProducer struct {
	TransactionalID string
	ProducerID      int64
	Epoch           int16
}

// TxnDescription is one row of DescribeTransactions.
type TxnDescription struct {
	TransactionalID string
	Err             error
	State           string
	TimeoutMs       int32
	StartMs         int64
	ProducerID      int64
	ProducerEpoch   int16
	Partitions      []TopicPartition
}

// TxnListing is one row of ListTransactions.
type TxnListing struct {
	TransactionalID string
	ProducerID      int64
	State           string
}

// TxnVerifier is KIP-890 part 1 on a partition leader: before a
// transactional produce is appended, the partition must be in the
// producer's open transaction, which the transaction coordinator says
// (answers are cached per producer, epoch and partition). nil: refused
// with INVALID_TXN_STATE.
type TxnVerifier interface {
	VerifyTxnProduce(ctx context.Context, p TxnProducer, topic string, partition int32) error
	// ForgetTxnProduce drops what was verified for the producer on the
	// partition: a marker ended its transaction there, and the next one
	// must add the partition again.
	ForgetTxnProduce(producerID int64, topic string, partition int32)
}

// TxnOffsets stores the offsets of TxnOffsetCommit: pending in the
// group until the transaction's marker makes them visible (commit) or
// drops them (abort).
type TxnOffsets interface {
	CommitTxnOffsets(ctx context.Context, req group.TxnCommitRequest) []error
	// CompleteTxnOffsets applies a marker written to partition of
	// __consumer_offsets (of partitions): the producer's pending offsets
	// in the groups of that partition become committed, or are dropped.
	CompleteTxnOffsets(ctx context.Context, producerID int64, commit bool, partition, partitions int32) error
}

// ACLs is the ACL authorizer (--authorizer acl): it decides the
// operation each API checks (authz.go: one helper per resource type) and
// keeps the bindings that CreateAcls, DescribeAcls and DeleteAcls manage.
// A nil ACLs authorizes every request, as Kafka without an authorizer.
type ACLs interface {
	// Authorize decides whether principal, connected from host, may do
	// op on the resource (auth.Authorizer's rules: super users, deny
	// over allow, allow.everyone.if.no.acl.found).
	Authorize(principal, host string, op auth.Operation, rt auth.ResourceType, name string) bool
	// DescribeACLs returns the bindings f selects.
	DescribeACLs(f auth.Filter) []auth.Binding
	// CreateACLs stores bindings (already valid); creating one that
	// exists is no error.
	CreateACLs(ctx context.Context, bs []auth.Binding) error
	// DeleteACLs deletes and returns the bindings f selects.
	DeleteACLs(ctx context.Context, f auth.Filter) ([]auth.Binding, error)
}

// ScramUsers keeps the SCRAM credentials (salted, never passwords) that
// the SCRAM mechanisms check and AlterUserScramCredentials and
// DescribeUserScramCredentials manage.
type ScramUsers interface {
	// ScramCredential returns user's credential for mechanism, or an
	// error wrapping ErrUnknownUser.
	ScramCredential(ctx context.Context, user, mechanism string) (auth.ScramCredential, error)
	// ScramUsers lists the credentials of users (every user when nil);
	// a user without any is absent from the map.
	ScramUsers(ctx context.Context, users []string) (map[string][]auth.ScramCredential, error)
	PutScramCredential(ctx context.Context, user string, c auth.ScramCredential) error
	// DeleteScramCredential deletes one; ErrUnknownUser when absent.
	DeleteScramCredential(ctx context.Context, user, mechanism string) error
}

// LogDirs describes the broker's log directories (DescribeLogDirs).
type LogDirs interface {
	LogDirs() []LogDir
}

// LogDir is one log directory: its absolute path, its error (an offline
// dir: KAFKA_STORAGE_ERROR), the size of its volume and what may still be
// used there (-1 when unknown), and every replica it holds.
type LogDir struct {
	Path        string
	Err         error
	TotalBytes  int64
	UsableBytes int64
	Replicas    []ReplicaDir
}

// ReplicaDir is one replica in a log dir: its local bytes (segments on
// this disk; tiered bytes are not counted, as in Kafka's tiered storage)
// and how far its log end is below the high watermark.
type ReplicaDir struct {
	Topic     string
	Partition int32
	Size      int64
	OffsetLag int64
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Backend is everything the handlers call, one field per concern. The
// cluster-side fields are required; a nil group field answers its APIs
// with COORDINATOR_NOT_AVAILABLE (and FindCoordinator, without
// GroupPlacement, names this broker); a nil Authorizer refuses every
// replica fetch.
type Backend struct {
	Cluster     ClusterInfo
	Topics      TopicLookup
	Partitions  Partitions
	TopicAdmin  TopicAdmin
	Configs     ConfigAdmin
	Replicas    ReplicaAdmin
	ProducerIDs ProducerIDs
	Authorizer  Authorizer
	ACLs        ACLs       // nil: every request authorized
	Scram       ScramUsers // nil: no SCRAM users; their admin APIs refuse
	LogDirs     LogDirs    // nil: DescribeLogDirs lists no directory

	GroupPlacement GroupPlacement
	Members        GroupMembership
	Offsets        GroupOffsets
	GroupAdmin     GroupAdmin
	Consumers      ConsumerGroups // the KIP-848 consumer protocol

	// Transactions nil: transactional ids are refused (as before the
	// coordinator existed) with TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
	Transactions Transactions
	TxnVerifier  TxnVerifier
	TxnOffsets   TxnOffsets

	// Quotas nil: no client is throttled. QuotaAdmin nil: the quota
	// APIs answer UNSUPPORTED_VERSION.
	Quotas     QuotaEnforcer
	QuotaAdmin QuotaAdmin
}
