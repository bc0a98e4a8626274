package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Dynamic broker configs (Kafka's IncrementalAlterConfigs on a BROKER
// resource). broker-configs/default holds the cluster-wide defaults
// (resource name ""), broker-configs/<broker id> one broker's own; each is
// a JSON object of config name to value. A broker's effective value is its
// own, else the cluster default, else its static one.

// BrokerConfigsDefault is the scope of the cluster-wide dynamic broker
// configs; a broker's own scope is its id.
const BrokerConfigsDefault int32 = -1

// DynamicBrokerConfigs is every dynamic broker config by scope
// (BrokerConfigsDefault or a broker id).
type DynamicBrokerConfigs map[int32]map[string]string

// UpdateBrokerConfigs applies fn to the dynamic configs of scope in a
// compare-and-swap loop and returns them as written; an empty result
// deletes the key.
func (c *Client) UpdateBrokerConfigs(ctx context.Context, scope int32, fn func(map[string]string) error) (map[string]string, error) {
	if scope < BrokerConfigsDefault {
		return nil, fmt.Errorf("meta: broker configs of %d: %w", scope, ErrInvalid)
	}
	key := c.keys.BrokerConfigs(scope)
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		if attempt > 0 {
			if err := casBackoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		resp, err := c.cli.Get(ctx, key)
		if err != nil {
			return nil, etcdErr("broker configs", err)
		}
		cur := map[string]string{}
		var rev int64
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
			if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
				return nil, fmt.Errorf("meta: decode %s: %w", key, err)
			}
		}
		next := maps.Clone(cur)
		if err := fn(next); err != nil {
			return nil, err
		}
		op := clientv3.OpDelete(key)
		if len(next) > 0 {
			val, err := json.Marshal(next)
			if err != nil {
				return nil, err
			}
			op = clientv3.OpPut(key, string(val))
		}
		tr, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(op).Commit()
		if err != nil {
			return nil, etcdErr("broker configs", err)
		}
		if tr.Succeeded {
			return next, nil
		}
	}
	return nil, fmt.Errorf("meta: broker configs: %w", ErrConflict)
}

// AllBrokerConfigs reads every dynamic broker config.
func (c *Client) AllBrokerConfigs(ctx context.Context) (DynamicBrokerConfigs, error) {
	resp, err := c.cli.Get(ctx, c.keys.AllBrokerConfigs(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("broker configs", err)
	}
	out := DynamicBrokerConfigs{}
	for _, kv := range resp.Kvs {
		scope, m, err := c.decodeBrokerConfigs(kv.Key, kv.Value)
		if err != nil {
			return nil, err
		}
		out[scope] = m
	}
	return out, nil
}

// decodeBrokerConfigs decodes one broker-configs key and value.
func (c *Client) decodeBrokerConfigs(key, value []byte) (int32, map[string]string, error) {
	scope, ok := c.keys.parseBrokerConfigs(string(key))
	if !ok {
		return 0, nil, fmt.Errorf("meta: broker configs key %s: %w", key, ErrInvalid)
	}
	m := map[string]string{}
	if err := json.Unmarshal(value, &m); err != nil {
		return 0, nil, fmt.Errorf("meta: decode %s: %w", key, err)
	}
	return scope, m, nil
}

// WatchBrokerConfigs calls set with every dynamic broker config now and
// again after every change, until ctx ends.
func (c *Client) WatchBrokerConfigs(ctx context.Context, set func(DynamicBrokerConfigs)) {
	known := DynamicBrokerConfigs{}
	put := func(key, value []byte) {
		scope, m, err := c.decodeBrokerConfigs(key, value)
		if err != nil {
			c.log.Warn("meta: skipping broker configs that do not decode", "err", err)
			return
		}
		known[scope] = m
	}
	emit := func() bool {
		out := make(DynamicBrokerConfigs, len(known))
		for k, v := range known {
			out[k] = maps.Clone(v)
		}
		set(out)
		return true
	}
	c.watchLoop(ctx, c.keys.AllBrokerConfigs(), false, func(resp *clientv3.GetResponse) bool {
		clear(known)
		for _, kv := range resp.Kvs {
			put(kv.Key, kv.Value)
		}
		return emit()
	}, func(ev *clientv3.Event) bool {
		if ev.Type == clientv3.EventTypeDelete {
			if scope, ok := c.keys.parseBrokerConfigs(string(ev.Kv.Key)); ok {
				delete(known, scope)
			}
		} else {
			put(ev.Kv.Key, ev.Kv.Value)
		}
		return emit()
	})
}

// parseBrokerConfigs is the scope of a key under AllBrokerConfigs.
func (k Keys) parseBrokerConfigs(key string) (int32, bool) {
	rest, ok := strings.CutPrefix(key, k.AllBrokerConfigs())
	if !ok {
		return 0, false
	}
	if rest == "default" {
		return BrokerConfigsDefault, true
	}
	id, err := strconv.ParseInt(rest, 10, 32)
	return int32(id), err == nil && id >= 0
}
