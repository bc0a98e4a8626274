package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/iceberg"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/tiering/coldfile"
)

// Errors a caller may want to tell apart.
var (
	ErrUnknownTopic = errors.New("unknown topic")
	ErrEmptyRange   = errors.New("empty range")
)

// Config says where a range is read from.
type Config struct {
	// Client talks to the brokers (hot part, offsets, metadata).
	Client *kgo.Client
	// Bucket is the cold tier's object store (the broker's
	// --object-store). nil: everything is fetched from the brokers, which
	// serve cold offsets too, only slower.
	Bucket objstore.Bucket
	// Cold names a partition's cold files; default ListingSource{Bucket}.
	Cold ColdSource
	// BatchRows is the number of rows per record batch (default 8192).
	BatchRows int
	// Allocator for Arrow buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Snapshots reads a snapshot of a topic's Iceberg table (for a
	// Range.Snapshot); default iceberg.ReadSnapshot on Bucket.
	Snapshots SnapshotReader
}

// Range is what to read. Offsets: FromOffset inclusive, ToOffset
// exclusive; -1 means the log start / the high watermark at plan time.
// FromTime/ToTime (if not zero) are turned into offsets with ListOffsets,
// as Kafka consumers do: the range starts at the first offset whose
// timestamp is >= FromTime and ends before the first offset whose
// timestamp is > ToTime.
type Range struct {
	Topic      string
	Partitions []int32 // nil: all
	FromOffset int64
	ToOffset   int64
	FromTime   time.Time
	ToTime     time.Time
	// Snapshot, if set, reads the topic's Iceberg table as of that
	// snapshot instead of the live log: its files only, brokers unasked.
	Snapshot *iceberg.SnapshotSelector
	// ReadUncommitted reads every record up to the high watermark:
	// records of aborted and open transactions, and the transaction
	// markers (control records). By default a read is read_committed
	// (committed.go).
	ReadUncommitted bool
}

// AllOffsets is a Range over a whole topic.
func AllOffsets(topic string) Range { return Range{Topic: topic, FromOffset: -1, ToOffset: -1} }

// PartitionRange is [Start, End) of one partition.
type PartitionRange struct {
	Partition  int32
	Start, End int64
}

// Plan is a resolved Range.
type Plan struct {
	Topic   string
	Parts   []PartitionRange // partitions with at least one offset
	Records int64            // offsets in the plan (an upper bound of rows)
	// Snapshot is the id of the table snapshot read (0: the live log).
	Snapshot int64
	// ReadUncommitted: Range.ReadUncommitted.
	ReadUncommitted bool
	files           map[int32][]ColdFile // a snapshot's files, in place of Config.Cold
	topicID         [16]byte
	leaders         map[int32]int32
}

// Planner resolves ranges against the brokers.
type Planner struct{ cfg Config }

func NewPlanner(cfg Config) *Planner {
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 8192
	}
	if cfg.Allocator == nil {
		cfg.Allocator = memory.DefaultAllocator
	}
	if cfg.Cold == nil && cfg.Bucket != nil {
		cfg.Cold = ListingSource{Bucket: cfg.Bucket}
	}
	return &Planner{cfg: cfg}
}

// Topics lists the topics of the cluster (internal ones left out), sorted.
func (q *Planner) Topics(ctx context.Context) ([]string, error) {
	tds, err := kadm.NewClient(q.cfg.Client).ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	names := tds.Names()
	slices.Sort(names)
	return names, nil
}

