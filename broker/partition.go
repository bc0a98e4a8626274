package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/recordbatch"
)

// Partition is one partition this broker leads: its hot log, leader epoch
// and high watermark.
type Partition struct {
	b       *Broker
	topic   string
	topicID [16]byte
	index   int32
	log     *hotlog.Log

	appendMu sync.Mutex // orders validation-to-append so offsets follow arrival

	cfg         atomic.Pointer[TopicConfig]
	leaderEpoch atomic.Int32
	hw          atomic.Int64
	unflushed   atomic.Int64 // messages appended since the last fsync
	lastFlush   atomic.Int64 // unix nanos of the last fsync
	bgFlushing  atomic.Bool  // a background fsync (flushIfDue) runs

	waitMu sync.Mutex
	waitCh chan struct{} // closed when the high watermark or log end moves, or the partition closes
	closed bool

	repl replication

	clean partitionClean // the log cleaner's last measure (cleaner.go)

	// recordsStart is the DeleteRecords log start (logstart.go), or
	// logStartUnknown until read from etcd.
	recordsStart atomic.Int64
}

func openPartition(b *Broker, t meta.Topic, st meta.PartitionState, cfg TopicConfig) (*Partition, error) {
	lc := logConfig(cfg, b.cfg.Cold != nil)
	lc.Files = b.files
	lc.SyncFile = b.cfg.SyncFile
	l, err := b.openPartitionLog(t, st, lc)
	if err != nil {
		return nil, err
	}
	p := &Partition{b: b, topic: t.Name, topicID: t.ID, index: st.Partition, log: l, waitCh: make(chan struct{})}
	p.cfg.Store(&cfg)
	p.recordsStart.Store(logStartUnknown)
	p.leaderEpoch.Store(st.LeaderEpoch)
	p.repl.state = meta.PartitionState{Leader: -1, LeaderEpoch: -1, Revision: -1}
	// A sole replica has everything committed that it recovered; with
	// followers, the high watermark grows again as they report in (a
	// restarted follower's is the leader's, learned at its first fetch).
	if len(st.Replicas) <= 1 {
		p.hw.Store(l.LogEndOffset())
	}
	p.lastFlush.Store(time.Now().UnixNano())
	return p, nil
}

// logConfig is the hot log's configuration. With a cold tier (and
// remote.storage.enable) local retention is local.retention.ms/bytes, and
// retention.ms/bytes apply to the cold tier.
func logConfig(c TopicConfig, cold bool) hotlog.Config {
	cfg := hotlog.DefaultConfig()
	cfg.SegmentBytes = c.SegmentBytes
	cfg.SegmentAge = time.Duration(c.SegmentMs) * time.Millisecond
	retMs, retBytes := c.RetentionMs, c.RetentionBytes
	if cold && c.RemoteStorageEnable {
		retMs, retBytes = c.LocalRetentionMs, c.LocalRetentionBytes
	}
	cfg.RetentionAge = time.Duration(retMs) * time.Millisecond
	if retMs < 0 {
		cfg.RetentionAge = -1
	}
	cfg.RetentionBytes = retBytes
	if c.IndexIntervalBytes > 0 {
		cfg.IndexIntervalBytes = c.IndexIntervalBytes
	}
	cfg.ProducerIDExpiration = time.Duration(c.ProducerIDExpirationMs) * time.Millisecond
	cfg.Compact = c.Compact
	cfg.MinCleanableDirtyRatio = c.MinCleanableDirtyRatio
	cfg.MinCompactionLag = msDuration(c.MinCompactionLagMs)
	cfg.MaxCompactionLag = msDuration(c.MaxCompactionLagMs)
	cfg.DeleteRetention = msDuration(c.DeleteRetentionMs)
	return cfg
}

// msDuration converts a millisecond config; values past what a Duration
// holds (Kafka's Long.MAX_VALUE defaults) are 0, no limit.
func msDuration(ms int64) time.Duration {
	if ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

func (p *Partition) setConfig(c TopicConfig) {
	p.cfg.Store(&c)
	p.log.SetConfig(logConfig(c, p.b.cfg.Cold != nil))
}

// Topic, Index and TopicID name the partition.
func (p *Partition) Topic() string     { return p.topic }
func (p *Partition) Index() int32      { return p.index }
func (p *Partition) TopicID() [16]byte { return p.topicID }

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch.Load() }

