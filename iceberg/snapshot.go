package iceberg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/stratalog/strata/objstore"
)

// ErrNoSnapshot is wrapped when a table has no snapshot matching a
// SnapshotSelector (never committed, or expired).
var ErrNoSnapshot = errors.New("iceberg: no such snapshot")

// SnapshotSelector chooses one snapshot of a table: by ID; else, if AsOf
// is set, the one that was current at that time (Iceberg's time travel:
// the last snapshot-log entry at or before it); else the current one.
type SnapshotSelector struct {
	ID   int64
	AsOf time.Time
}

// ParseSnapshotSelector reads a snapshot id (digits), an RFC 3339 time,
// or "current".
func ParseSnapshotSelector(s string) (SnapshotSelector, error) {
	if s == "" || s == "current" {
		return SnapshotSelector{}, nil
	}
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		if id <= 0 {
			return SnapshotSelector{}, fmt.Errorf("snapshot id %d: ids are positive", id)
		}
		return SnapshotSelector{ID: id}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return SnapshotSelector{}, fmt.Errorf("snapshot %q: want a snapshot id, an RFC 3339 time or current", s)
	}
	return SnapshotSelector{AsOf: t}, nil
}

func (s SnapshotSelector) String() string {
	switch {
	case s.ID != 0:
		return strconv.FormatInt(s.ID, 10)
	case !s.AsOf.IsZero():
		return "as of " + s.AsOf.UTC().Format(time.RFC3339Nano)
	}
	return "current"
}

// SnapshotFile is one data file of a snapshot: the tiered object holding
// offsets [Base, Last] of one partition.
type SnapshotFile struct {
	Key        string // object key in the bucket
	Size       int64
	Base, Last int64
}

// Snapshot is a table as of one snapshot: the data files of each
// partition, sorted by Base. The files of a snapshot never change; a
// reader may meet a deleted one only once the snapshot has expired.
type Snapshot struct {
	Topic       string
	ID          int64
	TimestampMs int64
	Files       map[int32][]SnapshotFile
}

// ReadSnapshot reads a topic's table from the bucket alone, the way a
// path-based reader does (metadata/version-hint.text, then
// v<N>.metadata.json): what a tool without etcd access (strata export)
// uses. ErrNoTable if the topic has no table, ErrNoSnapshot if none
// matches sel.
func ReadSnapshot(ctx context.Context, bucket objstore.Bucket, topic string, sel SnapshotSelector) (*Snapshot, error) {
	get := func(ctx context.Context, key string) ([]byte, error) {
		rc, err := bucket.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	hint, err := get(ctx, versionHintKey(topic))
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (no %s in %s)", ErrNoTable, topic, versionHintKey(topic), bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg: read the version hint of %s: %w", topic, err)
	}
	version, err := strconv.ParseInt(strings.TrimSpace(string(hint)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("iceberg: version hint of %s is %q, not a version", topic, hint)
	}
	raw, err := get(ctx, versionKey(topic, version))
	if err != nil {
		return nil, fmt.Errorf("iceberg: read %s: %w", versionKey(topic, version), err)
	}
	md, err := table.ParseMetadataBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("iceberg: parse %s: %w", versionKey(topic, version), err)
	}
	// URIs in the metadata are under the table location, which is the
	// bucket's topic=<t> folder wherever the bucket is mounted.
	loc := strings.TrimSuffix(md.Location(), "/")
	key := func(uri string) (string, error) {
		rest, ok := strings.CutPrefix(uri, loc+"/")
		if !ok {
			return "", fmt.Errorf("iceberg: %s is not under the table location %s", uri, loc)
		}
		return "topic=" + topic + "/" + rest, nil
	}
	return snapshotOf(ctx, objects{get: get, key: key}, topic, md, sel)
}

// Snapshot reads a topic's table as the etcd pointer names it now and
// returns the snapshot sel chooses (what a broker's Flight endpoint uses).
func (t *Tables) Snapshot(ctx context.Context, topic string, sel SnapshotSelector) (*Snapshot, error) {
	st, ok, err := t.load(ctx, topic)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoTable, topic)
	}
	return snapshotOf(ctx, t.objects(), topic, st.md, sel)
}

func snapshotOf(ctx context.Context, o objects, topic string, md table.Metadata, sel SnapshotSelector) (*Snapshot, error) {
	var snap *table.Snapshot
	switch {
	case sel.ID != 0:
		snap = md.SnapshotByID(sel.ID)
	case !sel.AsOf.IsZero():
		snap = table.New(table.Identifier{topic}, md, "", nil, nil).SnapshotAsOf(sel.AsOf.UnixMilli(), true)
	default:
		snap = md.CurrentSnapshot()
	}
	if snap == nil {
		return nil, fmt.Errorf("%w: %s of table %s (snapshots older than strata.iceberg.snapshot.retention.ms expire)", ErrNoSnapshot, sel, topic)
	}
	parts, err := o.snapshotParts(ctx, snap)
	if err != nil {
		return nil, err
	}
	out := &Snapshot{Topic: topic, ID: snap.SnapshotID, TimestampMs: snap.TimestampMs, Files: map[int32][]SnapshotFile{}}
	for p, pf := range parts {
		files := make([]SnapshotFile, 0, len(pf.entries))
		for _, e := range pf.entries {
			df := e.DataFile()
			lb, ub := df.LowerBoundValues()[FieldOffset], df.UpperBoundValues()[FieldOffset]
			if len(lb) != 8 || len(ub) != 8 {
				return nil, fmt.Errorf("iceberg: snapshot %d of %s: data file %s has no offset bounds: not a table Strata wrote", snap.SnapshotID, topic, df.FilePath())
			}
			k, err := o.key(df.FilePath())
			if err != nil {
				return nil, err
			}
			files = append(files, SnapshotFile{Key: k, Size: df.FileSizeBytes(),
				Base: int64(binary.LittleEndian.Uint64(lb)), Last: int64(binary.LittleEndian.Uint64(ub))})
		}
		sort.Slice(files, func(i, j int) bool { return files[i].Base < files[j].Base })
		out.Files[p] = files
	}
	return out, nil
}
