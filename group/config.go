package group

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Coordinator. Zero values take Kafka's defaults.
type Config struct {
	// BrokerID is this broker.
	BrokerID int32
	// Brokers returns the ids of the live brokers; each group is coordinated
	// by one of them, chosen by hashing the group id. nil: this broker
	// coordinates every group.
	Brokers func() []int32

	// InitialRebalanceDelay is how long the first rebalance of an empty
	// group waits for more members (group.initial.rebalance.delay.ms,
	// default 3s). Negative: no delay.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the session timeouts
	// members may ask for (group.min/max.session.timeout.ms, default 6s and
	// 30m); others get INVALID_SESSION_TIMEOUT.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// NewMemberJoinTimeout bounds how long a new member's JoinGroup may wait
	// for the rebalance before the member is dropped (default 5m, as Kafka).
	NewMemberJoinTimeout time.Duration
	// MaxGroupSize caps the members of a group (group.max.size); 0: no cap.
	MaxGroupSize int

	// OffsetsRetention is how long the offsets of an empty group are kept
	// (offsets.retention.minutes, default 7 days).
	OffsetsRetention time.Duration
	// RetentionCheckInterval is how often expired offsets and empty groups
	// are removed (offsets.retention.check.interval.ms, default 10m).
	RetentionCheckInterval time.Duration
	// MaxMetadataBytes bounds the metadata string of a commit
	// (offset.metadata.max.bytes, default 4096).
	MaxMetadataBytes int

	// ConsumerSessionTimeout is how long a member of a KIP-848 consumer
	// group may go without a heartbeat (group.consumer.session.timeout.ms,
	// default 45s); ConsumerHeartbeatInterval the interval members are
	// told to heartbeat at (group.consumer.heartbeat.interval.ms, default
	// 5s).
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration

	// StoreTimeout bounds each etcd call (default 10s).
	StoreTimeout time.Duration
	// OwnershipCheckInterval is how often groups this broker no longer
	// coordinates are dropped (default 1s).
	OwnershipCheckInterval time.Duration

	Logger *slog.Logger
	// Registerer, when set, gets the coordinator's metrics.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.InitialRebalanceDelay, 3*time.Second)
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	def(&c.MinSessionTimeout, 6*time.Second)
	def(&c.MaxSessionTimeout, 30*time.Minute)
	def(&c.NewMemberJoinTimeout, 5*time.Minute)
	def(&c.OffsetsRetention, 7*24*time.Hour)
	def(&c.RetentionCheckInterval, 10*time.Minute)
	def(&c.StoreTimeout, 10*time.Second)
	def(&c.ConsumerSessionTimeout, 45*time.Second)
	def(&c.ConsumerHeartbeatInterval, 5*time.Second)
	def(&c.OwnershipCheckInterval, time.Second)
	if c.MaxMetadataBytes == 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