// HighWatermark is the offset below which records are committed and
// visible to consumers.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// LogStartOffset is the first offset still stored.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset is the next offset to be assigned.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// Wait returns a channel closed the next time the high watermark moves
// (or the partition closes): long-polling fetches wait on it.
func (p *Partition) Wait() <-chan struct{} {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	return p.waitCh
}

func (p *Partition) notify() {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	if p.closed {
		return
	}
	close(p.waitCh)
	p.waitCh = make(chan struct{})
}

func (p *Partition) markClosed() {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.waitCh)
	}
}

func (p *Partition) close() error {
	p.markClosed()
	p.stopReplication()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.log.Close()
}

func (p *Partition) delete() error {
	p.markClosed()
	p.stopReplication()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.log.Delete()
}

// checkEpoch applies KIP-320: a client that knows a newer epoch than ours
// gets UNKNOWN_LEADER_EPOCH (we are behind), an older one FENCED_LEADER_EPOCH.
func (p *Partition) checkEpoch(clientEpoch int32) error {
	if clientEpoch < 0 {
		return nil
	}
	ours := p.leaderEpoch.Load()
	switch {
	case clientEpoch > ours:
		return fmt.Errorf("%w: client epoch %d, leader epoch %d", kerr.UnknownLeaderEpoch, clientEpoch, ours)
	case clientEpoch < ours:
		return fmt.Errorf("%w: client epoch %d, leader epoch %d", kerr.FencedLeaderEpoch, clientEpoch, ours)
	}
	return nil
}

// AppendResult is what a produce request learns about its batches.
type AppendResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
}

// Acks values of the produce request.
const (
	AcksNone   int16 = 0
	AcksLeader int16 = 1
	AcksAll    int16 = -1
)

// Append validates and appends the batches of one produce partition.
// acks=all returns only after the batches are fsynced (group commit).
func (p *Partition) Append(ctx context.Context, records []byte, acks int16) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1}
	if acks != AcksNone && acks != AcksLeader && acks != AcksAll {
		return res, fmt.Errorf("%w: acks=%d", kerr.InvalidRequiredAcks, acks)
	}
	cfg := p.cfg.Load()
	headers, err := recordbatch.Validate(records, recordbatch.DefaultMaxDecompressed)
	if err != nil {
		if errors.Is(err, recordbatch.ErrCorrupt) {
			return res, fmt.Errorf("%w: %v", kerr.CorruptMessage, err)
		}
		return res, fmt.Errorf("%w: %v", kerr.InvalidRecord, err)
	}
	var count int64
	for _, h := range headers {
		if h.Size() > int(cfg.MaxMessageBytes) {
			return res, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, h.Size(), cfg.MaxMessageBytes)
		}
		if h.IsControl() {
			return res, fmt.Errorf("%w: producers may not write control batches", kerr.InvalidRecord)
		}
		if h.IsTransactional() && h.ProducerID < 0 {
			return res, fmt.Errorf("%w: a transactional batch needs a producer id", kerr.InvalidRecord)
		}
		if int64(h.NumRecords) > int64(cfg.MaxMessageBytes) {
			// A record takes at least 7 bytes: no batch within
			// max.message.bytes holds more records than that, whatever
			// its compressed size; claiming more would burn offsets.
			return res, fmt.Errorf("%w: %w: batch claims %d records, more than max.message.bytes %d", kerr.InvalidRecord, recordbatch.ErrInvalid, h.NumRecords, cfg.MaxMessageBytes)
		}
		count += int64(h.NumRecords)
	}
	if cfg.Compact {
		if err := requireKeys(records, headers); err != nil {
			return res, err
		}
	}
	now := time.Now()
	if !cfg.LogAppendTime {
		if err := checkTimestamps(records, headers, now.UnixMilli(), cfg.TimestampBeforeMaxMs, cfg.TimestampAfterMaxMs); err != nil {
			return res, err
		}
	}
	if cfg.Compression >= 0 {
		if records, headers, err = recompress(records, headers, recordbatch.Codec(cfg.Compression)); err != nil {
			return res, err
		}
	}
	if cfg.LogAppendTime {
		res.LogAppendTime = now.UnixMilli()
		stampLogAppendTime(records, headers, res.LogAppendTime)
	}

	if acks == AcksAll {
		if n := p.isrSize(); n < int(cfg.MinInsyncReplicas) {
			return res, fmt.Errorf("%w: %d in-sync replicas, min.insync.replicas=%d", kerr.NotEnoughReplicas, n, cfg.MinInsyncReplicas)
		}
	}
	p.appendMu.Lock()
	if err := p.b.LogDirError(); err != nil {
		p.appendMu.Unlock()
		return res, fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	}
	if !p.isLeader() || p.b.fenced.Load() {
		p.appendMu.Unlock()
		return res, fmt.Errorf("%w: %s", kerr.NotLeaderForPartition, p)
	}
	info, err := p.log.Append(records, headers, p.leaderEpoch.Load(), now)
	p.appendMu.Unlock()
	if err == nil {
		p.maybeAdvanceHW()
	}
	if dup := (*hotlog.DuplicateBatchError)(nil); errors.As(err, &dup) {
		return p.appendDuplicate(ctx, res, dup, acks, cfg)
	}
	if err != nil {
		return res, p.appendError(err)
	}
	p.notify()
	p.b.metrics.appendedBytes.Add(float64(len(records)))
	p.b.metrics.appendedRecords.Add(float64(count))
	res.BaseOffset = info.FirstOffset
	res.LogStartOffset = p.log.LogStartOffset()

	pending := p.unflushed.Add(count)
	if acks == AcksAll || pending >= cfg.FlushMessages {
		if err := p.flush(info.LastOffset + 1); err != nil {
			return res, fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
		}
	}
	if acks == AcksAll {
		if err := p.waitReplicated(ctx, info.LastOffset, cfg.MinInsyncReplicas); err != nil {
			return res, err
		}
	}
	return res, nil
}

