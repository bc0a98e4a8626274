package ingest

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// errNoCoordinator answers the group APIs of a server without a group
// coordinator.
var errNoCoordinator = fmt.Errorf("%w: this broker has no group coordinator", kerr.CoordinatorNotAvailable)

// groupPart returns one group-facing part of the backend, or
// COORDINATOR_NOT_AVAILABLE when this server runs without it.
func groupPart[T any](part T) (T, error) {
	if any(part) == nil {
		return part, errNoCoordinator
	}
	return part, nil
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

// bounded returns ctx bounded by the server's request timeout, or by the
// request's own timeout (ms; <= 0: none) when that is shorter.
func (cc *clientConn) bounded(ctx context.Context, requestMs int32) (context.Context, context.CancelFunc) {
	d := cc.s.cfg.RequestTimeout
	if requestMs > 0 {
		d = min(d, millis(requestMs))
	}
	return context.WithTimeout(ctx, d)
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
	t, ok := cc.s.b.Topics.Topic(topic)
	if !ok {
		return 0
	}
	return int32(len(t.Partitions))
}

func unknownPartition(topic string, partition int32) error {
	return fmt.Errorf("%w: %s/%d", kerr.UnknownTopicOrPartition, topic, partition)
}
