package tiering

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/stratalog/strata/meta"
)

// TableSync keeps a table derived from the tier manifest in step with it:
// the Iceberg table of the topic (package iceberg implements it; the
// server wires it). SyncTable makes the partition's files in the table
// exactly segs (the manifest as committed), fenced by epoch; it is called
// after every manifest change, before the objects the change dropped are
// deleted, and again on the next pass after a failure.
type TableSync interface {
	SyncTable(ctx context.Context, req TableSyncRequest) error
}

// TableSyncRequest is one partition's manifest for the derived table.
type TableSyncRequest struct {
	Topic     string
	TopicID   string
	Partition int32
	Epoch     int32
	Segments  []meta.TierSegment
	// SnapshotRetention is strata.iceberg.snapshot.retention.ms.
	SnapshotRetention time.Duration
}

func (t *Tier) tableOn(set Settings) bool { return t.cfg.Tables != nil && set.Iceberg }

// tableBehind reports whether the derived table may name objects the
// manifest no longer does (so that no object may be deleted by the sweep).
func (t *Tier) tableBehind(ps *partState, set Settings) bool {
	return t.tableOn(set) && (ps.tableDirty || len(ps.pendingDeletes) > 0)
}

// syncTable brings the partition's table in line with segs. A failure is
// logged and counted, never returned: the table is derived, and tiering
// (which Fetch and local retention depend on) goes on; the next pass
// retries. On success, objects held back for the table are deleted.
func (t *Tier) syncTable(ctx context.Context, ps *partState, p Partition, epoch int32, set Settings, segs []meta.TierSegment) bool {
	if !t.tableOn(set) {
		ps.tableDirty = false
		if len(ps.pendingDeletes) > 0 {
			t.deleteObjects(ctx, ps.pendingDeletes)
			ps.pendingDeletes = nil
		}
		return true
	}
	if h := t.cfg.Hooks.BeforeTableSync; h != nil {
		if err := h(p.Topic(), p.Index()); err != nil {
			ps.tableDirty = true
			t.m.tableSyncErrors.Inc()
			return false
		}
	}
	id := p.TopicID()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := t.cfg.Tables.SyncTable(sctx, TableSyncRequest{
		Topic: p.Topic(), TopicID: encodeID(id), Partition: p.Index(), Epoch: epoch,
		Segments: segs, SnapshotRetention: set.IcebergSnapshotRetention,
	})
	cancel()
	if err != nil {
		ps.tableDirty = true
		t.m.tableSyncErrors.Inc()
		t.log.Warn("cannot commit the Iceberg table; retried on the next pass (objects it still names are kept)",
			"topic", p.Topic(), "partition", p.Index(), "err", err)
		return false
	}
	ps.tableDirty = false
	if len(ps.pendingDeletes) > 0 {
		t.deleteObjects(ctx, ps.pendingDeletes)
		ps.pendingDeletes = nil
	}
	return true
}

// retire deletes objects a manifest change dropped, once the derived
// table (if any) no longer names them: the table is synced to rest first;
// if that fails the objects wait in pendingDeletes (and, after a crash,
// for the orphan sweep, which runs only after a successful sync).
func (t *Tier) retire(ctx context.Context, ps *partState, p Partition, epoch int32, set Settings, rest, victims []meta.TierSegment) {
	if !t.tableOn(set) {
		t.deleteObjects(ctx, victims)
		return
	}
	ps.pendingDeletes = append(ps.pendingDeletes, victims...)
	t.syncTable(ctx, ps, p, epoch, set, rest)
}

// encodeID is a topic id in Kafka's text form ("" for none).
func encodeID(id [16]byte) string {
	if id == ([16]byte{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}
