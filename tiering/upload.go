package tiering

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/tiering/coldfile"
)

type partKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// partState is the tierer's memory of one partition. Work on a partition
// (upload, retention, merge, sweep) is serialised: one job at a time.
type partState struct {
	p         Partition
	running   bool
	failures  int
	nextTry   time.Time
	lastErr   error
	lastWarn  time.Time
	lastSweep time.Time
	lastMaint time.Time

	// tableDirty: the derived table (TableSync) may not match the
	// manifest: no sync has succeeded since this broker took the
	// partition, or the last one failed. pendingDeletes are objects gone
	// from the manifest whose deletion waits for the table to drop them.
	tableDirty     bool
	pendingDeletes []meta.TierSegment
	retired        []retired

	activeBase  int64
	activeSince time.Time

	// For metrics and status, updated by each job.
	lagOffsets  int64
	sealedBytes int64
	tieredEnd   int64
}

type lag struct{ offsets, sealedBytes int64 }

func (t *Tier) lagTotals() lag {
	t.mu.Lock()
	defer t.mu.Unlock()
	var l lag
	for _, ps := range t.parts {
		l.offsets += ps.lagOffsets
		l.sealedBytes += ps.sealedBytes
	}
	return l
}

func (t *Tier) loop() {
	defer t.wg.Done()
	sem := make(chan struct{}, t.cfg.UploadConcurrency)
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	lastGlobalSweep := time.Now()
	for {
		t.schedule(sem)
		if t.cfg.SweepDeletedTopics && time.Since(lastGlobalSweep) >= t.cfg.SweepInterval {
			lastGlobalSweep = time.Now()
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				t.sweepDeletedTopics(t.ctx)
			}()
		}
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// schedule starts a job for every partition that is due and not running,
// as long as the concurrency bound allows.
func (t *Tier) schedule(sem chan struct{}) {
	t.mu.Lock()
	src := t.source
	t.mu.Unlock()
	if src == nil {
		return
	}
	parts := src()
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[partKey]bool{}
	for _, p := range parts {
		k := partKey{p.Topic(), p.TopicID(), p.Index()}
		seen[k] = true
		ps, ok := t.parts[k]
		if !ok {
			ps = &partState{activeBase: -1, tieredEnd: -2, lastSweep: now, tableDirty: true}
			t.parts[k] = ps
		}
		if ps.running {
			continue // the job has its own Partition; ps is its until it ends
		}
		ps.p = p
		if now.Before(ps.nextTry) || !p.TierSettings().Enabled || !t.due(ps, now) {
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			return
		}
		ps.running = true
		t.wg.Add(1)
		go func(k partKey, ps *partState) {
			defer t.wg.Done()
			defer func() { <-sem }()
			err := t.job(t.ctx, ps)
			t.finish(k, ps, err)
		}(k, ps)
	}
	for k, ps := range t.parts {
		if !seen[k] && !ps.running {
			delete(t.parts, k)
		}
	}
}

func (t *Tier) finish(k partKey, ps *partState, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps.running = false
	switch {
	case err == nil:
		ps.failures, ps.lastErr = 0, nil
		ps.nextTry = time.Time{}
	case errors.Is(err, meta.ErrFenced), errors.Is(err, hotlog.ErrClosed), errors.Is(err, context.Canceled):
		// Not our partition any more (or shutting down): the broker
		// stops listing it.
		ps.lastErr = err
		ps.nextTry = time.Now().Add(t.cfg.Interval)
	default:
		ps.failures++
		ps.lastErr = err
		d := min(500*time.Millisecond<<min(ps.failures, 10), t.cfg.MaxBackoff)
		d = d/2 + rand.N(d/2+1)
		ps.nextTry = time.Now().Add(d)
		t.m.uploadErrors.Inc()
		t.log.Warn("tiering failed, retrying", "topic", k.topic, "partition", k.partition, "attempt", ps.failures, "retry_in", d.Round(time.Millisecond), "err", err)
		if ps.sealedBytes > 0 && time.Since(ps.lastWarn) > time.Minute {
			ps.lastWarn = time.Now()
			t.log.Error("local log is growing because tiering fails: sealed segments stay on local disk until they are in the object store",
				"topic", k.topic, "partition", k.partition, "untiered_sealed_bytes", ps.sealedBytes, "untiered_offsets", ps.lagOffsets, "err", err)
		}
	}
}

// due reports, cheaply (no etcd, no object store), whether a partition
// has work: a committed sealed segment not yet tiered, an active segment
// to roll, or periodic maintenance (retention, merge, sweep).
func (t *Tier) due(ps *partState, now time.Time) bool {
	if ps.failures > 0 || ps.tieredEnd == -2 || now.Sub(ps.lastMaint) >= t.cfg.MaintenanceInterval || len(ps.retired) > 0 || ps.tableDirty {
		return true
	}
	locals := ps.p.Segments()
	limit := tierLimit(ps.p)
	for _, s := range locals {
		if s.Sealed && s.Size > 0 && s.NextOffset > ps.tieredEnd && s.NextOffset <= limit {
			return true
		}
	}
	if set := ps.p.TierSettings(); set.MaxLag > 0 && len(locals) > 0 {
		a := locals[len(locals)-1]
		if a.Size > 0 && (ps.activeBase != a.BaseOffset || now.Sub(ps.activeSince) >= set.MaxLag) {
			return true
		}
	}
	return false
}

// job does the work due on one partition: roll an old active segment,
// upload what is sealed and committed, apply remote retention, merge small
// files, sweep orphans.
func (t *Tier) job(ctx context.Context, ps *partState) error {
	p := ps.p
	topic, part := p.Topic(), p.Index()
	epoch := p.LeaderEpoch()
	set := p.TierSettings()
	k := tp{topic, part}

	if ps.failures > 0 || ps.tieredEnd == -2 {
		t.mf.invalidate(k) // after a failure, read the manifest anew
	}
	mctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	segs, err := t.manifest(mctx, topic, part)
	cancel()
	if err != nil {
		return err
	}
	tieredEnd := int64(-1)
	if len(segs) > 0 {
		tieredEnd = segs[len(segs)-1].LastOffset + 1
	}
	// A table sync that failed (or none yet since this broker took the
	// partition: a crash may have left the table behind or ahead of the
	// manifest) is repaired first; then what it held back may go.
	if ps.tableDirty || len(ps.pendingDeletes) > 0 {
		t.syncTable(ctx, ps, p, epoch, set, segs)
	}
	t.deleteRetired(ctx, ps)

	locals := p.Segments()
	t.maybeRoll(ps, p, set, locals)
	locals = p.Segments()
	t.noteLag(ps, p, locals, tieredEnd)

	// Files wholly below the DeleteRecords start go at once, not at the
	// next maintenance pass: until they do, the manifest may end before
	// the local log starts. While the start is unknown nothing is uploaded
	// (it could be deleted records).
	deletedBefore := p.DeletedBefore()
	if deletedBefore < 0 {
		return fmt.Errorf("tiering: %s-%d: the log start is not known yet", topic, part)
	}
	if len(segs) > 0 && segs[0].LastOffset < deletedBefore {
		if segs, err = t.applyRetention(ctx, ps, p, epoch, set, segs, locals); err != nil {
			return err
		}
		if len(segs) > 0 && segs[0].LastOffset < deletedBefore {
			return nil // more than one write's worth: the next pass goes on
		}
		tieredEnd = -1
		if len(segs) > 0 {
			tieredEnd = segs[len(segs)-1].LastOffset + 1
		}
	}

	limit := tierLimit(p)
	coldStart := int64(-1)
	if len(segs) > 0 {
		coldStart = segs[0].BaseOffset
	}
	deletable := hotlog.TieredRetentionAllow(locals, set.RetentionMs, set.RetentionBytes, time.Now(), coldStart, tieredEnd)
	uploaded := false
	for _, s := range locals {
		if !s.Sealed || s.Size == 0 || s.NextOffset <= tieredEnd || s.NextOffset > limit || s.NextOffset <= deletedBefore {
			continue
		}
		if deletable(s) {
			// Beyond the topic's total retention: local retention deletes
			// it untiered, remote retention would at once.
			continue
		}
		from := max(s.BaseOffset, deletedBefore) // nothing deleted is uploaded
		if tieredEnd > from {
			from = tieredEnd
		} else if tieredEnd >= 0 && from > tieredEnd {
			// The manifest stays one contiguous run (meta refuses the
			// entry): uploading would only leave an orphan each retry.
			return fmt.Errorf("tiering: %s-%d: offsets [%d, %d) are neither in the cold tier nor in the local log (deleted while remote storage was off?): tiering of the partition cannot go on past the gap",
				topic, part, tieredEnd, from)
		}
		seg, err := t.upload(ctx, p, epoch, from, s.NextOffset)
		if err != nil {
			return err
		}
		segs = append(segs, seg)
		t.mf.set(k, append([]meta.TierSegment(nil), segs...))
		tieredEnd = seg.LastOffset + 1
		t.noteLag(ps, p, locals, tieredEnd)
		uploaded = true
	}
	if uploaded {
		t.syncTable(ctx, ps, p, epoch, set, segs)
	}

	if time.Since(ps.lastMaint) < t.cfg.MaintenanceInterval {
		return nil
	}
	ps.lastMaint = time.Now()
	if segs, err = t.applyRetention(ctx, ps, p, epoch, set, segs, locals); err != nil {
		return err
	}
	if err = t.merge(ctx, ps, p, epoch, set); err != nil {
		return err
	}
	// The sweep deletes objects the manifest does not name; while the
	// table may still name some (its last sync failed), it waits.
	if time.Since(ps.lastSweep) >= t.cfg.SweepInterval && !t.tableBehind(ps, set) {
		if err := t.sweepPartition(ctx, topic, part); err != nil {
			return err
		}
		ps.lastSweep = time.Now()
	}
	return nil
}

// tierLimit is the offset below which records may be tiered: committed
// (below the high watermark), fsynced, and below the last stable offset
// (every transaction decided, so that the aborted column is final).
func tierLimit(p Partition) int64 {
	return min(p.HighWatermark(), p.FlushedOffset(), p.LastStableOffset())
}

// maybeRoll rolls the active segment once it has held records for longer
// than strata.tier.max.lag.ms, so that a quiet partition is tiered too.
func (t *Tier) maybeRoll(ps *partState, p Partition, set Settings, locals []hotlog.SegmentInfo) {
	if set.MaxLag <= 0 || len(locals) == 0 {
		return
	}
	active := locals[len(locals)-1]
	if active.Size == 0 {
		ps.activeBase = -1
		return
	}
	if ps.activeBase != active.BaseOffset {
		ps.activeBase, ps.activeSince = active.BaseOffset, time.Now()
		return
	}
	if time.Since(ps.activeSince) < set.MaxLag || active.NextOffset > p.HighWatermark() {
		return
	}
	if err := p.Roll(); err != nil {
		t.log.Warn("cannot roll segment for tiering", "topic", p.Topic(), "partition", p.Index(), "err", err)
		return
	}
	t.m.rolls.Inc()
	ps.activeBase = -1
}

func (t *Tier) noteLag(ps *partState, p Partition, locals []hotlog.SegmentInfo, tieredEnd int64) {
	var sealed int64
	for _, s := range locals {
		if s.Sealed && s.NextOffset > tieredEnd {
			sealed += s.Size
		}
	}
	start := tieredEnd
	if len(locals) > 0 && locals[0].BaseOffset > start {
		start = locals[0].BaseOffset
	}
	t.mu.Lock()
	ps.sealedBytes = sealed
	ps.lagOffsets = max(p.HighWatermark()-start, 0)
	ps.tieredEnd = tieredEnd
	t.mu.Unlock()
}

// upload tiers offsets [from, to) of the partition: Parquet file, PUT,
// verify, manifest entry (fenced by epoch). A failure leaves at most an
// object without a manifest entry, which a later attempt overwrites or
// the sweeper deletes.
func (t *Tier) upload(ctx context.Context, p Partition, epoch int32, from, to int64) (meta.TierSegment, error) {
	start := time.Now()
	topic, part := p.Topic(), p.Index()
	f, err := os.CreateTemp(t.cfg.TempDir, fmt.Sprintf("%s-%d-*.tmp", topic, part))
	if err != nil {
		return meta.TierSegment{}, fmt.Errorf("tiering: temp file: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	fw, err := t.newFileWriter(ctx, f, p)
	if err != nil {
		return meta.TierSegment{}, err
	}
	aborted := newAbortedRanges(p.LocalAbortedTransactions(from, to))
	var logBytes int64
	for pos := from; pos < to; {
		data, err := p.ReadLocal(pos, to, 4<<20)
		if err != nil {
			return meta.TierSegment{}, fmt.Errorf("tiering: read %s-%d at %d: %w", topic, part, pos, err)
		}
		if len(data) == 0 {
			return meta.TierSegment{}, fmt.Errorf("tiering: read %s-%d at %d: no data below %d", topic, part, pos, to)
		}
		logBytes += int64(len(data))
		next := pos
		err = coldfile.DecodeBatches(data, part, func(r coldfile.Row) error {
			next = r.Offset + 1
			if r.Offset < from {
				return nil
			}
			r.Aborted = aborted.contains(r)
			return fw.Add(r)
		})
		if err != nil {
			return meta.TierSegment{}, fmt.Errorf("tiering: %s-%d at %d: %w", topic, part, pos, err)
		}
		if next <= pos {
			return meta.TierSegment{}, fmt.Errorf("tiering: read %s-%d at %d: no progress", topic, part, pos)
		}
		pos = next
		if err := ctx.Err(); err != nil {
			return meta.TierSegment{}, err
		}
	}
	info, err := fw.Close(logBytes)
	if err != nil {
		return meta.TierSegment{}, err
	}
	seg, err := t.store(ctx, f, info)
	if err != nil {
		return meta.TierSegment{}, err
	}
	if seg.Revision, err = t.commit(ctx, epoch, nil, seg); err != nil {
		return meta.TierSegment{}, err
	}
	t.m.uploadedSegments.Inc()
	t.m.uploadedLogBytes.Add(float64(logBytes))
	t.m.uploadSeconds.Observe(time.Since(start).Seconds())
	t.log.Info("tiered segment", "topic", topic, "partition", part, "base_offset", seg.BaseOffset, "last_offset", seg.LastOffset,
		"records", seg.Records, "log_bytes", logBytes, "object", seg.Object, "object_bytes", seg.Size, "took", time.Since(start).Round(time.Millisecond))
	return seg, nil
}

// newFileWriter starts a tier file of p in f, with typed value columns
// when the topic wants them and has a schema.
func (t *Tier) newFileWriter(ctx context.Context, f *os.File, p Partition) (*coldfile.FileWriter, error) {
	var dec coldfile.ValueDecoder
	if t.cfg.Decoders != nil && p.TierSettings().TypedColumns {
		var err error
		dec, err = t.cfg.Decoders.ValueDecoder(ctx, p.Topic())
		if errors.Is(err, coldfile.ErrNoTypedColumns) {
			t.log.Warn("tiering without typed columns", "topic", p.Topic(), "partition", p.Index(), "err", err)
			dec, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("tiering: %s-%d: %w", p.Topic(), p.Index(), err)
		}
	}
	return coldfile.NewTypedFileWriter(f, p.Topic(), p.TopicID(), p.Index(), t.cfg.RowGroupBytes, dec)
}

// store uploads the finished file f and checks that the store holds all of
// it.
func (t *Tier) store(ctx context.Context, f *os.File, info coldfile.FileInfo) (meta.TierSegment, error) {
	st, err := f.Stat()
	if err != nil {
		return meta.TierSegment{}, fmt.Errorf("tiering: %w", err)
	}
	size := st.Size()
	if _, err := f.Seek(0, 0); err != nil {
		return meta.TierSegment{}, fmt.Errorf("tiering: %w", err)
	}
	key := coldfile.ObjectKey(info.Topic, info.Partition, info.BaseOffset, info.LastOffset)
	if h := t.cfg.Hooks.BeforePut; h != nil {
		if err := h(key); err != nil {
			return meta.TierSegment{}, err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	oi, err := t.bucket.Put(pctx, key, f, size)
	cancel()
	t.noteStore(err)
	if err != nil {
		return meta.TierSegment{}, fmt.Errorf("tiering: upload %s: %w", key, err)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	got, err := t.bucket.Stat(sctx, key)
	cancel()
	t.noteStore(err)
	if err != nil {
		return meta.TierSegment{}, fmt.Errorf("tiering: verify %s: %w", key, err)
	}
	if got.Size != size || (oi.ETag != "" && got.ETag != "" && got.ETag != oi.ETag) {
		return meta.TierSegment{}, fmt.Errorf("tiering: verify %s: store holds %d bytes (etag %q), uploaded %d (etag %q)", key, got.Size, got.ETag, size, oi.ETag)
	}
	t.m.uploadedBytes.Add(float64(size))
	seg := info.Segment(key, size, got.ETag)
	// The entry carries its real upload time from the start: merges judge
	// a file's age by it (an entry without one looks infinitely old).
	seg.UploadedAt = time.Now().UnixMilli()
	return seg, nil
}

// commit writes the manifest change (old entries out, seg in) fenced by
// the leader epoch, retrying while etcd is unreachable. An entry already
// there for the same object (an earlier attempt whose answer was lost)
// counts as done.
func (t *Tier) commit(ctx context.Context, epoch int32, old []meta.TierSegment, seg meta.TierSegment) (int64, error) {
	if h := t.cfg.Hooks.BeforeCommit; h != nil {
		if err := h(seg); err != nil {
			return 0, err
		}
	}
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rev, err := t.meta.ReplaceTierSegments(cctx, seg.Topic, seg.Partition, epoch, old, &seg)
		cancel()
		if err == nil {
			return rev, nil
		}
		if errors.Is(err, meta.ErrFenced) || errors.Is(err, meta.ErrInvalid) {
			return 0, err
		}
		if errors.Is(err, meta.ErrConflict) {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			cur, rerr := t.meta.TierSegments(rctx, seg.Topic, seg.Partition)
			cancel()
			if rerr == nil {
				for _, c := range cur {
					if c.BaseOffset == seg.BaseOffset && c.Object == seg.Object && c.Size == seg.Size && c.LastOffset == seg.LastOffset {
						return c.Revision, nil
					}
				}
			}
			return 0, err
		}
		if ctx.Err() != nil || attempt >= 5 {
			return 0, err
		}
		// etcd unreachable: the object is stored, keep trying to commit
		// it for a while before giving the job up (it is retried).
		d := min(250*time.Millisecond<<attempt, 5*time.Second)
		t.log.Warn("cannot commit tier manifest entry, retrying", "topic", seg.Topic, "partition", seg.Partition, "object", seg.Object, "retry_in", d, "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(d):
		}
	}
}

// deleteObjects deletes objects whose manifest entries are gone; failures
// leave orphans for the sweeper.
func (t *Tier) deleteObjects(ctx context.Context, segs []meta.TierSegment) {
	for _, s := range segs {
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := t.bucket.Delete(dctx, s.Object)
		cancel()
		t.noteStore(err)
		t.files.DropIf(dropObject(s.Object))
		if err != nil {
			t.log.Warn("cannot delete tiered object; the orphan sweep will", "object", s.Object, "err", err)
		}
	}
}

// listObjects lists keys under prefix.
func (t *Tier) listObjects(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	var out []objstore.ObjectInfo
	err := t.bucket.List(ctx, prefix, func(oi objstore.ObjectInfo) error {
		out = append(out, oi)
		return nil
	})
	t.noteStore(err)
	return out, err
}
