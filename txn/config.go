package txn

import (
	"log/slog"
	"time"
)

// Config configures a Coordinator. Zero values take Kafka's defaults.
type Config struct {
	// BrokerID is this broker.
	BrokerID int32
	// Brokers returns the ids of the live brokers; each transactional id
	// is coordinated by one of them (rendezvous hashing, package
	// placement). nil: this broker coordinates every id.
	Brokers func() []int32

	// MaxTimeout bounds the transaction.timeout.ms a producer may ask for
	// (transaction.max.timeout.ms, default 15 minutes); longer ones get
	// INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// IDExpiration removes a transactional id whose producer has sent
	// nothing for this long and that has no transaction open
	// (transactional.id.expiration.ms, default 7 days).
	IDExpiration time.Duration
	// AbortCheckInterval is how often transactions past their timeout are
	// aborted (transaction.abort.timed.out.transaction.cleanup.interval.ms,
	// default 10 s).
	AbortCheckInterval time.Duration
	// ExpirationCheckInterval is how often expired ids are removed
	// (transaction.remove.expired.transaction.cleanup.interval.ms, default
	// 1 hour).
	ExpirationCheckInterval time.Duration
	// OwnershipCheckInterval is how often the coordinator drops ids it no
	// longer owns and takes over the unfinished transactions of ids it
	// now owns (default 1 s).
	OwnershipCheckInterval time.Duration
	// StoreTimeout bounds each etcd call (default 10 s).
	StoreTimeout time.Duration
	// MarkerRetryBackoff is the first wait between rounds of marker
	// writes to partitions that failed; it doubles up to 1 s (default
	// 50 ms).
	MarkerRetryBackoff time.Duration

	Logger *slog.Logger
}

// Kafka's defaults.
const (
	DefaultMaxTimeout   = 15 * time.Minute
	DefaultIDExpiration = 7 * 24 * time.Hour
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MaxTimeout, DefaultMaxTimeout)
	def(&c.IDExpiration, DefaultIDExpiration)
	def(&c.AbortCheckInterval, 10*time.Second)
	def(&c.ExpirationCheckInterval, time.Hour)
	def(&c.OwnershipCheckInterval, time.Second)
	def(&c.StoreTimeout, 10*time.Second)
	def(&c.MarkerRetryBackoff, 50*time.Millisecond)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
