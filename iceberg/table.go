package iceberg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
)

// ErrNoTable is wrapped when a topic has no Iceberg table.
var ErrNoTable = errors.New("iceberg: no such table")

// DefaultSnapshotRetention is strata.iceberg.snapshot.retention.ms's
// default: snapshots older than this (except the current one) expire.
const DefaultSnapshotRetention = 3 * time.Hour

// Hooks let tests inject failures between the steps of a commit.
type Hooks struct {
	// BeforeMetadataPut runs before the new metadata file is stored.
	BeforeMetadataPut func(topic string, partition int32) error
	// BeforePointer runs after the metadata file is stored, before the
	// etcd pointer is swapped to it.
	BeforePointer func(topic string, partition int32) error
}

// Config configures the tables of one cluster.
type Config struct {
	Meta   *meta.Client
	Bucket objstore.Bucket
	// Root is the absolute URI of the bucket's root (what the tier's object
	// keys are relative to): "s3://bucket/prefix" or "file:///dir". Data
	// files, manifests and metadata files are named by Root + "/" + key.
	Root string
	// Namespace of every table (default: the cluster name given to meta).
	Namespace string
	Logger    *slog.Logger
	// Registerer takes the commit metrics (nil: not registered).
	Registerer prometheus.Registerer
	Hooks      *Hooks
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Tables keeps each tiered topic's Iceberg table in step with the topic's
// tier manifests. It is safe for concurrent use; the commits of one
// partition must come from one caller at a time (the partition's tier
// job), those of different partitions may race (they serialise on the etcd
// pointer).
type Tables struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	hook Hooks

	mu    sync.Mutex
	cache map[string]*state // by topic: the last state read or written
	lag   map[tpKey]int64
}

type tpKey struct {
	topic     string
	partition int32
}

