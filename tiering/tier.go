package tiering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/tiering/coldfile"
)

// Settings are a topic's tiering configs, as the broker resolved them.
type Settings struct {
	// Enabled is remote.storage.enable.
	Enabled bool
	// RetentionMs / RetentionBytes are the topic's total retention.ms /
	// retention.bytes, applied to the cold tier; -1 = unlimited.
	RetentionMs    int64
	RetentionBytes int64
	// MaxLag is strata.tier.max.lag.ms: the active segment is rolled (and
	// so tiered) once it is this old; 0 = never.
	MaxLag time.Duration
	// TargetFileBytes is strata.tier.target.file.bytes: small tiered files
	// are merged toward this size; 0 = no merging.
	TargetFileBytes int64
	// Iceberg is strata.iceberg.enable: the topic's Iceberg table follows
	// its manifest (Config.Tables); IcebergSnapshotRetention is
	// strata.iceberg.snapshot.retention.ms.
	Iceberg                  bool
	IcebergSnapshotRetention time.Duration
	// TypedColumns is strata.typed.columns: files get typed value
	// columns when Config.Decoders has a decoder for the topic.
	TypedColumns bool
}

// ValueDecoders gives, when a file is written, the decoder of a topic's
// values into typed columns (package typed implements it over the schema
// registry): nil when the topic has none. An error fails the upload, which
// is retried.
type ValueDecoders interface {
	ValueDecoder(ctx context.Context, topic string) (coldfile.ValueDecoder, error)
}

// Partition is what the tierer needs of a partition this broker leads.
// broker.Partition provides it (wrapped by the server).
type Partition interface {
	Topic() string
	Index() int32
	TopicID() [16]byte
	LeaderEpoch() int32
	HighWatermark() int64
	// FlushedOffset is the offset below which the local log is fsynced.
	// Only records below it and the high watermark are tiered: after a
	// power loss the log may reuse the offsets of records it had not
	// fsynced, for other records.
	FlushedOffset() int64
	// Segments describes the local segments, oldest first; the last one is
	// active.
	Segments() []hotlog.SegmentInfo
	// ReadLocal reads whole stored batches from offset, stopping before
	// maxOffset and after about maxBytes (at least one batch).
	ReadLocal(offset, maxOffset int64, maxBytes int) ([]byte, error)
	// Roll seals the active segment.
	Roll() error
	TierSettings() Settings
	// DeletedBefore is the partition's log start as DeleteRecords set it
	// (0 if never; -1 while unknown): tiered files wholly below it are
	// dropped, and nothing below it is uploaded.
	DeletedBefore() int64
	// LastStableOffset is the partition's last stable offset: only records
	// below it are tiered, so that every transaction the cold tier holds
	// is decided.
	LastStableOffset() int64
	// LocalAbortedTransactions are the aborted transactions overlapping
	// [from, upTo) in the local log (hotlog.Log.AbortedTransactions):
	// their records are tiered with aborted = true.
	LocalAbortedTransactions(from, upTo int64) []hotlog.AbortedTxn
}

// Hooks let tests inject failures at the steps of the upload protocol. A
// hook returning an error makes that step fail as if the store or etcd had.
type Hooks struct {
	BeforePut    func(key string) error
	BeforeCommit func(seg meta.TierSegment) error
	// BeforeTableSync runs before the derived table is synced.
	BeforeTableSync func(topic string, partition int32) error
}

