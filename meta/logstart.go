package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Log start offsets. log-start/<topic>/<p> holds, as a decimal, the first
// offset of the partition that DeleteRecords left: records below it are
// deleted for every reader, whichever broker leads and whichever tier
// (hot log, cold tier) holds them. A partition without the key has never
// had records deleted by DeleteRecords (retention alone moved its start).
// The value only grows; every write is fenced by the leader epoch (only
// the leader deletes records).

// LogStart reads the partition's log start offset; 0 when DeleteRecords
// never advanced it.
func (c *Client) LogStart(ctx context.Context, topic string, partition int32) (int64, error) {
	if err := validTopicName(topic); err != nil {
		return 0, err
	}
	resp, err := c.cli.Get(ctx, c.keys.LogStart(topic, partition))
	if err != nil {
		return 0, etcdErr(fmt.Sprintf("log start of %s-%d", topic, partition), err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	off, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("meta: log start of %s-%d: bad value %q: %w", topic, partition, resp.Kvs[0].Value, ErrInvalid)
	}
	return off, nil
}

// AdvanceLogStart raises the partition's log start offset to offset if the
// partition still has leader epoch epoch (ErrFenced otherwise) and returns
// the log start now stored: offset, or the stored one when that is
// already higher (nothing is written then).
func (c *Client) AdvanceLogStart(ctx context.Context, topic string, partition, epoch int32, offset int64) (int64, error) {
	if offset < 0 {
		return 0, fmt.Errorf("meta: log start of %s-%d: negative offset %d: %w", topic, partition, offset, ErrInvalid)
	}
	key := c.keys.LogStart(topic, partition)
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		resp, err := c.cli.Get(ctx, key)
		if err != nil {
			return 0, etcdErr(fmt.Sprintf("log start of %s-%d", topic, partition), err)
		}
		var rev int64
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
			cur, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
			if err == nil && cur >= offset {
				return cur, nil
			}
		}
		cmp := clientv3.Compare(clientv3.ModRevision(key), "=", rev)
		_, err = c.fencedTxn(ctx, "log start write", topic, partition, epoch, []clientv3.Cmp{cmp},
			[]clientv3.Op{clientv3.OpPut(key, strconv.FormatInt(offset, 10))})
		if err == nil {
			return offset, nil
		}
		if !errors.Is(err, ErrConflict) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("meta: log start of %s-%d: %w", topic, partition, ErrConflict)
}