// New creates the tables of a cluster.
func New(cfg Config) (*Tables, error) {
	if cfg.Meta == nil || cfg.Bucket == nil {
		return nil, errors.New("iceberg: no metadata client or no bucket")
	}
	cfg.Root = strings.TrimSuffix(cfg.Root, "/")
	if !strings.Contains(cfg.Root, "://") {
		return nil, fmt.Errorf("iceberg: root %q is not an absolute URI (s3://bucket/prefix, file:///dir)", cfg.Root)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Tables{cfg: cfg, log: cfg.Logger.With("component", "iceberg"), cache: map[string]*state{}, lag: map[tpKey]int64{}}
	if cfg.Hooks != nil {
		t.hook = *cfg.Hooks
	}
	t.m = newMetrics(t)
	if cfg.Registerer != nil {
		if err := t.m.register(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Namespace is the tables' namespace.
func (t *Tables) Namespace() string { return t.cfg.Namespace }

// Root is the bucket's root URI.
func (t *Tables) Root() string { return t.cfg.Root }

// Location is the table location of a topic: <root>/topic=<topic>, the
// folder that holds its partitions' Parquet files; metadata goes under
// its metadata/ folder.
func (t *Tables) Location(topic string) string { return t.cfg.Root + "/topic=" + topic }

func (t *Tables) uri(key string) string { return t.cfg.Root + "/" + key }

// key is the object key of an absolute URI under the root.
func (t *Tables) key(uri string) (string, error) {
	k, ok := strings.CutPrefix(uri, t.cfg.Root+"/")
	if !ok {
		return "", fmt.Errorf("iceberg: %s is not under %s", uri, t.cfg.Root)
	}
	return k, nil
}

// metadataKey is topic=<t>/metadata/<version, 5 digits>-<uuid>.metadata.json;
// versionKey its path-reader copy metadata/v<version>.metadata.json.
func metadataKey(topic string, version int64, id uuid.UUID) string {
	return fmt.Sprintf("topic=%s/metadata/%05d-%s.metadata.json", topic, version, id)
}
func versionKey(topic string, version int64) string {
	return fmt.Sprintf("topic=%s/metadata/v%d.metadata.json", topic, version)
}
func versionHintKey(topic string) string { return "topic=" + topic + "/metadata/version-hint.text" }

// parseMetadataVersion reads the version out of a metadata file's name.
func parseMetadataVersion(uri string) (int64, bool) {
	name := uri[strings.LastIndexByte(uri, '/')+1:]
	n, _, ok := strings.Cut(name, "-")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(n, 10, 64)
	return v, err == nil
}

// partFiles is one partition's live data files in the current snapshot:
// the entries of its manifest (one manifest per partition).
type partFiles struct {
	manifest ice.ManifestFile
	entries  []ice.ManifestEntry // live (added or existing)
}

// state is a table as of one metadata file.
type state struct {
	ptr   meta.IcebergTable
	md    table.Metadata
	raw   []byte
	parts map[int32]*partFiles
}

func (s *state) files(p int32) map[string]ice.ManifestEntry {
	out := map[string]ice.ManifestEntry{}
	if pf := s.parts[p]; pf != nil {
		for _, e := range pf.entries {
			out[e.DataFile().FilePath()] = e
		}
	}
	return out
}

func (t *Tables) get(ctx context.Context, key string) ([]byte, error) {
	rc, err := t.cfg.Bucket.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// load reads the table as the etcd pointer names it now (cached while the
// pointer names the same metadata file). ok is false if there is none.
func (t *Tables) load(ctx context.Context, topic string) (*state, bool, error) {
	ptr, ok, err := t.cfg.Meta.IcebergTable(ctx, topic)
	if err != nil || !ok {
		return nil, false, err
	}
	t.mu.Lock()
	c := t.cache[topic]
	t.mu.Unlock()
	if c != nil && c.ptr.MetadataLocation == ptr.MetadataLocation {
		c2 := *c
		c2.ptr = ptr // same file; the revision may differ (a rewrite of the same pointer)
		return &c2, true, nil
	}
	st, err := t.read(ctx, ptr)
	if err != nil {
		return nil, false, err
	}
	t.mu.Lock()
	t.cache[topic] = st
	t.mu.Unlock()
	return st, true, nil
}

// read loads a metadata file and the manifests of its current snapshot.
func (t *Tables) read(ctx context.Context, ptr meta.IcebergTable) (*state, error) {
	key, err := t.key(ptr.MetadataLocation)
	if err != nil {
		return nil, err
	}
	raw, err := t.get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("iceberg: read metadata of %s: %w", ptr.Topic, err)
	}
	md, err := table.ParseMetadataBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("iceberg: parse %s: %w", ptr.MetadataLocation, err)
	}
	st := &state{ptr: ptr, md: md, raw: raw, parts: map[int32]*partFiles{}}
	if snap := md.CurrentSnapshot(); snap != nil {
		if st.parts, err = t.objects().snapshotParts(ctx, snap); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// objects reads a table's files from its bucket: get by object key, and
// the key of a URI the metadata names.
type objects struct {
	get func(context.Context, string) ([]byte, error)
	key func(string) (string, error)
}

func (t *Tables) objects() objects { return objects{get: t.get, key: t.key} }

func (o objects) read(ctx context.Context, uri, what string) ([]byte, error) {
	k, err := o.key(uri)
	if err != nil {
		return nil, err
	}
	b, err := o.get(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("iceberg: read %s %s: %w", what, uri, err)
	}
	return b, nil
}

func (o objects) manifestList(ctx context.Context, uri string) ([]ice.ManifestFile, error) {
	b, err := o.read(ctx, uri, "manifest list")
	if err != nil {
		return nil, err
	}
	mfs, err := ice.ReadManifestList(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("iceberg: decode manifest list %s: %w", uri, err)
	}
	return mfs, nil
}

// snapshotParts reads the manifests of snap, one per partition (as
// Strata writes them).
func (o objects) snapshotParts(ctx context.Context, snap *table.Snapshot) (map[int32]*partFiles, error) {
	mfs, err := o.manifestList(ctx, snap.ManifestList)
	if err != nil {
		return nil, err
	}
	parts := map[int32]*partFiles{}
	for _, mf := range mfs {
		b, err := o.read(ctx, mf.FilePath(), "manifest")
		if err != nil {
			return nil, err
		}
		ents, err := ice.ReadManifest(mf, bytes.NewReader(b), true)
		if err != nil {
			return nil, fmt.Errorf("iceberg: decode manifest %s: %w", mf.FilePath(), err)
		}
		if len(ents) == 0 {
			continue
		}
		p, ok := partitionOf(ents[0].DataFile())
		if !ok {
			return nil, fmt.Errorf("iceberg: manifest %s: data file %s has no partition value", mf.FilePath(), ents[0].DataFile().FilePath())
		}
		if parts[p] != nil {
			return nil, fmt.Errorf("iceberg: two manifests of partition %d in snapshot %d (%s): not a table Strata wrote", p, snap.SnapshotID, snap.ManifestList)
		}
		parts[p] = &partFiles{manifest: mf, entries: ents}
	}
	return parts, nil
}

func partitionOf(df ice.DataFile) (int32, bool) {
	v, ok := df.Partition()[PartitionFieldID]
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case int32:
		return x, true
	case int64:
		return int32(x), true
	case int:
		return int32(x), true
	}
	return 0, false
}

// dataFile is the Iceberg data file of a manifest entry: the tiered
// object itself, with the statistics the manifest knows.
func (t *Tables) dataFile(seg meta.TierSegment) (ice.DataFile, error) {
	spec := Spec()
	b, err := ice.NewDataFileBuilder(spec, ice.EntryContentData, t.uri(seg.Object), ice.ParquetFile,
		map[int]any{PartitionFieldID: seg.Partition}, nil, nil, seg.Records, seg.Size)
	if err != nil {
		return nil, fmt.Errorf("iceberg: data file %s: %w", seg.Object, err)
	}
	// Bounds of the columns whose range the manifest knows exactly.
	// (Timestamps are not bounded: the manifest's min/max skip records
	// without one, so a bound could prune rows that are there.)
	b.LowerBoundValues(map[int][]byte{FieldOffset: le64(seg.BaseOffset), FieldPartition: le32(seg.Partition)})
	b.UpperBoundValues(map[int][]byte{FieldOffset: le64(seg.LastOffset), FieldPartition: le32(seg.Partition)})
	b.ValueCounts(map[int]int64{FieldOffset: seg.Records, FieldPartition: seg.Records})
	b.NullValueCounts(map[int]int64{FieldOffset: 0, FieldPartition: 0})
	b.SortOrderID(1)
	return b.Build(), nil
}

// Request asks for one partition's files in the table to be made what its
// manifest lists.
type Request struct {
	Topic     string
	TopicID   string
	Partition int32
	// Epoch is the leader epoch the caller read the manifest under: the
	// commit is fenced by it.
	Epoch int32
	// Segments is the partition's manifest as committed (meta.TierSegments).
	Segments []meta.TierSegment
	// SnapshotRetention: snapshots older than this expire at the commit
	// (<= 0: DefaultSnapshotRetention).
	SnapshotRetention time.Duration
}

// Result says what a Sync did.
type Result struct {
	Operation  table.Operation // "" when the table already agreed
	SnapshotID int64
	Added      int
	Removed    int
	Version    int64
	Expired    int
}

// maxCommitAttempts bounds the retries of a commit that lost the race for
// the pointer to another partition's commit.
const maxCommitAttempts = 20

// Sync makes the table's data files of req.Partition exactly the objects
// req.Segments names, in one snapshot: an append when files were only
// added (uploads, backfill), a replace when files were swapped for files
// holding the same records (merges), a delete when files were only removed
// (retention), an overwrite otherwise (a repair after a crash that saw
// several changes, a compaction that drops records). It creates the table
// on the first call. It is a no-op when the table already agrees. A commit
// that loses the race with another partition's is rebuilt on the new
// metadata and retried; ErrFenced if the epoch moved.
func (t *Tables) Sync(ctx context.Context, req Request) (Result, error) {
	start := t.cfg.Now()
	k := tpKey{req.Topic, req.Partition}
	end := int64(-1)
	if n := len(req.Segments); n > 0 {
		end = req.Segments[n-1].LastOffset + 1
	}
	for attempt := 0; ; attempt++ {
		res, tableEnd, err := t.syncOnce(ctx, req)
		if err == nil {
			t.setLag(k, 0)
			if res.Operation != "" {
				t.m.commits.WithLabelValues(string(res.Operation)).Inc()
				t.m.commitSeconds.Observe(t.cfg.Now().Sub(start).Seconds())
			}
			return res, nil
		}
		if tableEnd >= 0 || end >= 0 {
			t.setLag(k, max(end-max(tableEnd, 0), 0))
		}
		if errors.Is(err, meta.ErrConflict) && attempt < maxCommitAttempts && ctx.Err() == nil {
			t.m.conflicts.Inc()
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
			}
			continue
		}
		t.m.failures.Inc()
		return Result{}, err
	}
}

func (t *Tables) setLag(k tpKey, v int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v == 0 {
		delete(t.lag, k)
		return
	}
	t.lag[k] = v
}

func (t *Tables) lagTotal() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, v := range t.lag {
		n += v
	}
	return n
}

func randomSnapshotID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) &^ (1 << 63))
}