// Config configures the cold tier of one broker.
type Config struct {
	Bucket     objstore.Bucket
	Meta       *meta.Client
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// TempDir holds Parquet files being written (default
	// $TMPDIR/strata-tier); leftovers are removed at New.
	TempDir string
	// UploadConcurrency bounds the partitions tiered at once (default 2).
	UploadConcurrency int
	// Interval is how often partitions are checked for work (default 2s).
	Interval time.Duration
	// CacheBytes bounds the row-group cache of cold reads, and apart from
	// it the bytes cold reads load at once (row groups, pages), however many
	// run (default 128 MiB).
	CacheBytes int64
	// ReadAhead is how many row groups past the last one read are loaded in
	// the background (default 2).
	ReadAhead int
	// RowGroupBytes is the target of uncompressed data per row group
	// (default 64 MiB).
	RowGroupBytes int64
	// OrphanGrace: an object no manifest entry names is deleted once it is
	// this old (default 1h): an upload in flight is never taken for one.
	OrphanGrace time.Duration
	// SweepInterval is how often orphans are looked for (default 10m).
	SweepInterval time.Duration
	// SweepDeletedTopics also deletes the objects of topics that no longer
	// exist (the controller's job in a cluster).
	SweepDeletedTopics bool
	// MergeMinAge: a group of small files that together stay under half the
	// target size is merged only once its newest file is this old (default
	// 1h); groups reaching half the target are merged at once.
	MergeMinAge time.Duration
	// MaintenanceInterval is how often remote retention and merges run per
	// partition (default 30s; the broker passes its retention check
	// interval).
	MaintenanceInterval time.Duration
	// MaxBackoff caps the retry delay after failures (default 30s).
	MaxBackoff time.Duration
	// RetireGrace: an object a merge or retention dropped from the
	// manifest and the derived table is deleted this long after the table
	// commit (default 1m), so that a reader that planned its scan on the
	// snapshot before still finds it. (Without a table: at once.)
	RetireGrace time.Duration
	// Tables, if set, keeps each topic's derived table (Iceberg) in step
	// with its manifest, for topics whose Settings.Iceberg is on.
	Tables TableSync
	// Decoders, if set, decodes values into typed columns for topics whose
	// Settings.TypedColumns is on.
	Decoders ValueDecoders
	// Hooks are for tests.
	Hooks *Hooks
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.TempDir == "" {
		c.TempDir = filepath.Join(os.TempDir(), "strata-tier")
	}
	if c.UploadConcurrency <= 0 {
		c.UploadConcurrency = 2
	}
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = 128 << 20
	}
	if c.ReadAhead < 0 {
		c.ReadAhead = 0
	} else if c.ReadAhead == 0 {
		c.ReadAhead = 2
	}
	if c.RowGroupBytes <= 0 {
		c.RowGroupBytes = coldfile.DefaultRowGroupBytes
	}
	if c.OrphanGrace <= 0 {
		c.OrphanGrace = time.Hour
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = 10 * time.Minute
	}
	if c.MergeMinAge <= 0 {
		c.MergeMinAge = time.Hour
	}
	if c.MaintenanceInterval <= 0 {
		c.MaintenanceInterval = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.RetireGrace <= 0 {
		c.RetireGrace = time.Minute
	}
	if c.Hooks == nil {
		c.Hooks = &Hooks{}
	}
}

// ErrOffsetOutOfRange: the offset is below the first tiered offset (remote
// retention may have removed it since the caller's ColdRange). It wraps
// hotlog.ErrOffsetOutOfRange, the sentinel the broker answers
// OFFSET_OUT_OF_RANGE for, whichever tier the offset was looked for in.
var ErrOffsetOutOfRange = fmt.Errorf("tiering: offset below the cold tier's start: %w", hotlog.ErrOffsetOutOfRange)

