package hotlog

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// Producer state: what an idempotent producer (one with a producer id)
// last wrote, so that a retried batch is recognised and answered with its
// original offsets instead of being stored twice, and a lost or reordered
// batch is refused. The rules are Kafka's (ProducerStateManager and
// ProducerAppendInfo): per producer id, its epoch and its last 5 batches.
// The state is part of the log: it is snapshotted to <offset>.snapshot files
// (docs/format/producer-state.md) and rebuilt from the batch headers after
// the newest snapshot on Open.

var (
	// ErrOutOfOrderSequence: an idempotent batch whose first sequence does
	// not follow the producer's last one (a gap, or an old batch no longer
	// cached), or a new epoch that does not start at sequence 0.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch: an idempotent batch from an epoch older than
	// the producer's current one (a fenced, zombie producer).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
)

// DuplicateBatchError is returned by Append when its first batch is one of
// the last batches its producer wrote (same epoch, same first and last
// sequence): nothing is written, and the offsets are those the original
// batch got.
type DuplicateBatchError struct {
	ProducerID                  int64
	ProducerEpoch               int16
	FirstSequence, LastSequence int32
	FirstOffset, LastOffset     int64
	// MaxTimestamp is the original batch's maxTimestamp (for LogAppendTime
	// topics, the time it was appended).
	MaxTimestamp int64
}

func (e *DuplicateBatchError) Error() string {
	return fmt.Sprintf("duplicate batch: producer %d epoch %d sequences %d..%d already stored at offsets %d..%d",
		e.ProducerID, e.ProducerEpoch, e.FirstSequence, e.LastSequence, e.FirstOffset, e.LastOffset)
}

// producerBatchesRetained is how many of a producer's last batches are
// remembered (Kafka's NUM_BATCHES_TO_RETAIN: a producer has at most 5
// requests in flight per partition).
const producerBatchesRetained = 5

// DefaultProducerIDExpiration is Kafka's producer.id.expiration.ms default.
const DefaultProducerIDExpiration = 24 * time.Hour

// DefaultMaxProducers is how many producers a partition remembers by
// default: about 10 MiB of state and of each roll's snapshot.
const DefaultMaxProducers = 50000

// producerBatch is what is remembered of one batch.
type producerBatch struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTimestamp            int64
}

// producerEntry is one producer's state: its epoch and its last batches,
// oldest first. An entry always holds at least one batch.
type producerEntry struct {
	epoch   int16
	n       int
	batches [producerBatchesRetained]producerBatch
}

func newProducerEntry(epoch int16, b producerBatch) producerEntry {
	e := producerEntry{epoch: epoch, n: 1}
	e.batches[0] = b
	return e
}

func (e producerEntry) last() producerBatch { return e.batches[e.n-1] }