// syncOnce tries one commit. tableEnd is the end of the partition's
// offsets in the table as read (-1: none, or not read).
func (t *Tables) syncOnce(ctx context.Context, req Request) (Result, int64, error) {
	topic, p := req.Topic, req.Partition
	st, ok, err := t.load(ctx, topic)
	if err != nil {
		return Result{}, -1, err
	}
	if !ok {
		md, err := newMetadata(t.Location(topic), topic, req.TopicID, uuid.New())
		if err != nil {
			return Result{}, -1, err
		}
		st = &state{md: md, parts: map[int32]*partFiles{}, ptr: meta.IcebergTable{Topic: topic}}
	} else if st.md.Properties()[PropTopicID] != req.TopicID && req.TopicID != "" {
		return Result{}, -1, fmt.Errorf("iceberg: table of %s belongs to topic id %s, not %s (a deleted topic's pointer?)", topic, st.md.Properties()[PropTopicID], req.TopicID)
	}
	have := st.files(p)
	tableEnd := int64(-1)
	for _, e := range have {
		if ub, ok := e.DataFile().UpperBoundValues()[FieldOffset]; ok && len(ub) == 8 {
			tableEnd = max(tableEnd, int64(binary.LittleEndian.Uint64(ub))+1)
		}
	}
	want := map[string]meta.TierSegment{}
	for _, s := range req.Segments {
		want[t.uri(s.Object)] = s
	}
	var added []meta.TierSegment
	var removed []ice.ManifestEntry
	for path, s := range want {
		if e, ok := have[path]; !ok || e.DataFile().Count() != s.Records || e.DataFile().FileSizeBytes() != s.Size {
			added = append(added, s)
			if ok {
				removed = append(removed, e) // same key, other bytes: swap
			}
		}
	}
	for path, e := range have {
		if _, ok := want[path]; !ok {
			removed = append(removed, e)
		}
	}
	now := t.cfg.Now()
	retention := req.SnapshotRetention
	if retention <= 0 {
		retention = DefaultSnapshotRetention
	}
	expire := expired(st.md, now.Add(-retention).UnixMilli())
	if len(added) == 0 && len(removed) == 0 && (st.ptr.Revision != 0) && len(expire) == 0 {
		return Result{}, tableEnd, nil
	}
	sort.Slice(added, func(i, j int) bool { return added[i].BaseOffset < added[j].BaseOffset })
	sort.Slice(removed, func(i, j int) bool { return removed[i].DataFile().FilePath() < removed[j].DataFile().FilePath() })

	op := operation(added, removed)
	snapID := randomSnapshotID()
	seq := st.md.LastSequenceNumber() + 1
	commitID := uuid.New()
	var parent *int64
	if cur := st.md.CurrentSnapshot(); cur != nil {
		id := cur.SnapshotID
		parent = &id
	}

	// The partition's new manifest: what stays, what is added, what this
	// snapshot deletes. Other partitions' manifests are carried over.
	newParts := make(map[int32]*partFiles, len(st.parts)+1)
	for q, pf := range st.parts {
		if q != p {
			newParts[q] = pf
		}
	}
	removedPaths := map[string]bool{}
	for _, e := range removed {
		removedPaths[e.DataFile().FilePath()] = true
	}
	var manifests []ice.ManifestFile
	var newEntries []ice.ManifestEntry
	if len(added) > 0 || len(removed) > 0 || st.parts[p] != nil {
		var buf bytes.Buffer
		w, err := ice.NewManifestWriter(2, &buf, Spec(), Schema(), snapID)
		if err != nil {
			return Result{}, tableEnd, fmt.Errorf("iceberg: manifest writer: %w", err)
		}
		if pf := st.parts[p]; pf != nil {
			for _, e := range pf.entries {
				if removedPaths[e.DataFile().FilePath()] {
					continue
				}
				if err := w.Existing(e); err != nil {
					return Result{}, tableEnd, fmt.Errorf("iceberg: manifest: %w", err)
				}
				newEntries = append(newEntries, e)
			}
		}
		for _, s := range added {
			df, err := t.dataFile(s)
			if err != nil {
				return Result{}, tableEnd, err
			}
			e := ice.NewManifestEntry(ice.EntryStatusADDED, &snapID, nil, nil, df)
			if err := w.Add(e); err != nil {
				return Result{}, tableEnd, fmt.Errorf("iceberg: manifest: %w", err)
			}
			seqv := seq
			newEntries = append(newEntries, ice.NewManifestEntry(ice.EntryStatusADDED, &snapID, &seqv, &seqv, df))
		}
		for _, e := range removed {
			if err := w.Delete(e); err != nil {
				return Result{}, tableEnd, fmt.Errorf("iceberg: manifest: %w", err)
			}
		}
		if len(newEntries) > 0 || len(removed) > 0 {
			mkey := fmt.Sprintf("topic=%s/metadata/%s-p%d-m0.avro", topic, commitID, p)
			mf, err := w.ToManifestFile(t.uri(mkey), int64(buf.Len()))
			if err != nil {
				return Result{}, tableEnd, fmt.Errorf("iceberg: manifest: %w", err)
			}
			if err := t.put(ctx, mkey, buf.Bytes()); err != nil {
				return Result{}, tableEnd, err
			}
			manifests = append(manifests, mf)
			if len(newEntries) > 0 {
				// Re-read it as stored so the next commit carries the
				// manifest with its sequence number assigned.
				newParts[p] = &partFiles{manifest: mf, entries: newEntries}
			}
		}
	}
	qs := make([]int32, 0, len(newParts))
	for q := range newParts {
		if q != p {
			qs = append(qs, q)
		}
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i] < qs[j] })
	for _, q := range qs {
		manifests = append(manifests, newParts[q].manifest)
	}
	// Sort the list by partition, so that a listing reads in order.
	sort.SliceStable(manifests, func(i, j int) bool { return manifestPartition(manifests[i]) < manifestPartition(manifests[j]) })

	var list bytes.Buffer
	if err := ice.WriteManifestList(2, &list, snapID, parent, &seq, 0, manifests); err != nil {
		return Result{}, tableEnd, fmt.Errorf("iceberg: manifest list: %w", err)
	}
	lkey := fmt.Sprintf("topic=%s/metadata/snap-%d-1-%s.avro", topic, snapID, commitID)
	if err := t.put(ctx, lkey, list.Bytes()); err != nil {
		return Result{}, tableEnd, err
	}

	snap := &table.Snapshot{
		SnapshotID: snapID, ParentSnapshotID: parent, SequenceNumber: seq, TimestampMs: now.UnixMilli(),
		ManifestList: t.uri(lkey),
		Summary:      &table.Summary{Operation: op, Properties: summary(st, newParts, p, added, removed, req.Epoch)},
	}
	schemaID := 0
	snap.SchemaID = &schemaID
	b, err := table.MetadataBuilderFromBase(st.md, st.ptr.MetadataLocation)
	if err != nil {
		return Result{}, tableEnd, fmt.Errorf("iceberg: metadata: %w", err)
	}
	if err := b.AddSnapshot(snap); err != nil {
		return Result{}, tableEnd, fmt.Errorf("iceberg: add snapshot: %w", err)
	}
	if err := b.SetSnapshotRef(table.MainBranch, snapID, table.BranchRef); err != nil {
		return Result{}, tableEnd, fmt.Errorf("iceberg: set main: %w", err)
	}
	if len(expire) > 0 {
		if err := b.RemoveSnapshots(expire, false); err != nil {
			return Result{}, tableEnd, fmt.Errorf("iceberg: expire snapshots: %w", err)
		}
	}
	md, err := b.Build()
	if err != nil {
		return Result{}, tableEnd, fmt.Errorf("iceberg: build metadata: %w", err)
	}
	raw, err := jsonMetadata(md)
	if err != nil {
		return Result{}, tableEnd, err
	}
	version := st.ptr.Version + 1
	mdKey := metadataKey(topic, version, commitID)
	if h := t.hook.BeforeMetadataPut; h != nil {
		if err := h(topic, p); err != nil {
			return Result{}, tableEnd, err
		}
	}
	if err := t.put(ctx, mdKey, raw); err != nil {
		return Result{}, tableEnd, err
	}
	if h := t.hook.BeforePointer; h != nil {
		if err := h(topic, p); err != nil {
			return Result{}, tableEnd, err
		}
	}
	next := meta.IcebergTable{
		Topic: topic, TopicID: req.TopicID, Namespace: t.cfg.Namespace, MetadataLocation: t.uri(mdKey),
		Version: version, TableUUID: md.TableUUID().String(), SnapshotID: snapID, UpdatedAt: now.UnixMilli(),
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	rev, err := t.cfg.Meta.CommitIcebergTable(cctx, p, req.Epoch, st.ptr.Revision, next)
	cancel()
	if err != nil {
		// Never named: the files of this attempt are garbage.
		if errors.Is(err, meta.ErrConflict) || errors.Is(err, meta.ErrFenced) {
			keys := []string{mdKey, lkey}
			for _, m := range manifests {
				if m.SnapshotID() == snapID {
					if k, kerr := t.key(m.FilePath()); kerr == nil {
						keys = append(keys, k)
					}
				}
			}
			t.deleteKeys(ctx, keys)
		}
		t.mu.Lock()
		delete(t.cache, topic)
		t.mu.Unlock()
		return Result{}, tableEnd, fmt.Errorf("iceberg: commit %s of %s-%d: %w", op, topic, p, err)
	}
	next.Revision = rev
	// The manifest written in this commit gets its sequence number when
	// read from the list; keep the state as a reader would see it.
	for q, pf := range newParts {
		if pf.manifest.SnapshotID() == snapID {
			mfs, err := ice.ReadManifestList(bytes.NewReader(list.Bytes()))
			if err == nil {
				for _, mf := range mfs {
					if mf.FilePath() == pf.manifest.FilePath() {
						newParts[q] = &partFiles{manifest: mf, entries: pf.entries}
					}
				}
			}
		}
	}
	ns := &state{ptr: next, md: md, raw: raw, parts: newParts}
	t.mu.Lock()
	t.cache[topic] = ns
	t.mu.Unlock()

	// For path-based readers: metadata/v<N>.metadata.json and the hint.
	if err := t.put(ctx, versionKey(topic, version), raw); err == nil {
		t.writeHint(ctx, topic, version)
	} else {
		t.log.Warn("cannot write the path-reader copy of the metadata", "topic", topic, "version", version, "err", err)
	}
	t.cleanup(ctx, st, md, expire)
	t.log.Debug("iceberg commit", "topic", topic, "partition", p, "operation", op, "snapshot", snapID, "version", version,
		"added", len(added), "removed", len(removed), "expired", len(expire))
	end := int64(-1)
	if n := len(req.Segments); n > 0 {
		end = req.Segments[n-1].LastOffset + 1
	}
	return Result{Operation: op, SnapshotID: snapID, Added: len(added), Removed: len(removed), Version: version, Expired: len(expire)}, end, nil
}

