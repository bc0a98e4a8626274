package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stratalog/strata/quota"
)

// Client quotas: one key per entity (quotas/<entity key>) holding its
// values as a JSON object. Brokers cache them through WatchClientQuotas.

// ClientQuotas lists every entity's quota by entity key.
func (c *Client) ClientQuotas(ctx context.Context) (map[string]quota.Values, error) {
	resp, err := c.cli.Get(ctx, c.keys.ClientQuotas(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("list client quotas", err)
	}
	out := map[string]quota.Values{}
	for _, kv := range resp.Kvs {
		if e, v, err := c.decodeQuota(kv.Key, kv.Value); err == nil {
			out[e] = v
		} else {
			c.log.Warn("meta: skipping a client quota that does not decode", "err", err)
		}
	}
	return out, nil
}

func (c *Client) decodeQuota(key, val []byte) (string, quota.Values, error) {
	ek := strings.TrimPrefix(string(key), c.keys.ClientQuotas())
	e, err := quota.ParseKey(ek)
	if err != nil {
		return "", nil, fmt.Errorf("client quota %s: %w", key, err)
	}
	var v quota.Values
	if err := json.Unmarshal(val, &v); err != nil {
		return "", nil, fmt.Errorf("client quota %s: %w", key, err)
	}
	return e.Key(), v, nil
}

// AlterClientQuota applies ops to entity's quota in one compare-and-swap
// (an entity left without values is deleted) and returns its values
// after. With validateOnly nothing is written.
func (c *Client) AlterClientQuota(ctx context.Context, e quota.Entity, ops []quota.Op, validateOnly bool) (quota.Values, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("meta: alter client quota: %w: %w", ErrInvalid, err)
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Key] {
			return nil, fmt.Errorf("meta: alter client quota %s: %w: %w: key %s twice", e, ErrInvalid, quota.ErrInvalid, op.Key)
		}
		seen[op.Key] = true
		if op.Remove {
			if err := quota.ValidateValue(op.Key, 1); err != nil {
				return nil, fmt.Errorf("meta: alter client quota %s: %w: %w", e, ErrInvalid, err)
			}
		} else if err := quota.ValidateValue(op.Key, op.Value); err != nil {
			return nil, fmt.Errorf("meta: alter client quota %s: %w: %w", e, ErrInvalid, err)
		}
	}
	key := c.keys.ClientQuota(e.Key())
	for {
		resp, err := c.cli.Get(ctx, key)
		if err != nil {
			return nil, etcdErr("read client quota", err)
		}
		vals := quota.Values{}
		var rev int64
		if len(resp.Kvs) == 1 {
			rev = resp.Kvs[0].ModRevision
			if err := json.Unmarshal(resp.Kvs[0].Value, &vals); err != nil {
				return nil, fmt.Errorf("meta: client quota %s: %w", key, err)
			}
		}
		for _, op := range ops {
			if op.Remove {
				delete(vals, op.Key)
			} else {
				vals[op.Key] = op.Value
			}
		}
		if validateOnly {
			return vals, nil
		}
		write := clientv3.OpDelete(key)
		if len(vals) > 0 {
			raw, err := json.Marshal(vals)
			if err != nil {
				return nil, err
			}
			write = clientv3.OpPut(key, string(raw))
		}
		tr, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(write).Commit()
		if err != nil {
			return nil, etcdErr("alter client quota", err)
		}
		if tr.Succeeded {
			return vals, nil
		}
		// Another alteration of the same entity won: apply ours to it.
	}
}

// WatchClientQuotas calls set with every quota now and again after every
// change, until ctx ends (each broker's quota.Manager).
func (c *Client) WatchClientQuotas(ctx context.Context, set func(map[string]quota.Values)) {
	known := map[string]quota.Values{}
	byKey := map[string]string{} // etcd key -> entity key
	emit := func() bool {
		out := make(map[string]quota.Values, len(known))
		for k, v := range known {
			out[k] = v
		}
		set(out)
		return true
	}
	c.watchLoop(ctx, c.keys.ClientQuotas(), false, func(resp *clientv3.GetResponse) bool {
		clear(known)
		clear(byKey)
		for _, kv := range resp.Kvs {
			if e, v, err := c.decodeQuota(kv.Key, kv.Value); err == nil {
				known[e], byKey[string(kv.Key)] = v, e
			} else {
				c.log.Warn("meta: skipping a client quota that does not decode", "err", err)
			}
		}
		return emit()
	}, func(ev *clientv3.Event) bool {
		if ev.Type == clientv3.EventTypeDelete {
			delete(known, byKey[string(ev.Kv.Key)])
			delete(byKey, string(ev.Kv.Key))
		} else if e, v, err := c.decodeQuota(ev.Kv.Key, ev.Kv.Value); err == nil {
			known[e], byKey[string(ev.Kv.Key)] = v, e
		}
		return emit()
	})
}
