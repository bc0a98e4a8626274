package meta

import (
	"context"
	"encoding/json"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// PartitionEvent is one change seen by WatchPartitions. A deletion carries
// the last known state (at least Topic and Partition when decodable).
type PartitionEvent struct {
	State   PartitionState
	Deleted bool
}

// WatchPartitions delivers every partition state of every topic, then every
// change, with the same list-then-watch guarantees as WatchTopics. Brokers
// use it to learn when they become leader or follower of a partition.
func (c *Client) WatchPartitions(ctx context.Context) <-chan PartitionEvent {
	return watchEvents(ctx, c, c.keys.AllPartitions(), 64, func(key string, kv *mvccpb.KeyValue, deleted bool) (PartitionEvent, bool) {
		ev := PartitionEvent{Deleted: deleted}
		if kv == nil {
			return ev, true
		}
		if err := json.Unmarshal(kv.Value, &ev.State); err != nil {
			c.log.Error("meta: skipping undecodable partition state", "key", key, "err", err)
			return ev, false
		}
		ev.State.Revision = kv.ModRevision
		return ev, true
	})
}

// BrokerEvent is one change of the set of live brokers.
type BrokerEvent struct {
	Broker BrokerInfo
	Gone   bool // the registration was deleted or its lease expired
}

// WatchBrokers delivers every registered broker, then every registration
// and every expiry.
func (c *Client) WatchBrokers(ctx context.Context) <-chan BrokerEvent {
	return watchEvents(ctx, c, c.keys.Brokers(), 16, func(key string, kv *mvccpb.KeyValue, deleted bool) (BrokerEvent, bool) {
		ev := BrokerEvent{Gone: deleted}
		if kv != nil {
			if err := json.Unmarshal(kv.Value, &ev.Broker); err != nil {
				c.log.Error("meta: skipping undecodable broker", "key", key, "err", err)
				return ev, false
			}
		}
		return ev, true
	})
}