func manifestPartition(mf ice.ManifestFile) int64 {
	for _, fs := range mf.Partitions() {
		if fs.LowerBound != nil && len(*fs.LowerBound) == 4 {
			return int64(int32(binary.LittleEndian.Uint32(*fs.LowerBound)))
		}
	}
	return -1
}

// operation names the snapshot: append (only added), delete (only
// removed), replace (files swapped for files of the same records), or
// overwrite.
func operation(added []meta.TierSegment, removed []ice.ManifestEntry) table.Operation {
	switch {
	case len(removed) == 0:
		return table.OpAppend
	case len(added) == 0:
		return table.OpDelete
	}
	var addRecs, remRecs int64
	addLo, addHi := int64(1<<62), int64(-1)
	for _, s := range added {
		addRecs += s.Records
		addLo, addHi = min(addLo, s.BaseOffset), max(addHi, s.LastOffset)
	}
	remLo, remHi := int64(1<<62), int64(-1)
	for _, e := range removed {
		remRecs += e.DataFile().Count()
		lb, ub := e.DataFile().LowerBoundValues()[FieldOffset], e.DataFile().UpperBoundValues()[FieldOffset]
		if len(lb) != 8 || len(ub) != 8 {
			return table.OpOverwrite
		}
		remLo, remHi = min(remLo, int64(binary.LittleEndian.Uint64(lb))), max(remHi, int64(binary.LittleEndian.Uint64(ub)))
	}
	if addRecs == remRecs && addLo == remLo && addHi == remHi {
		return table.OpReplace
	}
	return table.OpOverwrite
}

