package query

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/stratalog/strata/iceberg"
)

// SnapshotReader resolves a snapshot of a topic's Iceberg table: the
// bucket's path-based metadata for a tool (iceberg.ReadSnapshot, the
// default when Config.Bucket is set), the etcd pointer on a broker.
type SnapshotReader func(ctx context.Context, topic string, sel iceberg.SnapshotSelector) (*iceberg.Snapshot, error)

// ErrNoSnapshots is returned for a snapshot range when the planner has no
// way to read the table (no bucket).
var ErrNoSnapshots = errors.New("reading a table snapshot needs the object store")

func (q *Planner) readSnapshot(ctx context.Context, topic string, sel iceberg.SnapshotSelector) (*iceberg.Snapshot, error) {
	read := q.cfg.Snapshots
	if read == nil && q.cfg.Bucket != nil {
		read = func(ctx context.Context, topic string, sel iceberg.SnapshotSelector) (*iceberg.Snapshot, error) {
			return iceberg.ReadSnapshot(ctx, q.cfg.Bucket, topic, sel)
		}
	}
	if read == nil {
		return nil, ErrNoSnapshots
	}
	return read(ctx, topic, sel)
}

// planSnapshot resolves a range against one snapshot of the topic's
// table: exactly the offsets its data files hold, read from those files
// alone (no broker is asked, nothing from the hot log is added), so two
// reads of one snapshot return the same rows.
func (q *Planner) planSnapshot(ctx context.Context, r Range) (*Plan, error) {
	if !r.FromTime.IsZero() || !r.ToTime.IsZero() {
		return nil, errors.New("a time range within a snapshot is not supported: give offsets")
	}
	snap, err := q.readSnapshot(ctx, r.Topic, *r.Snapshot)
	if err != nil {
		return nil, err
	}
	p := &Plan{Topic: r.Topic, Snapshot: snap.ID, files: map[int32][]ColdFile{}, leaders: map[int32]int32{}, ReadUncommitted: r.ReadUncommitted}
	parts := r.Partitions
	if len(parts) == 0 {
		for part := range snap.Files {
			parts = append(parts, part)
		}
		slices.Sort(parts)
	}
	for _, part := range parts {
		files := snap.Files[part]
		if len(files) == 0 {
			continue
		}
		cf := make([]ColdFile, len(files))
		for i, f := range files {
			cf[i] = ColdFile{Key: f.Key, Size: f.Size, Base: f.Base, Last: f.Last}
		}
		p.files[part] = cf
		start, end := cf[0].Base, cf[len(cf)-1].Last+1
		if r.FromOffset >= 0 {
			start = max(start, r.FromOffset)
		}
		if r.ToOffset >= 0 {
			end = min(end, r.ToOffset)
		}
		if start < end {
			p.Parts = append(p.Parts, PartitionRange{Partition: part, Start: start, End: end})
			p.Records += end - start
		}
	}
	if len(p.Parts) == 0 {
		return nil, fmt.Errorf("%w: no records of %q in the range of snapshot %d", ErrEmptyRange, r.Topic, snap.ID)
	}
	return p, nil
}

// planSnapshotParts is planSnapshot for resolved partition ranges (a
// Flight ticket naming snapshot id).
func (q *Planner) planSnapshotParts(ctx context.Context, topic string, id int64, parts []PartitionRange, uncommitted bool) (*Plan, error) {
	all, err := q.planSnapshot(ctx, Range{Topic: topic, FromOffset: -1, ToOffset: -1, Snapshot: &iceberg.SnapshotSelector{ID: id}})
	if err != nil {
		return nil, err
	}
	p := &Plan{Topic: topic, Snapshot: id, files: all.files, leaders: all.leaders, ReadUncommitted: uncommitted}
	for _, pr := range parts {
		if _, ok := all.files[pr.Partition]; ok && pr.Start < pr.End {
			p.Parts = append(p.Parts, pr)
			p.Records += pr.End - pr.Start
		}
	}
	return p, nil
}
