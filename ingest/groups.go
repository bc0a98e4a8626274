package ingest

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/group"
	"github.com/stratalog/strata/meta"
)

// Groups is what the group APIs (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete, ListGroups,
// DescribeGroups, DeleteGroups, and FindCoordinator for groups) need:
// *group.Coordinator implements it.
type Groups interface {
	CoordinatorFor(group string) int32
	Join(ctx context.Context, req group.JoinRequest) group.JoinResult
	Sync(ctx context.Context, req group.SyncRequest) group.SyncResult
	Heartbeat(ctx context.Context, req group.HeartbeatRequest) error
	Leave(ctx context.Context, groupID string, members []group.LeaveMember) ([]error, error)
	CommitOffsets(ctx context.Context, req group.CommitRequest) []error
	FetchOffsets(ctx context.Context, groupID string, parts []meta.TopicPartition, requireStable bool) ([]group.FetchedOffset, error)
	DeleteOffsets(ctx context.Context, groupID string, parts []meta.TopicPartition) ([]error, error)
	ListGroups(ctx context.Context, states, types []string) ([]group.Listing, error)
	DescribeGroup(ctx context.Context, groupID string) (group.Description, error)
	DeleteGroup(ctx context.Context, groupID string) error
}

var _ Groups = (*group.Coordinator)(nil)

// groups returns the group coordinator, or COORDINATOR_NOT_AVAILABLE when
// this server runs without one.
func (cc *clientConn) groups() (Groups, error) {
	if g := cc.s.cfg.Groups; g != nil {
		return g, nil
	}
	return nil, fmt.Errorf("%w: this broker has no group coordinator", kerr.CoordinatorNotAvailable)
}

// clientHost is the client's address as Kafka shows it in group
// descriptions: "/<ip>".
func (cc *clientConn) clientHost() string {
	addr := cc.conn.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return "/" + addr
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nullable is nil for "", for the nullable strings of flexible responses.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// partitionCount returns how many partitions topic has, 0 if it does not
// exist: offsets are committed (and deleted) only for real partitions.
func (cc *clientConn) partitionCount(topic string) int32 {
	t, ok := cc.s.cluster.Topic(topic)
	if !ok {
		return 0
	}
	return int32(len(t.Partitions))
}

func unknownPartition(topic string, partition int32) error {
	return fmt.Errorf("%w: %s/%d", kerr.UnknownTopicOrPartition, topic, partition)
}