// summary is the snapshot summary: Iceberg's counters (added/deleted
// files, records, sizes; totals) and which partition's change it follows.
func summary(st *state, parts map[int32]*partFiles, p int32, added []meta.TierSegment, removed []ice.ManifestEntry, epoch int32) ice.Properties {
	var addRecs, addSize, remRecs, remSize int64
	for _, s := range added {
		addRecs += s.Records
		addSize += s.Size
	}
	for _, e := range removed {
		remRecs += e.DataFile().Count()
		remSize += e.DataFile().FileSizeBytes()
	}
	var files, recs, size int64
	for _, pf := range parts {
		for _, e := range pf.entries {
			files++
			recs += e.DataFile().Count()
			size += e.DataFile().FileSizeBytes()
		}
	}
	props := ice.Properties{
		"total-data-files":        strconv.FormatInt(files, 10),
		"total-records":           strconv.FormatInt(recs, 10),
		"total-files-size":        strconv.FormatInt(size, 10),
		"total-delete-files":      "0",
		"total-position-deletes":  "0",
		"total-equality-deletes":  "0",
		"changed-partition-count": "1",
		"strata.partition":        strconv.Itoa(int(p)),
		"strata.leader-epoch":     strconv.Itoa(int(epoch)),
	}
	if len(added) > 0 {
		props["added-data-files"] = strconv.Itoa(len(added))
		props["added-records"] = strconv.FormatInt(addRecs, 10)
		props["added-files-size"] = strconv.FormatInt(addSize, 10)
	}
	if len(removed) > 0 {
		props["deleted-data-files"] = strconv.Itoa(len(removed))
		props["deleted-records"] = strconv.FormatInt(remRecs, 10)
		props["removed-files-size"] = strconv.FormatInt(remSize, 10)
	}
	_ = st
	return props
}

