package tiering

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/tiering/coldfile"
)

// applyRetention removes tiered segments that retention.ms / retention.bytes
// no longer keep, or that lie wholly below the partition's DeleteRecords
// start: manifest entries first (one fenced transaction), objects second
// (and the table sync drops them from the Iceberg table). Only a prefix of
// the manifest goes, so the earliest offset moves and no hole opens.
// retention.bytes counts the whole partition: tiered log bytes plus local
// segments not yet tiered.
func (t *Tier) applyRetention(ctx context.Context, ps *partState, p Partition, epoch int32, set Settings, segs []meta.TierSegment, locals []hotlog.SegmentInfo) ([]meta.TierSegment, error) {
	deletedBefore := p.DeletedBefore()
	if len(segs) == 0 || (set.RetentionMs < 0 && set.RetentionBytes < 0 && segs[0].LastOffset >= deletedBefore) {
		return segs, nil
	}
	tieredEnd := segs[len(segs)-1].LastOffset + 1
	var total int64
	for _, s := range segs {
		total += s.LogBytes
	}
	for _, l := range locals {
		if l.BaseOffset >= tieredEnd {
			total += l.Size
		}
	}
	now := time.Now().UnixMilli()
	n := 0
	for _, s := range segs {
		expired := s.LastOffset < deletedBefore
		if !expired && set.RetentionMs >= 0 {
			ts := s.MaxTimestamp
			if ts < 0 {
				ts = s.UploadedAt
			}
			expired = ts < now-set.RetentionMs
		}
		if !expired && set.RetentionBytes >= 0 {
			expired = total-s.LogBytes >= set.RetentionBytes
		}
		// One fenced write removes at most MaxTierSegmentsPerWrite
		// entries; the next pass takes the rest.
		if !expired || n == meta.MaxTierSegmentsPerWrite {
			break
		}
		total -= s.LogBytes
		n++
	}
	if n == 0 {
		return segs, nil
	}
	victims := segs[:n]
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := t.meta.ReplaceTierSegments(cctx, p.Topic(), p.Index(), epoch, victims, nil)
	cancel()
	if err != nil {
		return segs, fmt.Errorf("tiering: remote retention of %s-%d: %w", p.Topic(), p.Index(), err)
	}
	rest := append([]meta.TierSegment(nil), segs[n:]...)
	t.mf.set(tp{p.Topic(), p.Index()}, rest)
	var bytes int64
	for _, v := range victims {
		bytes += v.Size
	}
	t.m.remoteDeleted.Add(float64(n))
	t.m.remoteDelBytes.Add(float64(bytes))
	t.log.Info("remote retention deleted tiered segments", "topic", p.Topic(), "partition", p.Index(), "segments", n,
		"object_bytes", bytes, "earliest_offset", earliest(rest, victims[n-1].LastOffset+1))
	t.retire(ctx, ps, p, epoch, set, rest, victims)
	return rest, nil
}

func earliest(segs []meta.TierSegment, otherwise int64) int64 {
	if len(segs) > 0 {
		return segs[0].BaseOffset
	}
	return otherwise
}

// mergeGroup picks the first run of adjacent, contiguous small files worth
// merging: at least two, at most meta.MaxTierSegmentsPerWrite (what one
// fenced manifest write replaces), together at most target bytes, and
// either at least half the target or all older than MergeMinAge.
func (t *Tier) mergeGroup(segs []meta.TierSegment, target int64) []meta.TierSegment {
	if target <= 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	for i := 0; i < len(segs); {
		j, size := i, int64(0)
		newest := int64(0)
		for j < len(segs) && j-i < meta.MaxTierSegmentsPerWrite && size+segs[j].Size <= target && (j == i || segs[j].BaseOffset == segs[j-1].LastOffset+1) {
			size += segs[j].Size
			newest = max(newest, segs[j].UploadedAt)
			j++
		}
		if j-i >= 2 && (size >= target/2 || now-newest >= t.cfg.MergeMinAge.Milliseconds()) {
			return segs[i:j]
		}
		i = max(j, i+1)
	}
	return nil
}

