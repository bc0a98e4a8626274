package iceberg

import (
	"context"

	"github.com/stratalog/strata/tiering"
)

// SyncTable is Sync for the tierer (tiering.TableSync).
func (t *Tables) SyncTable(ctx context.Context, req tiering.TableSyncRequest) error {
	_, err := t.Sync(ctx, Request{
		Topic: req.Topic, TopicID: req.TopicID, Partition: req.Partition, Epoch: req.Epoch,
		Segments: req.Segments, SnapshotRetention: req.SnapshotRetention,
	})
	return err
}

var _ tiering.TableSync = (*Tables)(nil)