// Tier is a broker's cold tier: the tierer that uploads sealed segments,
// the remote retention, merges and orphan sweeps it runs in the background,
// and the cold reads the broker serves fetches from.
type Tier struct {
	cfg    Config
	bucket objstore.Bucket
	meta   *meta.Client
	log    *slog.Logger
	m      *metrics
	cache  *coldfile.Cache
	files  *coldfile.LRU[fileKey, *coldfile.File]
	mf     *manifestCache

	storeErr atomic.Pointer[error]
	prefetch chan struct{}

	mu     sync.Mutex
	parts  map[partKey]*partState
	source func() []Partition

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New creates the cold tier; Start begins the background work. Cold reads
// work without Start.
func New(cfg Config) (*Tier, error) {
	cfg.setDefaults()
	if cfg.Bucket == nil || cfg.Meta == nil {
		return nil, errors.New("tiering: no bucket or no metadata client")
	}
	if err := os.MkdirAll(cfg.TempDir, 0o755); err != nil {
		return nil, fmt.Errorf("tiering: temp dir: %w", err)
	}
	if ents, err := os.ReadDir(cfg.TempDir); err == nil {
		for _, e := range ents {
			if filepath.Ext(e.Name()) == ".tmp" {
				os.Remove(filepath.Join(cfg.TempDir, e.Name()))
			}
		}
	}
	m := newMetrics()
	t := &Tier{
		cfg: cfg, bucket: cfg.Bucket, meta: cfg.Meta, log: cfg.Logger.With("component", "tiering"), m: m,
		cache:    coldfile.NewCache(cfg.CacheBytes, m),
		files:    coldfile.NewLRU[fileKey, *coldfile.File](openFiles, nil, time.Minute),
		mf:       newManifestCache(),
		prefetch: make(chan struct{}, 4),
		parts:    map[partKey]*partState{},
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	m.register(cfg.Registerer, t)
	t.wg.Add(1)
	go t.watchManifests()
	return t, nil
}

// Start begins tiering the partitions source returns (called every
// Interval).
func (t *Tier) Start(source func() []Partition) {
	t.mu.Lock()
	t.source = source
	t.mu.Unlock()
	t.wg.Add(1)
	go t.loop()
}

// Close stops the background work and waits for it.
func (t *Tier) Close() error {
	t.cancel()
	t.wg.Wait()
	return nil
}

// StoreError is the last object-store failure of the background work, nil
// once an operation worked again.
func (t *Tier) StoreError() error {
	if p := t.storeErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (t *Tier) noteStore(err error) {
	if err == nil {
		t.storeErr.Store(nil)
		return
	}
	if errors.Is(err, objstore.ErrNotExist) || errors.Is(err, context.Canceled) {
		return
	}
	t.storeErr.Store(&err)
}

// Bucket is the object store.
func (t *Tier) Bucket() objstore.Bucket { return t.bucket }

// --- manifest cache -------------------------------------------------------

type tp struct {
	topic     string
	partition int32
}

// manifestCache caches partition manifests read from etcd. An entry is
// dropped whenever the etcd watch reports a change to it (or the watch is
// re-established), and replaced when this broker writes the manifest; a
// load that raced with an invalidation is not stored.
type manifestCache struct {
	mu   sync.Mutex
	m    map[tp][]meta.TierSegment
	gen  map[tp]uint64
	all  uint64
	live bool // the watch is established
}

func newManifestCache() *manifestCache {
	return &manifestCache{m: map[tp][]meta.TierSegment{}, gen: map[tp]uint64{}}
}

func (c *manifestCache) lookup(k tp) ([]meta.TierSegment, bool, uint64, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	segs, ok := c.m[k]
	return segs, ok && c.live, c.gen[k], c.all
}

func (c *manifestCache) store(k tp, segs []meta.TierSegment, gen, all uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[k] == gen && c.all == all {
		c.m[k] = segs
	}
}

// set replaces an entry with what this broker just wrote.
func (c *manifestCache) set(k tp, segs []meta.TierSegment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen[k]++
	c.m[k] = segs
}

func (c *manifestCache) invalidate(k tp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen[k]++
	delete(c.m, k)
}

func (c *manifestCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all++
	c.live = live
	clear(c.m)
}

func (t *Tier) watchManifests() {
	defer t.wg.Done()
	for ev := range t.meta.WatchTier(t.ctx) {
		if ev.Reset {
			t.mf.reset(true)
			continue
		}
		t.mf.invalidate(tp{ev.Topic, ev.Partition})
	}
	t.mf.reset(false)
}

// manifest returns the partition's manifest, cached while the etcd watch
// keeps it valid.
func (t *Tier) manifest(ctx context.Context, topic string, partition int32) ([]meta.TierSegment, error) {
	k := tp{topic, partition}
	segs, ok, gen, all := t.mf.lookup(k)
	if ok {
		return segs, nil
	}
	segs, err := t.meta.TierSegments(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	t.mf.store(k, segs, gen, all)
	return segs, nil
}

// --- opened files -----------------------------------------------------------

// fileKey names one version of an object: a topic deleted and created
// again may store different bytes under the same key.
type fileKey struct {
	object   string
	size     int64
	etag     string
	uploaded int64
}

// openFiles is how many opened Parquet objects (footer, page index and
// row-group map) a Tier keeps, LRU.
const openFiles = 256

// dropObject matches every version of an object (deleted, or found damaged).
func dropObject(object string) func(fileKey) bool {
	return func(k fileKey) bool { return k.object == object }
}

func (t *Tier) open(ctx context.Context, seg meta.TierSegment) (*coldfile.File, error) {
	k := fileKey{seg.Object, seg.Size, seg.ETag, seg.UploadedAt}
	rf, _, err := t.files.Load(ctx, k, func(ctx context.Context) (*coldfile.File, error) {
		return coldfile.Open(ctx, t.bucket, seg.Object, seg.Size, coldfile.Options{ETag: seg.ETag, Version: seg.UploadedAt, Cache: t.cache, Observer: t.m})
	})
	if err != nil {
		return nil, err
	}
	if rf.Info().Topic != seg.Topic || rf.Info().Partition != seg.Partition || rf.Info().BaseOffset != seg.BaseOffset || rf.Info().LastOffset != seg.LastOffset {
		t.files.DropIf(dropObject(seg.Object))
		return nil, fmt.Errorf("%w: object %s holds %s-%d [%d, %d], the manifest says %s-%d [%d, %d]", ErrCorrupt, seg.Object,
			rf.Info().Topic, rf.Info().Partition, rf.Info().BaseOffset, rf.Info().LastOffset, seg.Topic, seg.Partition, seg.BaseOffset, seg.LastOffset)
	}
	return rf, nil
}

// --- cold reads ---------------------------------------------------------------

// ColdRange returns the offsets the cold tier holds for the partition:
// [start, end), or -1, -1 when it holds none.
func (t *Tier) ColdRange(ctx context.Context, topic string, partition int32) (start, end int64, err error) {
	segs, err := t.manifest(ctx, topic, partition)
	if err != nil {
		return -1, -1, err
	}
	if len(segs) == 0 {
		return -1, -1, nil
	}
	return segs[0].BaseOffset, segs[len(segs)-1].LastOffset + 1, nil
}

// ColdEpochs lists the leader epochs of the tiered offsets, oldest first,
// each with the first offset it holds (from the manifest entries' epochs).
func (t *Tier) ColdEpochs(ctx context.Context, topic string, partition int32) ([]meta.TierEpoch, error) {
	segs, err := t.manifest(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	var out []meta.TierEpoch
	for _, s := range segs {
		for _, e := range s.LeaderEpochs {
			if len(out) == 0 || e.Epoch > out[len(out)-1].Epoch {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// ColdRead reads record batches of the partition from offset, rebuilt from
// the Parquet objects: records below endOffset only, at most maxBytes
// (except that with minOneBatch the first batch always comes back).
// ErrOffsetOutOfRange if offset is below the cold tier's start; nil, nil
// if the cold tier holds nothing at or after offset.
func (t *Tier) ColdRead(ctx context.Context, topic string, partition int32, offset, endOffset int64, maxBytes int, minOneBatch bool) ([]byte, error) {
	start := time.Now()
	var out []byte
	var err error
	for attempt := 0; ; attempt++ {
		out, err = t.coldRead(ctx, topic, partition, offset, endOffset, maxBytes, minOneBatch)
		// An object deleted under us (a merge or retention swapped the
		// manifest since it was cached): read the manifest again, once.
		if attempt == 0 && errors.Is(err, objstore.ErrNotExist) {
			t.mf.invalidate(tp{topic, partition})
			continue
		}
		break
	}
	if err != nil {
		if !errors.Is(err, ErrOffsetOutOfRange) {
			t.m.coldFetchErrors.Inc()
		}
		return nil, err
	}
	t.m.coldFetchSeconds.Observe(time.Since(start).Seconds())
	t.m.coldFetchBytes.Add(float64(len(out)))
	return out, nil
}

func (t *Tier) coldRead(ctx context.Context, topic string, partition int32, offset, endOffset int64, maxBytes int, minOne bool) ([]byte, error) {
	segs, err := t.manifest(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	if len(segs) > 0 && offset < segs[0].BaseOffset {
		return nil, fmt.Errorf("%w: offset %d, cold tier starts at %d", ErrOffsetOutOfRange, offset, segs[0].BaseOffset)
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].LastOffset >= offset })
	if i == len(segs) || offset >= endOffset || (maxBytes <= 0 && !minOne) {
		// Nothing to read, or no budget to return it in (a Fetch whose
		// earlier partitions spent it): no object is opened.
		return nil, nil
	}
	bb := newBatchBuilder(maxBytes, minOne)
	var lastSeg, lastRG = -1, -1
	var lastRF *coldfile.File
	from := offset
scan:
	for ; i < len(segs); i++ {
		seg := segs[i]
		if seg.BaseOffset >= endOffset {
			break
		}
		rf, err := t.open(ctx, seg)
		if err != nil {
			return nil, err
		}
		for j := rf.RowGroupFor(from); j < len(rf.RowGroups()); j++ {
			rg := rf.RowGroups()[j]
			if rg.First >= endOffset {
				break scan
			}
			stopped := false
			take := func(r *coldfile.Row) error {
				if r.Offset >= endOffset || !bb.add(r) {
					stopped = true
					return coldfile.ErrStop
				}
				from = r.Offset + 1
				return nil
			}
			if rf.PagedRead(j, int64(bb.left())) {
				// A row group much larger than the budget: only the pages
				// that hold what the budget can return, window by window
				// while it lasts; no read-ahead of such row groups.
				lastRF = nil
				for from <= rg.Last && !stopped {
					next, err := rf.ScanPages(ctx, j, from, int64(bb.left()), take)
					if err != nil && !errors.Is(err, coldfile.ErrStop) {
						return nil, err
					}
					from = max(from, next)
				}
			} else {
				if err := rf.LoadRowGroup(ctx, j); err != nil {
					return nil, err
				}
				lastSeg, lastRG, lastRF = i, j, rf
				err := rf.ScanRowGroup(j, from, take)
				if err != nil && !errors.Is(err, coldfile.ErrStop) {
					return nil, err
				}
			}
			if stopped {
				break scan
			}
		}
	}
	if lastRF != nil && t.cfg.ReadAhead > 0 {
		t.readAhead(segs, lastSeg, lastRG, lastRF, endOffset)
	}
	return bb.finish(), nil
}

// readAhead loads, in the background, the row groups after (seg, rg), so
// that a consumer reading on finds them in the cache.
func (t *Tier) readAhead(segs []meta.TierSegment, seg, rg int, rf *coldfile.File, endOffset int64) {
	if t.ctx.Err() != nil {
		return // closing
	}
	select {
	case t.prefetch <- struct{}{}:
	default:
		return // enough read-ahead running
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() { <-t.prefetch }()
		ctx, cancel := context.WithTimeout(t.ctx, time.Minute)
		defer cancel()
		left := t.cfg.ReadAhead
		var wg sync.WaitGroup
		for i := seg; i < len(segs) && left > 0; i++ {
			if segs[i].BaseOffset >= endOffset {
				break
			}
			f := rf
			j0 := rg + 1
			if i != seg {
				var err error
				if f, err = t.open(ctx, segs[i]); err != nil {
					return
				}
				j0 = 0
			}
			for j := j0; j < len(f.RowGroups()) && left > 0; j++ {
				if f.RowGroups()[j].First >= endOffset {
					break
				}
				left--
				wg.Add(1)
				go func(f *coldfile.File, j int) {
					defer wg.Done()
					_ = f.LoadRowGroup(ctx, j)
				}(f, j)
			}
		}
		wg.Wait()
	}()
}

// ColdOffsetForTimestamp finds the first tiered record whose timestamp is
// >= ts.
func (t *Tier) ColdOffsetForTimestamp(ctx context.Context, topic string, partition int32, ts int64) (offset, timestamp int64, found bool, err error) {
	segs, err := t.manifest(ctx, topic, partition)
	if err != nil {
		return -1, -1, false, err
	}
	for _, seg := range segs {
		if seg.MaxTimestamp < ts {
			continue
		}
		off, t2, ok, err := t.findTimestamp(ctx, seg, ts)
		if err != nil || ok {
			return off, t2, ok, err
		}
	}
	return -1, -1, false, nil
}

// ColdMaxTimestamp finds the tiered record with the largest timestamp
// (the first, if several share it).
func (t *Tier) ColdMaxTimestamp(ctx context.Context, topic string, partition int32) (offset, timestamp int64, found bool, err error) {
	segs, err := t.manifest(ctx, topic, partition)
	if err != nil {
		return -1, -1, false, err
	}
	best := -1
	for i, seg := range segs {
		if seg.MaxTimestamp >= 0 && (best < 0 || seg.MaxTimestamp > segs[best].MaxTimestamp) {
			best = i
		}
	}
	if best < 0 {
		return -1, -1, false, nil
	}
	return t.findTimestamp(ctx, segs[best], segs[best].MaxTimestamp)
}

func (t *Tier) findTimestamp(ctx context.Context, seg meta.TierSegment, ts int64) (int64, int64, bool, error) {
	rf, err := t.open(ctx, seg)
	if err != nil {
		return -1, -1, false, err
	}
	for j, rg := range rf.RowGroups() {
		if rg.MaxTs >= 0 && rg.MaxTs < ts {
			continue // pruned by the timestamp statistics
		}
		if err := rf.LoadRowGroup(ctx, j); err != nil {
			return -1, -1, false, err
		}
		off, found := int64(-1), int64(-1)
		err := rf.ScanRowGroup(j, 0, func(r *coldfile.Row) error {
			if r.Timestamp >= ts {
				off, found = r.Offset, r.Timestamp
				return coldfile.ErrStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, coldfile.ErrStop) {
			return -1, -1, false, err
		}
		if off >= 0 {
			return off, found, true, nil
		}
	}
	return -1, -1, false, nil
}
