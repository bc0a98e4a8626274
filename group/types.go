package group

import (
	"context"
	"time"

	"github.com/stratalog/strata/meta"
)

// Store is where groups persist: *meta.Client implements it. Every write
// carries the mod revision of the group's state key as the coordinator last
// saw it and fails with meta.ErrConflict if it changed. Writes of many
// offsets may go through in part (etcd bounds a transaction): they report
// how many of their offsets, from the first, were written.
type Store interface {
	LoadGroup(ctx context.Context, group string) (meta.GroupData, error)
	AllGroups(ctx context.Context) ([]meta.GroupData, error)
	SaveGroupState(ctx context.Context, st meta.GroupState, stateRevision int64) (int64, error)
	CommitGroupOffsets(ctx context.Context, group string, stateRevision int64, offsets []meta.GroupOffset) (revs []int64, err error)
	DeleteGroupOffsets(ctx context.Context, group string, stateRevision int64, parts []meta.TopicPartition) (int, error)
	ExpireGroupOffsets(ctx context.Context, group string, stateRevision int64, offsets []meta.GroupOffset) (int, error)
	DeleteGroup(ctx context.Context, group string, stateRevision int64) error
	SaveGroupTxnOffsets(ctx context.Context, group string, stateRevision int64, t meta.GroupTxnOffsets) (int64, error)
	CompleteGroupTxnOffsets(ctx context.Context, group string, stateRevision int64, pid int64, commit bool, offsets []meta.GroupOffset) (int64, error)
}

// State is a group's state, named as Kafka names it.
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// Protocol is one assignment protocol a member supports (for consumers: an
// assignor name and the member's subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	Group      string
	MemberID   string // "" for a member joining for the first time
	InstanceID string // group.instance.id of a static member, "" for dynamic members
	ClientID   string
	ClientHost string
	// SessionTimeout is how long the member may go without a heartbeat;
	// RebalanceTimeout how long a rebalance waits for it to rejoin.
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string // "consumer" for consumers
	Protocols        []Protocol
	// RequireKnownMemberID (JoinGroup v4+, KIP-394): a dynamic member
	// without a member id gets one with MEMBER_ID_REQUIRED and must join
	// again with it.
	RequireKnownMemberID bool
	// SupportsSkipAssignment (JoinGroup v9+, KIP-814): a static leader that
	// rejoins a stable group is told to skip the assignment.
	SupportsSkipAssignment bool
	Reason                 string
}

// JoinMember is a member as the leader sees it in a JoinGroup response.
type JoinMember struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

// JoinResult answers a JoinGroup. Err is nil or a kerr error.
type JoinResult struct {
	Err            error
	MemberID       string
	Generation     int32
	ProtocolType   string
	Protocol       string
	Leader         string
	SkipAssignment bool
	Members        []JoinMember // only for the leader
}

// SyncRequest is a SyncGroup. ProtocolType and Protocol (v5+) are checked
// against the group when not nil.
type SyncRequest struct {
	Group        string
	Generation   int32
	MemberID     string
	InstanceID   string
	ProtocolType *string
	Protocol     *string
	Assignments  map[string][]byte // only from the leader
}

// SyncResult answers a SyncGroup.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// HeartbeatRequest is a Heartbeat.
type HeartbeatRequest struct {
	Group      string
	Generation int32
	MemberID   string
	InstanceID string
}

// LeaveMember is one member leaving in a LeaveGroup. MemberID "" with an
// InstanceID removes that static member (admin removal).
type LeaveMember struct {
	MemberID   string
	InstanceID string
	Reason     string
}

// CommitRequest is an OffsetCommit. Generation -1 with an empty MemberID
// is a "simple" commit by a consumer that does not use group management; it
// is allowed only while the group has no members.
type CommitRequest struct {
	Group      string
	Generation int32
	MemberID   string
	InstanceID string
	// Retention is the explicit retention of OffsetCommit v2-v4; 0 means
	// the broker default.
	Retention time.Duration
	Offsets   []CommitOffset
}

// CommitOffset is one partition's commit.
type CommitOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	// CommitTime is OffsetCommit v1's explicit commit timestamp; zero means now.
	CommitTime time.Time
}

// FetchedOffset is one partition's committed offset: Offset -1 when none.
type FetchedOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	Err         error
}

// Listing is one group in ListGroups.
type Listing struct {
	Group        string
	ProtocolType string
	State        string
	Type         string // "classic" or "consumer"
}

// MemberDescription is one member in DescribeGroups.
type MemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte // only while Stable
	Assignment []byte // only while Stable
}

// Description answers DescribeGroups for one group. A group that does not
// exist is described as Dead with no members, as Kafka does.
type Description struct {
	Group        string
	State        string
	ProtocolType string
	Protocol     string // only while Stable
	Members      []MemberDescription
}

// GroupType is the type of a group of the JoinGroup/SyncGroup protocol
// (KIP-848 calls it "classic"); ConsumerGroupType that of a group of the
// KIP-848 consumer protocol (ConsumerGroupHeartbeat).
const (
	GroupType         = "classic"
	ConsumerGroupType = "consumer"
)

var _ Store = (*meta.Client)(nil)

// TxnCommitRequest is a TxnOffsetCommit: offsets committed in a
// producer's transaction, pending until its marker (KIP-98). A generation
// and member id, when given (v3+, KIP-447), fence a producer of a member
// that left the group.
type TxnCommitRequest struct {
	Group           string
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	Generation      int32 // -1: not given
	MemberID        string
	InstanceID      string
	Offsets         []CommitOffset
}