// appendError turns a hot log append error into the error a client gets.
func (p *Partition) appendError(err error) error {
	p.b.metrics.appendErrors.Inc()
	switch {
	case errors.Is(err, hotlog.ErrStorage):
		return fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	case errors.Is(err, hotlog.ErrOutOfOrderSequence):
		return fmt.Errorf("%w: %v", kerr.OutOfOrderSequenceNumber, err)
	case errors.Is(err, hotlog.ErrInvalidProducerEpoch):
		return fmt.Errorf("%w: %v", kerr.InvalidProducerEpoch, err)
	case errors.Is(err, hotlog.ErrInvalidTxnState):
		return fmt.Errorf("%w: %v", kerr.InvalidTxnState, err)
	case errors.Is(err, hotlog.ErrCoordinatorFenced):
		return fmt.Errorf("%w: %v", kerr.TransactionCoordinatorFenced, err)
	case errors.Is(err, hotlog.ErrInvalidBatch):
		return fmt.Errorf("%w: %v", kerr.InvalidRecord, err)
	}
	return fmt.Errorf("append %s/%d: %w", p.topic, p.index, err)
}

// appendDuplicate answers a retried batch that the log already holds with
// the offsets the original got, as Kafka does. The original may still be
// waiting for its fsync (or replication): acks=all waits for it as it
// would have.
func (p *Partition) appendDuplicate(ctx context.Context, res AppendResult, dup *hotlog.DuplicateBatchError, acks int16, cfg *TopicConfig) (AppendResult, error) {
	res.BaseOffset = dup.FirstOffset
	res.LogStartOffset = p.log.LogStartOffset()
	if cfg.LogAppendTime {
		res.LogAppendTime = dup.MaxTimestamp // the original's stamp
	}
	if acks == AcksAll {
		if err := p.flush(dup.LastOffset + 1); err != nil {
			return res, fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
		}
		if err := p.waitReplicated(ctx, dup.LastOffset, cfg.MinInsyncReplicas); err != nil {
			return res, err
		}
	}
	return res, nil
}

// flush makes every offset below upTo durable.
func (p *Partition) flush(upTo int64) error {
	start := time.Now()
	before := p.log.FlushedOffset()
	if err := p.log.FlushUpTo(upTo); err != nil {
		p.b.metrics.flushErrors.Inc()
		p.b.noteFlushError(p, err)
		return err
	}
	if p.log.FlushedOffset() > before {
		p.b.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	}
	p.unflushed.Store(0)
	p.lastFlush.Store(time.Now().UnixNano())
	return nil
}

// stampLogAppendTime marks batches (and their parsed headers) with the
// broker's clock, as Kafka does for message.timestamp.type=LogAppendTime.
func stampLogAppendTime(records []byte, headers []recordbatch.Header, ts int64) {
	off := 0
	for i := range headers {
		h := &headers[i]
		size := h.Size()
		recordbatch.StampLogAppendTime(records[off:off+size], h, ts)
		off += size
	}
}

// FetchResult is one partition's share of a fetch response.
type FetchResult struct {
	Records          []byte
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
}

