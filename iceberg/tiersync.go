package iceberg

import (
	"context"
	"encoding/binary"

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

// TableInfo describes a topic's table for `strata tier status`
// (tiering.TableStatuser).
func (t *Tables) TableInfo(ctx context.Context, topic string) (tiering.TableInfo, bool, error) {
	st, ok, err := t.load(ctx, topic)
	if err != nil || !ok {
		return tiering.TableInfo{}, false, err
	}
	info := tiering.TableInfo{Version: st.ptr.Version, Parts: map[int32]tiering.TablePart{}}
	if cur := st.md.CurrentSnapshot(); cur != nil {
		info.SnapshotID = cur.SnapshotID
		if cur.Summary != nil {
			info.Operation = string(cur.Summary.Operation)
		}
	}
	for p, pf := range st.parts {
		var tp tiering.TablePart
		for _, e := range pf.entries {
			tp.Files++
			tp.Bytes += e.DataFile().FileSizeBytes()
			if ub := e.DataFile().UpperBoundValues()[FieldOffset]; len(ub) == 8 {
				tp.End = max(tp.End, int64(binary.LittleEndian.Uint64(ub))+1)
			}
		}
		info.Parts[p] = tp
	}
	return info, true, nil
}

var _ tiering.TableStatuser = (*Tables)(nil)
