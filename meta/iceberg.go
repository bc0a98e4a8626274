package meta

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Iceberg tables. iceberg/<topic> holds the IcebergTable pointer of the
// topic's Iceberg table: where its current metadata file is in the object
// store. The table is derived from the topic's tier manifests (package
// iceberg, docs/format/iceberg.md); a commit is a compare-and-swap of this
// key on its mod revision, fenced by the leader epoch of the partition whose
// manifest change it follows, so a stale leader cannot commit and two
// partitions' commits to one table serialise.

// IcebergTable is the value of iceberg/<topic>.
type IcebergTable struct {
	Topic     string `json:"topic"`
	TopicID   string `json:"topic_id,omitempty"`
	Namespace string `json:"namespace"`
	// MetadataLocation is the absolute URI of the current metadata file
	// (s3://bucket/prefix/topic=<t>/metadata/<n>-<uuid>.metadata.json).
	MetadataLocation string `json:"metadata_location"`
	// Version is n, the sequence of the metadata file (1 for a new table).
	Version    int64  `json:"version"`
	TableUUID  string `json:"table_uuid"`
	SnapshotID int64  `json:"snapshot_id"` // current snapshot, 0 if none
	UpdatedAt  int64  `json:"updated_at"`  // unix milliseconds
	Revision   int64  `json:"-"`           // etcd mod revision when read; 0 = no table
}

func decodeIcebergTable(kv []byte, rev int64) (IcebergTable, error) {
	var t IcebergTable
	if err := json.Unmarshal(kv, &t); err != nil {
		return IcebergTable{}, fmt.Errorf("meta: decode iceberg table pointer: %w", err)
	}
	t.Revision = rev
	return t, nil
}

// IcebergTable reads a topic's table pointer; ok is false if the topic has
// no table (yet).
func (c *Client) IcebergTable(ctx context.Context, topic string) (IcebergTable, bool, error) {
	if err := validTopicName(topic); err != nil {
		return IcebergTable{}, false, err
	}
	resp, err := c.cli.Get(ctx, c.keys.IcebergTable(topic))
	if err != nil {
		return IcebergTable{}, false, etcdErr("iceberg table of "+topic, err)
	}
	if len(resp.Kvs) == 0 {
		return IcebergTable{}, false, nil
	}
	t, err := decodeIcebergTable(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
	return t, err == nil, err
}

// IcebergTables lists every table pointer of the cluster, by topic.
func (c *Client) IcebergTables(ctx context.Context) ([]IcebergTable, error) {
	resp, err := c.cli.Get(ctx, c.keys.IcebergTables(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("iceberg tables", err)
	}
	out := make([]IcebergTable, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		t, err := decodeIcebergTable(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// CommitIcebergTable swaps a topic's table pointer from the one read
// (prev.Revision; 0 = no table yet) to next, if partition still has leader
// epoch epoch (ErrFenced otherwise) and the pointer did not change since it
// was read (ErrConflict otherwise: re-read, rebuild the commit on the new
// metadata and retry). It returns the revision written.
func (c *Client) CommitIcebergTable(ctx context.Context, partition int32, epoch int32, prevRevision int64, next IcebergTable) (int64, error) {
	if err := validTopicName(next.Topic); err != nil {
		return 0, err
	}
	if next.MetadataLocation == "" {
		return 0, fmt.Errorf("meta: iceberg table of %s: no metadata location: %w", next.Topic, ErrInvalid)
	}
	key := c.keys.IcebergTable(next.Topic)
	var cmp clientv3.Cmp
	if prevRevision == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	} else {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", prevRevision)
	}
	// The topic must still exist (a deleted topic's partitions have no
	// epoch key, so the fence refuses too).
	val, err := json.Marshal(next)
	if err != nil {
		return 0, err
	}
	return c.fencedTxn(ctx, "iceberg commit", next.Topic, partition, epoch, []clientv3.Cmp{cmp}, []clientv3.Op{clientv3.OpPut(key, string(val))})
}

// DeleteIcebergTable removes a topic's table pointer if it is still the one
// read (ErrConflict otherwise). The metadata files stay in the store.
func (c *Client) DeleteIcebergTable(ctx context.Context, topic string, revision int64) error {
	if err := validTopicName(topic); err != nil {
		return err
	}
	key := c.keys.IcebergTable(topic)
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", revision)).Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return etcdErr("delete iceberg table of "+topic, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("meta: delete iceberg table of %s: changed since read: %w", topic, ErrConflict)
	}
	return nil
}