// Plan resolves r: partitions, times to offsets, open ends to the log
// start and the high watermark. ErrUnknownTopic or ErrEmptyRange (wrapped)
// when there is nothing to read.
func (q *Planner) Plan(ctx context.Context, r Range) (*Plan, error) {
	if r.Snapshot != nil {
		return q.planSnapshot(ctx, r)
	}
	adm := kadm.NewClient(q.cfg.Client)
	md, err := adm.Metadata(ctx, r.Topic)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	td, ok := md.Topics[r.Topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("%w %q", ErrUnknownTopic, r.Topic)
	}
	if td.Err != nil {
		return nil, fmt.Errorf("topic %q: %w", r.Topic, td.Err)
	}
	p := &Plan{Topic: r.Topic, topicID: td.ID, leaders: map[int32]int32{}, ReadUncommitted: r.ReadUncommitted}
	parts := r.Partitions
	if len(parts) == 0 {
		for _, pd := range td.Partitions.Sorted() {
			parts = append(parts, pd.Partition)
		}
	}
	for _, part := range parts {
		pd, ok := td.Partitions[part]
		if !ok {
			return nil, fmt.Errorf("%w: topic %q has no partition %d (it has %d)", ErrUnknownTopic, r.Topic, part, len(td.Partitions))
		}
		p.leaders[part] = pd.Leader
	}
	starts, err := adm.ListStartOffsets(ctx, r.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %q: %w", r.Topic, err)
	}
	listEnds := adm.ListCommittedOffsets // the last stable offsets
	if r.ReadUncommitted {
		listEnds = adm.ListEndOffsets
	}
	ends, err := listEnds(ctx, r.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %q: %w", r.Topic, err)
	}
	var fromT, toT kadm.ListedOffsets
	if !r.FromTime.IsZero() {
		if fromT, err = adm.ListOffsetsAfterMilli(ctx, r.FromTime.UnixMilli(), r.Topic); err != nil {
			return nil, fmt.Errorf("offsets for time %s: %w", r.FromTime.Format(time.RFC3339), err)
		}
	}
	if !r.ToTime.IsZero() {
		if toT, err = adm.ListOffsetsAfterMilli(ctx, r.ToTime.UnixMilli()+1, r.Topic); err != nil {
			return nil, fmt.Errorf("offsets for time %s: %w", r.ToTime.Format(time.RFC3339), err)
		}
	}
	for _, part := range parts {
		s, _ := starts.Lookup(r.Topic, part)
		e, _ := ends.Lookup(r.Topic, part)
		start, end := s.Offset, e.Offset
		if r.FromOffset >= 0 {
			start = max(start, r.FromOffset)
		}
		if r.ToOffset >= 0 {
			end = min(end, r.ToOffset)
		}
		if fromT != nil {
			if o, ok := fromT.Lookup(r.Topic, part); ok && o.Err == nil && o.Offset >= 0 {
				start = max(start, o.Offset)
			}
		}
		if toT != nil {
			if o, ok := toT.Lookup(r.Topic, part); ok && o.Err == nil && o.Offset >= 0 {
				end = min(end, o.Offset)
			}
		}
		if start < end {
			p.Parts = append(p.Parts, PartitionRange{Partition: part, Start: start, End: end})
			p.Records += end - start
		}
	}
	if len(p.Parts) == 0 {
		return nil, fmt.Errorf("%w: no records of %q in the range", ErrEmptyRange, r.Topic)
	}
	return p, nil
}

// Stats count what a scan has produced so far.
type Stats struct {
	Rows      int64
	Bytes     int64 // keys, values and headers
	ColdRows  int64
	HotRows   int64
	ColdFiles int64
	ColdGets  int64
}

// Scanner streams a plan's rows, partition by partition, each in offset
// order. Next returns Arrow records; NextRows the rows themselves.
type Scanner struct {
	cfg    Config
	plan   *Plan
	schema *arrow.Schema
	ch     chan []coldfile.Row
	cancel context.CancelFunc
	done   chan struct{}
	err    error

	mu    sync.Mutex
	stats Stats
}

type partInfo struct {
	partition int32
	aborts    abortMarker // of the hot rows read so far
}