// expired lists the snapshots older than cutoff (unix ms), except the
// current one.
func expired(md table.Metadata, cutoff int64) []int64 {
	cur := md.CurrentSnapshot()
	var out []int64
	for _, s := range md.Snapshots() {
		if (cur == nil || s.SnapshotID != cur.SnapshotID) && s.TimestampMs < cutoff {
			out = append(out, s.SnapshotID)
		}
	}
	return out
}

func (t *Tables) put(ctx context.Context, key string, b []byte) error {
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := t.cfg.Bucket.Put(pctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("iceberg: put %s: %w", key, err)
	}
	return nil
}

func (t *Tables) deleteKeys(ctx context.Context, keys []string) {
	for _, k := range keys {
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := t.cfg.Bucket.Delete(dctx, k)
		cancel()
		if err != nil {
			t.log.Warn("cannot delete iceberg metadata object", "object", k, "err", err)
		}
	}
}

// cleanup deletes, after a commit, what no retained snapshot or metadata
// log entry names any more: the manifest lists of expired snapshots, the
// manifests only they named, and metadata files that fell out of the log.
// A manifest is carried from snapshot to snapshot until replaced and never
// comes back, so one named by an expired snapshot but not by the oldest
// retained snapshot is named by none. What a crash leaves undeleted stays
// (docs/format/iceberg.md).
func (t *Tables) cleanup(ctx context.Context, old *state, md table.Metadata, expire []int64) {
	var keys []string
	if len(expire) > 0 {
		gone := map[string]bool{}
		for _, id := range expire {
			s := old.md.SnapshotByID(id)
			if s == nil {
				continue
			}
			if k, err := t.key(s.ManifestList); err == nil {
				keys = append(keys, k)
			}
			mfs, err := t.objects().manifestList(ctx, s.ManifestList)
			if err != nil {
				t.log.Warn("expire: cannot read a manifest list", "list", s.ManifestList, "err", err)
				continue
			}
			for _, mf := range mfs {
				gone[mf.FilePath()] = true
			}
		}
		var oldest *table.Snapshot
		for i, s := range md.Snapshots() {
			if oldest == nil || s.SequenceNumber < oldest.SequenceNumber {
				oldest = &md.Snapshots()[i]
			}
		}
		if oldest != nil {
			mfs, err := t.objects().manifestList(ctx, oldest.ManifestList)
			if err != nil {
				t.log.Warn("expire: cannot read the oldest manifest list; manifests kept", "err", err)
				gone = nil
			}
			for _, mf := range mfs {
				delete(gone, mf.FilePath())
			}
		}
		for path := range gone {
			if k, err := t.key(path); err == nil {
				keys = append(keys, k)
			}
		}
	}
	kept := map[string]bool{}
	for e := range md.PreviousFiles() {
		kept[e.MetadataFile] = true
	}
	var drop []string
	if old.ptr.MetadataLocation != "" {
		drop = append(drop, old.ptr.MetadataLocation)
	}
	for e := range old.md.PreviousFiles() {
		drop = append(drop, e.MetadataFile)
	}
	for _, f := range drop {
		if kept[f] {
			continue
		}
		if k, err := t.key(f); err == nil {
			keys = append(keys, k)
		}
		if v, ok := parseMetadataVersion(f); ok {
			keys = append(keys, versionKey(old.ptr.Topic, v))
		}
	}
	if len(keys) > 0 {
		t.deleteKeys(ctx, keys)
		t.m.deletedFiles.Add(float64(len(keys)))
	}
}