// merge rewrites one group of small tiered files as one file, swaps the
// manifest entries in one fenced transaction, then deletes the old
// objects. Offsets, timestamps and records are unchanged. It starts from
// the manifest as read from etcd (every entry with its revision and upload
// time), never from entries this broker holds in memory; a merge whose
// commit is refused deletes its output at once, so no object holding the
// same records twice stays beside its inputs.
func (t *Tier) merge(ctx context.Context, ps *partState, p Partition, epoch int32, set Settings) error {
	if set.TargetFileBytes <= 0 {
		return nil
	}
	topic, part := p.Topic(), p.Index()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	segs, err := t.meta.TierSegments(rctx, topic, part)
	cancel()
	if err != nil {
		return fmt.Errorf("tiering: merge: read the manifest of %s-%d: %w", topic, part, err)
	}
	group := t.mergeGroup(segs, set.TargetFileBytes)
	if len(group) == 0 {
		return nil
	}
	start := time.Now()
	f, err := os.CreateTemp(t.cfg.TempDir, fmt.Sprintf("%s-%d-merge-*.tmp", topic, part))
	if err != nil {
		return fmt.Errorf("tiering: temp file: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	// The merged file's typed columns are decoded again from the raw
	// values, with the subject's latest schema.
	fw, err := t.newFileWriter(ctx, f, p)
	if err != nil {
		return err
	}
	var logBytes, records int64
	for _, s := range group {
		rf, err := t.open(ctx, s)
		if err != nil {
			return fmt.Errorf("tiering: merge: open %s: %w", s.Object, err)
		}
		for j := range rf.RowGroups() {
			if err := rf.LoadRowGroup(ctx, j); err != nil {
				return fmt.Errorf("tiering: merge: read %s: %w", s.Object, err)
			}
			if err := rf.ScanRowGroup(j, 0, func(r *coldfile.Row) error { return fw.Add(*r) }); err != nil {
				return fmt.Errorf("tiering: merge: %s: %w", s.Object, err)
			}
		}
		logBytes += s.LogBytes
		records += s.Records
	}
	info, err := fw.Close(logBytes)
	if err != nil {
		return err
	}
	if info.Records != records || info.BaseOffset != group[0].BaseOffset || info.LastOffset != group[len(group)-1].LastOffset {
		return fmt.Errorf("%w: merge of %s-%d [%d, %d]: read %d records [%d, %d], the manifest says %d", ErrCorrupt, topic, part,
			group[0].BaseOffset, group[len(group)-1].LastOffset, info.Records, info.BaseOffset, info.LastOffset, records)
	}
	seg, err := t.store(ctx, f, info)
	if err != nil {
		return err
	}
	if seg.Revision, err = t.commit(ctx, epoch, group, seg); err != nil {
		if errors.Is(err, meta.ErrConflict) || errors.Is(err, meta.ErrInvalid) {
			// Refused, so never named: the object only doubles its
			// inputs' records. (Not when fenced: a new leader may be
			// writing the same key; nor when etcd's answer was lost; the
			// orphan sweep takes those.)
			t.log.Warn("merge refused, deleting its object", "topic", topic, "partition", part, "object", seg.Object, "err", err)
			t.deleteObjects(ctx, []meta.TierSegment{seg})
		}
		return err
	}
	out := make([]meta.TierSegment, 0, len(segs)-len(group)+1)
	for _, s := range segs {
		if s.BaseOffset < group[0].BaseOffset || s.BaseOffset > group[len(group)-1].BaseOffset {
			out = append(out, s)
		} else if s.BaseOffset == group[0].BaseOffset {
			out = append(out, seg)
		}
	}
	t.mf.set(tp{topic, part}, out)
	t.m.merges.Inc()
	t.m.mergedSegments.Add(float64(len(group)))
	t.log.Info("merged tiered files", "topic", topic, "partition", part, "files", len(group), "base_offset", seg.BaseOffset,
		"last_offset", seg.LastOffset, "object", seg.Object, "object_bytes", seg.Size, "took", time.Since(start).Round(time.Millisecond))
	if seg.Object != group[0].Object || len(group) > 1 {
		var old []meta.TierSegment
		for _, g := range group {
			if g.Object != seg.Object {
				old = append(old, g)
			}
		}
		t.retire(ctx, ps, p, epoch, set, out, old)
	} else {
		t.syncTable(ctx, ps, p, epoch, set, out)
	}
	return nil
}

// sweepPartition deletes objects under the partition's prefix that no
// manifest entry names and that are older than OrphanGrace: the leftovers
// of uploads that crashed between PUT and commit, or deletions that failed.
// It runs inside the partition's job, so no upload of this partition is in
// flight; the grace period covers other brokers' (a previous leader's).
func (t *Tier) sweepPartition(ctx context.Context, topic string, partition int32) error {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	objs, err := t.listObjects(lctx, coldfile.PartitionPrefix(topic, partition))
	if err != nil {
		return fmt.Errorf("tiering: sweep %s-%d: %w", topic, partition, err)
	}
	if len(objs) == 0 {
		return nil
	}
	segs, err := t.meta.TierSegments(lctx, topic, partition)
	if err != nil {
		return err
	}
	named := map[string]bool{}
	for _, s := range segs {
		named[s.Object] = true
	}
	for _, oi := range objs {
		if named[oi.Key] || time.Since(oi.LastModified) < t.cfg.OrphanGrace {
			continue
		}
		if _, _, _, _, ok := coldfile.ParseObjectKey(oi.Key); !ok {
			continue // not ours
		}
		if err := t.bucket.Delete(lctx, oi.Key); err != nil {
			t.noteStore(err)
			return fmt.Errorf("tiering: sweep %s: %w", oi.Key, err)
		}
		t.m.orphansDeleted.Inc()
		t.files.DropIf(dropObject(oi.Key))
		t.log.Info("deleted orphan object", "object", oi.Key, "bytes", oi.Size, "last_modified", oi.LastModified)
	}
	return nil
}

// sweepDeletedTopics deletes the objects of topics that no longer exist,
// once they are older than OrphanGrace.
func (t *Tier) sweepDeletedTopics(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	topics, err := t.meta.Topics(lctx)
	if err != nil {
		t.log.Warn("orphan sweep: cannot list topics", "err", err)
		return
	}
	exists := map[string]bool{}
	for _, tt := range topics {
		exists[tt.Name] = true
	}
	objs, err := t.listObjects(lctx, "topic=")
	if err != nil {
		t.log.Warn("orphan sweep: cannot list objects", "err", err)
		return
	}
	var stale []string
	for _, oi := range objs {
		topic, _, _, _, ok := coldfile.ParseObjectKey(oi.Key)
		if !ok || exists[topic] || time.Since(oi.LastModified) < t.cfg.OrphanGrace {
			continue
		}
		stale = append(stale, oi.Key)
	}
	if len(stale) == 0 {
		return
	}
	// Look again right before deleting: a topic created meanwhile keeps
	// its (new) objects.
	topics, err = t.meta.Topics(lctx)
	if err != nil {
		return
	}
	for _, tt := range topics {
		exists[tt.Name] = true
	}
	for _, key := range stale {
		topic, _, _, _, _ := coldfile.ParseObjectKey(key)
		if exists[topic] {
			continue
		}
		if err := t.bucket.Delete(lctx, key); err != nil {
			t.noteStore(err)
			if !errors.Is(err, context.Canceled) {
				t.log.Warn("orphan sweep: delete failed", "object", key, "err", err)
			}
			return
		}
		t.m.orphansDeleted.Inc()
		t.log.Info("deleted object of a deleted topic", "object", key)
	}
}