// Scan starts reading the plan in the background, at most two batches
// ahead of the caller. columns projects the Arrow records (nil: all).
func (q *Planner) Scan(ctx context.Context, p *Plan, columns []string) (*Scanner, error) {
	schema, err := ProjectedSchema(columns)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Scanner{cfg: q.cfg, plan: p, schema: schema, ch: make(chan []coldfile.Row, 2), cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s, nil
}

// Schema of the records Next returns.
func (s *Scanner) Schema() *arrow.Schema { return s.schema }

// Plan being scanned.
func (s *Scanner) Plan() *Plan { return s.plan }

// Stats so far.
func (s *Scanner) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// NextRows returns the next rows (at most BatchRows), or io.EOF after the
// last, or the error that stopped the scan.
func (s *Scanner) NextRows() ([]coldfile.Row, error) {
	rows, ok := <-s.ch
	if ok {
		return rows, nil
	}
	<-s.done
	if s.err != nil {
		return nil, s.err
	}
	return nil, io.EOF
}

// Next returns the next record batch (the caller releases it), or io.EOF.
func (s *Scanner) Next() (arrow.RecordBatch, error) {
	rows, err := s.NextRows()
	if err != nil {
		return nil, err
	}
	rb := newRecordBuilder(s.cfg.Allocator, s.schema)
	defer rb.release()
	for i := range rows {
		rb.add(&rows[i])
	}
	return rb.build(), nil
}

// Close stops the scan.
func (s *Scanner) Close() {
	s.cancel()
	for range s.ch {
	}
	<-s.done
}

func (s *Scanner) run(ctx context.Context) {
	defer close(s.done)
	defer close(s.ch)
	var buf []coldfile.Row
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		select {
		case s.ch <- buf:
		case <-ctx.Done():
			return ctx.Err()
		}
		buf = make([]coldfile.Row, 0, s.cfg.BatchRows)
		return nil
	}
	emit := func(cold bool) func(r *coldfile.Row) error {
		return func(r *coldfile.Row) error {
			if !s.plan.ReadUncommitted && !committedRow(r) {
				return nil
			}
			buf = append(buf, *r)
			s.mu.Lock()
			s.stats.Rows++
			n := int64(len(r.Key) + len(r.Value))
			for _, h := range r.Headers {
				n += int64(len(h.Key) + len(h.Value))
			}
			s.stats.Bytes += n
			if cold {
				s.stats.ColdRows++
			} else {
				s.stats.HotRows++
			}
			s.mu.Unlock()
			if len(buf) >= s.cfg.BatchRows {
				return flush()
			}
			return nil
		}
	}
	for _, pr := range s.plan.Parts {
		if err := s.scanPartition(ctx, pr, emit(true), emit(false)); err != nil {
			s.err = err
			return
		}
	}
	if err := flush(); err != nil {
		s.err = err
	}
}

func (s *Scanner) scanPartition(ctx context.Context, pr PartitionRange, cold, hot func(*coldfile.Row) error) error {
	pi := &partInfo{partition: pr.Partition}
	files := s.plan.files[pr.Partition]
	if s.plan.files == nil && s.cfg.Cold != nil {
		var err error
		if files, err = s.cfg.Cold.ColdFiles(ctx, s.plan.Topic, pr.Partition); err != nil {
			return fmt.Errorf("cold tier of %s/%d: %w", s.plan.Topic, pr.Partition, err)
		}
	}
	next := pr.Start
	for next < pr.End {
		if f, ok := fileFor(files, next); ok {
			cf, err := coldfile.Open(ctx, s.cfg.Bucket, f.Key, f.Size, coldfile.Options{})
			if err != nil {
				return fmt.Errorf("cold tier of %s/%d: %w", s.plan.Topic, pr.Partition, err)
			}
			stop := min(f.Last+1, pr.End)
			err = cf.ScanRange(ctx, next, stop, cold)
			s.mu.Lock()
			s.stats.ColdFiles++
			s.stats.ColdGets += cf.Gets()
			s.mu.Unlock()
			if err != nil {
				return fmt.Errorf("cold tier of %s/%d: %w", s.plan.Topic, pr.Partition, err)
			}
			next = stop
			continue
		}
		if s.plan.files != nil {
			return fmt.Errorf("snapshot %d of %s/%d holds no file with offset %d", s.plan.Snapshot, s.plan.Topic, pr.Partition, next)
		}
		stop := pr.End
		if nb := nextFileBase(files, next); nb >= 0 && nb < stop {
			stop = nb
		}
		n, err := s.fetchHot(ctx, pi, next, stop, hot)
		if err != nil {
			return err
		}
		next = n
	}
	return nil
}

// leader returns the partition's leader, refreshing metadata if asked.
func (s *Scanner) leader(ctx context.Context, pi *partInfo, refresh bool) (int32, error) {
	s.mu.Lock()
	l, ok := s.plan.leaders[pi.partition]
	s.mu.Unlock()
	if ok && l >= 0 && !refresh {
		return l, nil
	}
	md, err := kadm.NewClient(s.cfg.Client).Metadata(ctx, s.plan.Topic)
	if err != nil {
		return -1, fmt.Errorf("metadata of %q: %w", s.plan.Topic, err)
	}
	td := md.Topics[s.plan.Topic]
	pd, ok := td.Partitions[pi.partition]
	if !ok || pd.Leader < 0 {
		return -1, fmt.Errorf("%s/%d has no leader", s.plan.Topic, pi.partition)
	}
	s.mu.Lock()
	s.plan.leaders[pi.partition] = pd.Leader
	s.mu.Unlock()
	return pd.Leader, nil
}