// Status is a table's current state, for `strata tier status`.
type Status struct {
	Topic            string
	Namespace        string
	MetadataLocation string
	Version          int64
	SnapshotID       int64
	Operation        string
	SnapshotMs       int64
	Snapshots        int
	Files            int64
	Records          int64
	Bytes            int64
	// PartitionEnds is, per partition, the offset after the last one the
	// table holds.
	PartitionEnds map[int32]int64
}

// TableStatus reads a topic's table; ErrNoTable if it has none.
func (t *Tables) TableStatus(ctx context.Context, topic string) (Status, error) {
	st, ok, err := t.load(ctx, topic)
	if err != nil {
		return Status{}, err
	}
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNoTable, topic)
	}
	s := Status{Topic: topic, Namespace: st.ptr.Namespace, MetadataLocation: st.ptr.MetadataLocation, Version: st.ptr.Version,
		Snapshots: len(st.md.Snapshots()), PartitionEnds: map[int32]int64{}}
	if cur := st.md.CurrentSnapshot(); cur != nil {
		s.SnapshotID, s.SnapshotMs = cur.SnapshotID, cur.TimestampMs
		if cur.Summary != nil {
			s.Operation = string(cur.Summary.Operation)
		}
	}
	for p, pf := range st.parts {
		for _, e := range pf.entries {
			s.Files++
			s.Records += e.DataFile().Count()
			s.Bytes += e.DataFile().FileSizeBytes()
			if ub := e.DataFile().UpperBoundValues()[FieldOffset]; len(ub) == 8 {
				s.PartitionEnds[p] = max(s.PartitionEnds[p], int64(binary.LittleEndian.Uint64(ub))+1)
			}
		}
	}
	return s, nil
}