// Fetch reads committed batches from offset. maxBytes bounds the answer
// except that minOneBatch lets the first batch through whatever its size
// (KIP-74), so a consumer can always make progress.
func (p *Partition) Fetch(offset int64, maxBytes int, minOneBatch bool, clientEpoch int32) (FetchResult, error) {
	if err := p.checkEpoch(clientEpoch); err != nil {
		return FetchResult{}, err
	}
	if _, err := p.loadLogStart(context.Background()); err != nil {
		return FetchResult{}, err
	}
	hw := p.hw.Load()
	res := FetchResult{HighWatermark: hw, LastStableOffset: p.log.LastStableOffset(hw), LogStartOffset: p.log.LogStartOffset()}
	if offset >= hw && offset <= p.log.LogEndOffset() {
		return res, nil
	}
	if p.readsCold(offset, res.LogStartOffset) {
		return p.fetchCold(offset, res.LogStartOffset, maxBytes, minOneBatch, res)
	}
	data, err := p.log.Read(offset, hw, maxBytes, minOneBatch)
	if err != nil {
		return res, p.readError(offset, err)
	}
	res.Records = data
	p.b.metrics.fetchedBytes.Add(float64(len(data)))
	return res, nil
}

// readError turns a hot log read error into the error a client gets.
func (p *Partition) readError(offset int64, err error) error {
	switch {
	case errors.Is(err, hotlog.ErrOffsetOutOfRange):
		return fmt.Errorf("%w: offset %d not in [%d, %d]", kerr.OffsetOutOfRange, offset, p.log.LogStartOffset(), p.log.LogEndOffset())
	case errors.Is(err, hotlog.ErrCorruptBatch):
		p.b.log.Error("corrupt data in stored segment", "topic", p.topic, "partition", p.index, "offset", offset, "err", err)
		return fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	}
	return fmt.Errorf("%w: read %s/%d: %v", kerr.KafkaStorageError, p.topic, p.index, err)
}

// Special ListOffsets timestamps.
const (
	ListLatest        int64 = -1
	ListEarliest      int64 = -2
	ListMaxTimestamp  int64 = -3
	ListEarliestLocal int64 = -4
)

// ListOffset answers ListOffsets for one partition: the offset and
// timestamp found (-1, -1 when no record qualifies) and the leader epoch.
func (p *Partition) ListOffset(ts int64, clientEpoch int32) (offset, timestamp int64, epoch int32, err error) {
	if err := p.checkEpoch(clientEpoch); err != nil {
		return -1, -1, -1, err
	}
	if _, err := p.loadLogStart(context.Background()); err != nil {
		return -1, -1, -1, err
	}
	epoch = p.leaderEpoch.Load()
	hw := p.hw.Load()
	switch ts {
	case ListLatest:
		if hw < p.termStartOffset() {
			return -1, -1, -1, fmt.Errorf("%w: high watermark %d has not reached the start %d of leader epoch %d", kerr.OffsetNotAvailable, hw, p.termStartOffset(), epoch)
		}
		return hw, -1, epoch, nil
	case ListEarliest:
		off, err := p.earliestOffset()
		if err != nil {
			return -1, -1, -1, err
		}
		return off, -1, epoch, nil
	case ListEarliestLocal:
		return p.log.LogStartOffset(), -1, epoch, nil
	case ListMaxTimestamp:
		off, t, found, err := p.log.MaxTimestamp()
		if err != nil {
			return -1, -1, -1, fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
		}
		coff, ct, cfound, err := p.coldMaxTimestamp()
		if err != nil {
			return -1, -1, -1, err
		}
		if cfound && (!found || ct > t) {
			off, t, found = coff, ct, true
		}
		if !found || off >= hw {
			return -1, -1, epoch, nil
		}
		return off, t, epoch, nil
	}
	if ts < 0 {
		return -1, -1, -1, fmt.Errorf("%w: timestamp %d", kerr.InvalidRequest, ts)
	}
	// Records below the DeleteRecords start are gone: a lookup that finds
	// one in a straddling file or segment answers the start.
	floor := p.recordsStart.Load()
	if off, t, found, err := p.coldOffsetForTimestamp(ts); err != nil || (found && off < hw) {
		if err != nil {
			return -1, -1, -1, err
		}
		return max(off, floor), t, epoch, nil
	}
	off, t, found, err := p.log.OffsetForTimestamp(ts)
	if err != nil {
		return -1, -1, -1, fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	}
	if !found || off >= hw {
		return -1, -1, epoch, nil
	}
	return max(off, floor), t, epoch, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101/279).
