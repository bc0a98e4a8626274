package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Fencing. epochs/<topic>/<p> holds the partition's leader epoch as a decimal
// string (the same number as PartitionState.LeaderEpoch; the two are always
// written in the same transaction, only by this package). A leadership-
// dependent write is a transaction guarded by
//
//	Value(epochs/<topic>/<p>) == "<epoch the writer believes in>"
//
// so it lands only while that epoch is current. The fencing key is separate
// from the partition state so that ISR changes (same epoch) do not disturb
// fenced writers, and so that one comparison, with no prior read, decides.
// fencedTxn below is the only place that builds that comparison: FencedTxn,
// UpdatePartitionState and the tier manifest writes (tier.go) all go
// through it.

// FencedTxn runs ops in one transaction if partition <topic>-<partition> still
// has leader epoch epoch. Otherwise nothing is written and the error wraps
// ErrFenced (and also ErrTopicNotFound when the partition no longer exists).
// Results of Get ops in ops are discarded.
func (c *Client) FencedTxn(ctx context.Context, topic string, partition int32, epoch int32, ops ...clientv3.Op) error {
	_, err := c.fencedTxn(ctx, "fenced write", topic, partition, epoch, nil, ops)
	return err
}

// fencedTxn runs ops if the partition's epoch is epoch and every extra
// comparison holds, and returns the revision it wrote. When the epoch
// matches but an extra comparison fails, the error is ErrConflict. what
// names the write in errors.
func (c *Client) fencedTxn(ctx context.Context, what, topic string, partition int32, epoch int32, extra []clientv3.Cmp, ops []clientv3.Op) (int64, error) {
	if err := validTopicName(topic); err != nil {
		return 0, err
	}
	if partition < 0 {
		return 0, fmt.Errorf("meta: %s-%d: negative partition: %w", topic, partition, ErrInvalid)
	}
	ek := c.keys.Epoch(topic, partition)
	want := strconv.FormatInt(int64(epoch), 10)
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.Value(ek), "=", want)}, extra...)
	resp, err := c.cli.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(ek)).Commit()
	if err != nil {
		return 0, etcdErr(fmt.Sprintf("%s to %s-%d", what, topic, partition), err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	switch {
	case len(kvs) == 0:
		return 0, fmt.Errorf("meta: %s-%d: partition does not exist: %w (%w)", topic, partition, ErrFenced, ErrTopicNotFound)
	case string(kvs[0].Value) != want:
		return 0, fmt.Errorf("meta: %s-%d: epoch %d, current %s: %w", topic, partition, epoch, kvs[0].Value, ErrFenced)
	default:
		return 0, fmt.Errorf("meta: %s to %s-%d: changed since read (epoch %d still current): %w", what, topic, partition, epoch, ErrConflict)
	}
}

// UpdatePartitionState writes ps (and its epoch to the fencing key) if the
// partition's current leader epoch is expectedEpoch; ErrFenced otherwise.
// ps.LeaderEpoch must be >= expectedEpoch: a new leader gets a higher epoch,
// an ISR change keeps it.
//
// If ps.Revision is non-zero (ps came from PartitionStates), the write is also
// a compare-and-swap on that read: when the state changed in between without
// an epoch change (say another ISR update), nothing is written and the error
// is ErrConflict; re-read and retry. With Revision zero, the last writer at the
// current epoch wins.
func (c *Client) UpdatePartitionState(ctx context.Context, ps PartitionState, expectedEpoch int32) error {
	if ps.LeaderEpoch < expectedEpoch {
		return fmt.Errorf("meta: %s-%d: new leader epoch %d below current %d: %w", ps.Topic, ps.Partition, ps.LeaderEpoch, expectedEpoch, ErrInvalid)
	}
	pk := c.keys.Partition(ps.Topic, ps.Partition)
	var extra []clientv3.Cmp
	if ps.Revision != 0 {
		extra = append(extra, clientv3.Compare(clientv3.ModRevision(pk), "=", ps.Revision))
	}
	val, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	_, err = c.fencedTxn(ctx, "partition state write", ps.Topic, ps.Partition, expectedEpoch, extra, []clientv3.Op{
		clientv3.OpPut(pk, string(val)),
		clientv3.OpPut(c.keys.Epoch(ps.Topic, ps.Partition), strconv.FormatInt(int64(ps.LeaderEpoch), 10)),
	})
	return err
}