// MetadataFile returns a topic's current pointer and metadata file bytes
// (for the REST catalog); ErrNoTable if it has none.
func (t *Tables) MetadataFile(ctx context.Context, topic string) (meta.IcebergTable, []byte, error) {
	st, ok, err := t.load(ctx, topic)
	if err != nil {
		return meta.IcebergTable{}, nil, err
	}
	if !ok {
		return meta.IcebergTable{}, nil, fmt.Errorf("%w: %s", ErrNoTable, topic)
	}
	return st.ptr, st.raw, nil
}

// Topics lists the topics that have a table.
func (t *Tables) Topics(ctx context.Context) ([]string, error) {
	ptrs, err := t.cfg.Meta.IcebergTables(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ptrs))
	for _, p := range ptrs {
		out = append(out, p.Topic)
	}
	return out, nil
}

// Metadata is MetadataFile for the REST catalog (rest.Source).
func (t *Tables) Metadata(ctx context.Context, topic string) (string, []byte, bool, error) {
	ptr, raw, err := t.MetadataFile(ctx, topic)
	if errors.Is(err, ErrNoTable) || errors.Is(err, meta.ErrInvalid) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, err
	}
	return ptr.MetadataLocation, raw, true, nil
}

// writeHint points metadata/version-hint.text at version, unless a later
// commit moved the pointer on; commits of several partitions race here,
// so after writing it checks again and, if a later version's copy is
// already stored, writes that one: the hint never stays behind the last
// commit whose copy exists.
func (t *Tables) writeHint(ctx context.Context, topic string, version int64) {
	for i := 0; i < 5; i++ {
		ptr, ok, err := t.cfg.Meta.IcebergTable(ctx, topic)
		if err != nil || !ok || ptr.Version < version {
			return
		}
		if ptr.Version > version {
			if _, err := t.cfg.Bucket.Stat(ctx, versionKey(topic, ptr.Version)); err != nil {
				return // its writer has not stored its copy yet: it writes the hint after
			}
			version = ptr.Version
		}
		if err := t.put(ctx, versionHintKey(topic), []byte(strconv.FormatInt(version, 10))); err != nil {
			t.log.Warn("cannot write the version hint", "topic", topic, "version", version, "err", err)
			return
		}
		ptr, ok, err = t.cfg.Meta.IcebergTable(ctx, topic)
		if err != nil || !ok || ptr.Version == version {
			return
		}
	}
}