func (e *producerEntry) add(b producerBatch) {
	if e.n == producerBatchesRetained {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = b
	e.n++
}

func (e *producerEntry) find(firstSeq, lastSeq int32) (producerBatch, bool) {
	for _, b := range e.batches[:e.n] {
		if b.firstSeq == firstSeq && b.lastSeq == lastSeq {
			return b, true
		}
	}
	return producerBatch{}, false
}

// seqAdd adds n >= 0 to a sequence number; sequences wrap from
// math.MaxInt32 to 0 (Kafka's DefaultRecordBatch.incrementSequence).
func seqAdd(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// producerState maps producer ids to their entries, and to their
// transaction state (txnstate.go). It is guarded by Log.mu.
type producerState struct {
	m     map[int64]*producerEntry
	txns  map[int64]*txnEntry
	ended []endedTxn // not snapshotted: see firstUnstable
}

func newProducerState() *producerState {
	return &producerState{m: map[int64]*producerEntry{}, txns: map[int64]*txnEntry{}}
}

// producerUpdate is an entry as it will be once an append is written.
type producerUpdate struct {
	pid   int64
	entry producerEntry
}

// batchInfo is what a header says about its producer, at offset base.
func batchInfo(h recordbatch.Header, base int64) producerBatch {
	return producerBatch{
		firstSeq:     h.BaseSequence,
		lastSeq:      seqAdd(h.BaseSequence, h.LastOffsetDelta),
		firstOffset:  base,
		lastOffset:   base + int64(h.LastOffsetDelta),
		maxTimestamp: h.MaxTimestamp,
	}
}

// check validates the idempotent batches of one append, whose first batch
// gets offset first, against the state, and returns the entries the append
// would leave (appended to upd); the state itself is not changed. Each
// batch is checked against the state as the batches before it in the same
// append leave it (the transaction rules, checkTxn, against the state
// before the append). ctrls holds the markers of control batches (nil
// entries for the others, or nil if there are none).
func (ps *producerState) check(hs []recordbatch.Header, ctrls []*recordbatch.ControlRecord, first int64, upd []producerUpdate) ([]producerUpdate, error) {
	next := first
	for i, h := range hs {
		base := next
		next = base + int64(h.LastOffsetDelta) + 1
		if h.ProducerID < 0 {
			continue
		}
		if err := ps.checkTxn(h, controlAt(ctrls, i)); err != nil {
			return upd, err
		}
		if h.IsControl() {
			// A transaction marker: only its epoch is checked here.
			if h.ProducerEpoch < 0 {
				return upd, fmt.Errorf("%w: batch %d: control batch of producer %d with epoch %d", ErrInvalidBatch, i, h.ProducerID, h.ProducerEpoch)
			}
			if e := ps.m[h.ProducerID]; e != nil && h.ProducerEpoch < e.epoch {
				return upd, fmt.Errorf("%w: producer %d: marker epoch %d is older than the current epoch %d",
					ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
			}
			continue
		}
		if h.ProducerEpoch < 0 || h.BaseSequence < 0 {
			return upd, fmt.Errorf("%w: batch %d: producer id %d with epoch %d and sequence %d",
				ErrInvalidBatch, i, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		b := batchInfo(h, base)
		var cur *producerEntry
		k := slices.IndexFunc(upd, func(u producerUpdate) bool { return u.pid == h.ProducerID })
		if k >= 0 {
			cur = &upd[k].entry
		} else if e := ps.m[h.ProducerID]; e != nil {
			upd = append(upd, producerUpdate{pid: h.ProducerID, entry: *e})
			k = len(upd) - 1
			cur = &upd[k].entry
		}
		if cur == nil {
			// Unknown producer (new, or expired): any sequence starts it.
			upd = append(upd, producerUpdate{pid: h.ProducerID, entry: newProducerEntry(h.ProducerEpoch, b)})
			continue
		}
		switch {
		case h.ProducerEpoch < cur.epoch:
			return upd, fmt.Errorf("%w: producer %d: epoch %d is older than the current epoch %d",
				ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, cur.epoch)
		case h.ProducerEpoch > cur.epoch:
			if h.BaseSequence != 0 {
				return upd, fmt.Errorf("%w: producer %d: new epoch %d (was %d) must start at sequence 0, not %d",
					ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, cur.epoch, h.BaseSequence)
			}
			*cur = newProducerEntry(h.ProducerEpoch, b)
		default:
			if i == 0 {
				if d, ok := cur.find(b.firstSeq, b.lastSeq); ok {
					return upd, &DuplicateBatchError{
						ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
						FirstSequence: d.firstSeq, LastSequence: d.lastSeq,
						FirstOffset: d.firstOffset, LastOffset: d.lastOffset, MaxTimestamp: d.maxTimestamp,
					}
				}
			}
			if want := seqAdd(cur.last().lastSeq, 1); b.firstSeq != want {
				return upd, fmt.Errorf("%w: producer %d epoch %d: sequence %d, expected %d",
					ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, b.firstSeq, want)
			}
			cur.add(b)
		}
	}
	return upd, nil
}

// commit stores the entries check returned.
func (ps *producerState) commit(upd []producerUpdate) {
	for _, u := range upd {
		if e := ps.m[u.pid]; e != nil {
			*e = u.entry
		} else {
			e := u.entry
			ps.m[u.pid] = &e
		}
	}
}

// replay applies a stored batch (offsets in h; ctrl its marker if it is
// a control batch) without checking it, as recovery and replication do: a
// batch of another epoch starts the entry over, one of the same epoch is
// added to it; transactions open and end (trackTxn, whose aborted
// transaction it returns).
func (ps *producerState) replay(h recordbatch.Header, ctrl *recordbatch.ControlRecord) (AbortedTxn, bool) {
	aborted, ok := ps.trackTxn(h, ctrl)
	if h.ProducerID < 0 || h.IsControl() {
		return aborted, ok
	}
	b := batchInfo(h, h.BaseOffset)
	e := ps.m[h.ProducerID]
	switch {
	case e == nil:
		ne := newProducerEntry(h.ProducerEpoch, b)
		ps.m[h.ProducerID] = &ne
	case e.epoch != h.ProducerEpoch:
		*e = newProducerEntry(h.ProducerEpoch, b)
	default:
		e.add(b)
	}
	return aborted, ok
}

// expire removes producers whose last batch's maxTimestamp is ttl or more
// before now (Kafka's producer.id.expiration.ms). It returns how many went.
func (ps *producerState) expire(now time.Time, ttl time.Duration) int {
	limit := now.UnixMilli() - ttl.Milliseconds()
	n := 0
	for pid, e := range ps.m {
		if e.last().maxTimestamp <= limit && !ps.hasOpenTxn(pid) {
			delete(ps.m, pid)
			n++
		}
	}
	ps.forgetTxns()
	return n
}

// evictOldest keeps at most max producers: past max it forgets the least
// recently active ones (by their last batch's maxTimestamp, as expiration
// judges them) down to 90% of max, so that a stream of new producer ids
// pays for one sort per max/10 of them. It returns how many went.
func (ps *producerState) evictOldest(max int) int {
	if len(ps.m) <= max {
		return 0
	}
	type aged struct {
		pid int64
		ts  int64
	}
	all := make([]aged, 0, len(ps.m))
	for pid, e := range ps.m {
		if !ps.hasOpenTxn(pid) {
			all = append(all, aged{pid, e.last().maxTimestamp})
		}
	}
	slices.SortFunc(all, func(a, b aged) int {
		if c := cmp.Compare(a.ts, b.ts); c != 0 {
			return c
		}
		return cmp.Compare(a.pid, b.pid)
	})
	drop := min(len(all), len(ps.m)-max*9/10)
	for _, a := range all[:drop] {
		delete(ps.m, a.pid)
	}
	ps.forgetTxns()
	return drop
}

// boundProducersLocked applies Config.MaxProducers. Called with mu held.
func (l *Log) boundProducersLocked() {
	if n := l.producers.evictOldest(l.cfg.MaxProducers); n > 0 {
		l.logger.Warn("too many producers: forgot the least recently active ones",
			"forgotten", n, "max_producers", l.cfg.MaxProducers)
	}
}

// Snapshot encoding (docs/format/producer-state.md).
const (
	snapshotMagic      = "STPS"
	snapshotVersion    = 2  // 2 adds the transactions; 1 is still read
	snapshotHeaderSize = 22 // magic 4, version 2, crc 4, offset 8, count 4
	snapshotEntryFixed = 11 // producer id 8, epoch 2, batch count 1
	snapshotBatchSize  = 32 // first/last sequence 4+4, first/last offset 8+8, max timestamp 8
	snapshotTxnSize    = 20 // producer id 8, open transaction's first offset 8, coordinator epoch 4
	snapshotCRCStart   = 10
)

var errBadSnapshot = errors.New("bad producer-state snapshot")

// snapshotCRC is the snapshot file's own CRC-32C (not a batch CRC).
var snapshotCRC = crc32.MakeTable(crc32.Castagnoli)

// encodeSnapshot serialises the state as of offset: producers sorted by id.
func encodeSnapshot(offset int64, ps *producerState) []byte {
	pids := make([]int64, 0, len(ps.m))
	size := snapshotHeaderSize
	for pid, e := range ps.m {
		pids = append(pids, pid)
		size += snapshotEntryFixed + e.n*snapshotBatchSize
	}
	slices.Sort(pids)
	txnPIDs := make([]int64, 0, len(ps.txns))
	for pid := range ps.txns {
		txnPIDs = append(txnPIDs, pid)
	}
	slices.Sort(txnPIDs)
	size += 4 + len(txnPIDs)*snapshotTxnSize
	be := binary.BigEndian
	b := make([]byte, 0, size)
	b = append(b, snapshotMagic...)
	b = be.AppendUint16(b, snapshotVersion)
	b = be.AppendUint32(b, 0) // crc, below
	b = be.AppendUint64(b, uint64(offset))
	b = be.AppendUint32(b, uint32(len(pids)))
	for _, pid := range pids {
		e := ps.m[pid]
		b = be.AppendUint64(b, uint64(pid))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(e.n))
		for _, pb := range e.batches[:e.n] {
			b = be.AppendUint32(b, uint32(pb.firstSeq))
			b = be.AppendUint32(b, uint32(pb.lastSeq))
			b = be.AppendUint64(b, uint64(pb.firstOffset))
			b = be.AppendUint64(b, uint64(pb.lastOffset))
			b = be.AppendUint64(b, uint64(pb.maxTimestamp))
		}
	}
	b = be.AppendUint32(b, uint32(len(txnPIDs)))
	for _, pid := range txnPIDs {
		t := ps.txns[pid]
		b = be.AppendUint64(b, uint64(pid))
		b = be.AppendUint64(b, uint64(t.first))
		b = be.AppendUint32(b, uint32(t.coordEpoch))
	}
	be.PutUint32(b[6:], crc32.Checksum(b[snapshotCRCStart:], snapshotCRC))
	return b
}

// decodeSnapshot parses and checks a snapshot file's contents. offset is
// the offset its name says (-1: do not check). It never panics and never
// allocates more than the input justifies.
func decodeSnapshot(b []byte, offset int64) (int64, *producerState, error) {
	fail := func(format string, args ...any) (int64, *producerState, error) {
		return 0, nil, fmt.Errorf("%w: "+format, append([]any{errBadSnapshot}, args...)...)
	}
	if len(b) < snapshotHeaderSize {
		return fail("%d bytes, the header needs %d", len(b), snapshotHeaderSize)
	}
	if string(b[:4]) != snapshotMagic {
		return fail("magic %q", b[:4])
	}
	be := binary.BigEndian
	version := be.Uint16(b[4:])
	if version != 1 && version != snapshotVersion {
		return fail("unknown version %d", version)
	}
	if want, got := be.Uint32(b[6:]), crc32.Checksum(b[snapshotCRCStart:], snapshotCRC); want != got {
		return fail("crc mismatch: stored %#08x, computed %#08x", want, got)
	}
	off := int64(be.Uint64(b[10:]))
	if off < 0 || (offset >= 0 && off != offset) {
		return fail("offset %d, file name says %d", off, offset)
	}
	count := be.Uint32(b[18:])
	rest := b[snapshotHeaderSize:]
	if uint64(count)*(snapshotEntryFixed+snapshotBatchSize) > uint64(len(rest)) {
		return fail("%d producers do not fit in %d bytes", count, len(rest))
	}
	ps := &producerState{m: make(map[int64]*producerEntry, count), txns: map[int64]*txnEntry{}}
	prev := int64(-1)
	for i := uint32(0); i < count; i++ {
		if len(rest) < snapshotEntryFixed {
			return fail("producer %d: truncated", i)
		}
		pid := int64(be.Uint64(rest))
		epoch := int16(be.Uint16(rest[8:]))
		n := int(rest[10])
		rest = rest[snapshotEntryFixed:]
		if pid <= prev {
			return fail("producer id %d after %d: ids must increase", pid, prev)
		}
		prev = pid
		if epoch < 0 || n < 1 || n > producerBatchesRetained {
			return fail("producer %d: epoch %d, %d batches", pid, epoch, n)
		}
		if len(rest) < n*snapshotBatchSize {
			return fail("producer %d: truncated batches", pid)
		}
		e := &producerEntry{epoch: epoch, n: n}
		for k := 0; k < n; k++ {
			pb := producerBatch{
				firstSeq:     int32(be.Uint32(rest)),
				lastSeq:      int32(be.Uint32(rest[4:])),
				firstOffset:  int64(be.Uint64(rest[8:])),
				lastOffset:   int64(be.Uint64(rest[16:])),
				maxTimestamp: int64(be.Uint64(rest[24:])),
			}
			rest = rest[snapshotBatchSize:]
			delta := pb.lastOffset - pb.firstOffset
			switch {
			case pb.firstSeq < 0 || pb.firstOffset < 0 || delta < 0 || delta > math.MaxInt32 || pb.lastOffset >= off:
				return fail("producer %d batch %d: sequences %d..%d at offsets %d..%d", pid, k, pb.firstSeq, pb.lastSeq, pb.firstOffset, pb.lastOffset)
			case pb.lastSeq != seqAdd(pb.firstSeq, int32(delta)):
				return fail("producer %d batch %d: sequences %d..%d do not span offsets %d..%d", pid, k, pb.firstSeq, pb.lastSeq, pb.firstOffset, pb.lastOffset)
			case k > 0 && pb.firstOffset <= e.batches[k-1].lastOffset:
				return fail("producer %d batch %d: offset %d not after %d", pid, k, pb.firstOffset, e.batches[k-1].lastOffset)
			}
			e.batches[k] = pb
		}
		ps.m[pid] = e
	}
	if version >= 2 {
		var err error
		if rest, err = decodeSnapshotTxns(rest, off, ps); err != nil {
			return fail("%v", err)
		}
	}
	if len(rest) != 0 {
		return fail("%d bytes after the last producer", len(rest))
	}
	return off, ps, nil
}

var (
	// ErrInvalidTxnState: a batch that does not fit its producer's
	// transaction (a non-transactional batch while a transaction is
	// ongoing).
	ErrInvalidTxnState = errors.New("invalid transaction state")
	// ErrCoordinatorFenced: a transaction marker from a coordinator epoch
	// older than the one of the producer's last marker.
	ErrCoordinatorFenced = errors.New("transaction coordinator fenced")
)

// decodeSnapshotTxns parses a version 2 snapshot's transactions (after the
// producers) into ps and returns the bytes after them.
func decodeSnapshotTxns(rest []byte, off int64, ps *producerState) ([]byte, error) {
	be := binary.BigEndian
	if len(rest) < 4 {
		return nil, errors.New("transaction count truncated")
	}
	count := be.Uint32(rest)
	rest = rest[4:]
	if uint64(count)*snapshotTxnSize > uint64(len(rest)) {
		return nil, fmt.Errorf("%d transactions do not fit in %d bytes", count, len(rest))
	}
	prev := int64(-1)
	for i := uint32(0); i < count; i++ {
		pid := int64(be.Uint64(rest))
		t := &txnEntry{first: int64(be.Uint64(rest[8:])), coordEpoch: int32(be.Uint32(rest[16:]))}
		rest = rest[snapshotTxnSize:]
		switch {
		case pid <= prev:
			return nil, fmt.Errorf("transaction producer id %d after %d: ids must increase", pid, prev)
		case t.first < -1 || t.first >= off || t.coordEpoch < -1:
			return nil, fmt.Errorf("producer %d: transaction from offset %d, coordinator epoch %d", pid, t.first, t.coordEpoch)
		}
		prev = pid
		ps.txns[pid] = t
	}
	return rest, nil
}
