package meta

import (
	"context"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ClaimProducerIDs reserves n consecutive producer ids for the caller and
// returns the first. Every broker claims its own blocks, so ids are unique
// in the cluster without a coordinator; ids of a block a broker never hands
// out (it restarts) are simply skipped.
func (c *Client) ClaimProducerIDs(ctx context.Context, n int64) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("%w: claim %d producer ids", ErrInvalid, n)
	}
	key := c.keys.ProducerIDs()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := casBackoff(ctx, attempt); err != nil {
				return 0, err
			}
		}
		resp, err := c.cli.Get(ctx, key)
		if err != nil {
			return 0, etcdErr("read producer id counter", err)
		}
		var next int64
		cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if len(resp.Kvs) == 1 {
			next, err = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
			if err != nil || next < 0 {
				return 0, fmt.Errorf("meta: producer id counter %q is corrupt", resp.Kvs[0].Value)
			}
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)
		}
		txn, err := c.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, strconv.FormatInt(next+n, 10))).Commit()
		if err != nil {
			return 0, etcdErr("claim producer ids", err)
		}
		if txn.Succeeded {
			return next, nil
		}
		if attempt >= 20 {
			return 0, fmt.Errorf("meta: claim producer ids: %w", ErrConflict)
		}
	}
}