func (p *Partition) EndOffsetForEpoch(epoch, clientEpoch int32) (int32, int64, error) {
	if err := p.checkEpoch(clientEpoch); err != nil {
		return -1, -1, err
	}
	if epoch > p.leaderEpoch.Load() {
		return -1, -1, nil // no such epoch yet (Kafka answers UNDEFINED)
	}
	e, off := p.log.EndOffsetForEpoch(epoch)
	if e < 0 && p.tiered() {
		// Older than the local cache: the cold tier may hold it.
		return p.coldEndOffsetForEpoch(epoch)
	}
	return e, off, nil
}

func (p *Partition) String() string {
	return p.topic + "-" + fmt.Sprint(p.index)
}

// checkTimestamps refuses, as Kafka's LogValidator does for CreateTime
// topics, batches holding a record timestamped more than beforeMs before
// or afterMs after nowMs (message.timestamp.before/after.max.ms):
// INVALID_TIMESTAMP. Records without a timestamp (-1) pass. The batch
// headers decide when they can (the largest timestamp is in the header);
// records are read only for the lower bound.
func checkTimestamps(records []byte, headers []recordbatch.Header, nowMs, beforeMs, afterMs int64) error {
	if beforeMs == math.MaxInt64 && afterMs == math.MaxInt64 {
		return nil
	}
	pos := 0
	for _, h := range headers {
		b := records[pos : pos+h.Size()]
		pos += h.Size()
		if afterMs != math.MaxInt64 && h.MaxTimestamp > nowMs && h.MaxTimestamp-nowMs > afterMs {
			return fmt.Errorf("%w: timestamp %d of a record of the batch at offset delta 0..%d is more than message.timestamp.after.max.ms=%d ahead of the broker's clock %d",
				kerr.InvalidTimestamp, h.MaxTimestamp, h.LastOffsetDelta, afterMs, nowMs)
		}
		if beforeMs == math.MaxInt64 {
			continue
		}
		err := recordbatch.Records(h, b, recordbatch.DefaultMaxDecompressed, func(r *recordbatch.Record) error {
			if r.Timestamp >= 0 && r.Timestamp < nowMs && nowMs-r.Timestamp > beforeMs {
				return fmt.Errorf("%w: timestamp %d of the record at offset delta %d is more than message.timestamp.before.max.ms=%d behind the broker's clock %d",
					kerr.InvalidTimestamp, r.Timestamp, r.OffsetDelta, beforeMs, nowMs)
			}
			return nil
		})
		if errors.Is(err, kerr.InvalidTimestamp) {
			return err
		}
		if err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidRecord, err)
		}
	}
	return nil
}

// recompress rewrites the batches that are not in codec (a topic whose
// compression.type is not producer), as Kafka does; the others are kept.
func recompress(records []byte, headers []recordbatch.Header, codec recordbatch.Codec) ([]byte, []recordbatch.Header, error) {
	same := true
	for _, h := range headers {
		same = same && (h.Compression() == codec || h.IsControl())
	}
	if same {
		return records, headers, nil
	}
	out := make([]byte, 0, len(records))
	hs := make([]recordbatch.Header, len(headers))
	pos := 0
	for i, h := range headers {
		var err error
		out, hs[i], err = recordbatch.Recompress(out, h, records[pos:pos+h.Size()], codec, recordbatch.DefaultMaxDecompressed)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: recompress: %v", kerr.InvalidRecord, err)
		}
		pos += h.Size()
	}
	return out, hs, nil
}

// errNoKey is Kafka's answer to a record without a key on a compacted
// topic (LogValidator): INVALID_RECORD.
var errNoKey = errors.New("compacted topic cannot accept a record without a key")

// requireKeys refuses, as Kafka does, batches of a compacted topic that
// hold a record with a null key: the cleaner could never remove it.
func requireKeys(records []byte, headers []recordbatch.Header) error {
	pos := 0
	for _, h := range headers {
		b := records[pos : pos+h.Size()]
		pos += h.Size()
		err := recordbatch.Records(h, b, recordbatch.DefaultMaxDecompressed, func(r *recordbatch.Record) error {
			if r.Key == nil {
				return fmt.Errorf("%w: %w (offset delta %d)", kerr.InvalidRecord, errNoKey, r.OffsetDelta)
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, errNoKey) {
				return err
			}
			return fmt.Errorf("%w: %v", kerr.InvalidRecord, err)
		}
	}
	return nil
}
