package group

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
)

// CommitOffsets handles an OffsetCommit: the offsets that pass validation
// are written to etcd, up to 128 per transaction (meta.CommitGroupOffsets).
// It returns one error (nil: committed) per entry of req.Offsets; when etcd
// fails part-way, the partitions written before stay committed and only the
// rest report the error.
func (c *Coordinator) CommitOffsets(ctx context.Context, req CommitRequest) []error {
	errs := make([]error, len(req.Offsets))
	fail := func(err error) []error { return failRest(errs, err) }
	if req.Group == "" {
		return fail(errInvalidGroupID())
	}
	if len(req.Offsets) == 0 {
		return errs
	}
	// A commit with a generation for a group that does not exist comes from
	// a member of a generation that is gone; a simple commit creates the group.
	g, err := c.lockGroup(ctx, req.Group, req.Generation < 0)
	if err != nil {
		return fail(err)
	}
	if g == nil {
		// GROUP_ID_NOT_FOUND, as OffsetCommit v9+ answers; the protocol
		// layer answers ILLEGAL_GENERATION to older versions.
		return fail(fmt.Errorf("%w: a commit of generation %d, and group %q does not exist", kerr.GroupIDNotFound, req.Generation, req.Group))
	}
	if err := g.validateCommit(req); err != nil {
		g.mu.Unlock()
		return fail(err)
	}
	now := time.Now()
	var expire int64
	if req.Retention > 0 {
		expire = now.Add(req.Retention).UnixMilli()
	}
	var batch []meta.GroupOffset
	var idx []int
	for i, o := range req.Offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataBytes {
			errs[i] = fmt.Errorf("%w: %d bytes of metadata for %s/%d, at most %d", kerr.OffsetMetadataTooLarge, len(o.Metadata), o.Topic, o.Partition, c.cfg.MaxMetadataBytes)
			continue
		}
		ts := now
		if !o.CommitTime.IsZero() {
			ts = o.CommitTime
		}
		batch = append(batch, meta.GroupOffset{
			Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch,
			Metadata: o.Metadata, CommitTimeMs: ts.UnixMilli(), ExpireTimeMs: expire,
		})
		idx = append(idx, i)
	}
	if len(batch) == 0 {
		g.mu.Unlock()
		return errs
	}
	g.inflight++
	g.mu.Unlock()

	// A retry after a lost race (writeGuarded) goes on from the first
	// offset not yet written.
	var revs []int64
	err = c.writeGuarded(g, "commit offsets", func(ctx context.Context, stateRev int64) error {
		r, err := c.store.CommitGroupOffsets(ctx, g.name, stateRev, batch[len(revs):])
		revs = append(revs, r...)
		return err
	})

	g.mu.Lock()
	g.inflight--
	c.metrics.commits.Add(float64(len(revs)))
	for i, o := range batch[:len(revs)] {
		tp := meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if cur, ok := g.offsets[tp]; !ok || cur.Revision < revs[i] {
			o.Revision = revs[i]
			g.offsets[tp] = offsetEntry{o}
		}
	}
	g.mu.Unlock()
	if err != nil {
		for _, i := range idx[len(revs):] {
			errs[i] = err
		}
	}
	return errs
}

// failRest sets err on every entry of errs still nil and returns errs:
// the rest of a commit fails with err.
func failRest(errs []error, err error) []error {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	return errs
}

// validateCommit is Kafka's check of who may commit (g.mu held): members
// of the current generation, or anybody with generation -1 while the group
// has no members, whatever member id it sends (Kafka's ClassicGroup
// validateOffsetCommit: a consumer that already left, or a tool that
// sends the last member id it knew, commits as a simple client).
func (g *group) validateCommit(req CommitRequest) error {
	if g.state == Dead {
		return fmt.Errorf("%w: group %q is being removed", kerr.CoordinatorNotAvailable, g.name)
	}
	if g.cg != nil {
		return g.cg.validateCommit(g.name, req.MemberID, req.Generation)
	}
	if req.Generation < 0 && g.state == Empty {
		return nil
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != "" {
		if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
			return err
		}
		if req.Generation != g.generation {
			return fmt.Errorf("%w: generation %d, group %q is at %d", kerr.IllegalGeneration, req.Generation, g.name, g.generation)
		}
	} else if g.state != Empty {
		return fmt.Errorf("%w: group %q has members; only they can commit", kerr.UnknownMemberID, g.name)
	}
	switch g.state {
	case CompletingRebalance:
		// The member knows the new generation but has no assignment yet.
		return fmt.Errorf("%w: group %q is completing a rebalance", kerr.RebalanceInProgress, g.name)
	case Stable, PreparingRebalance:
		// A commit is as good as a heartbeat; during PreparingRebalance the
		// next heartbeat tells the member to rejoin.
		if m := g.members[req.MemberID]; m != nil {
			g.scheduleHeartbeat(m, m.sessionTimeout)
		}
	}
	return nil
}

// FetchOffsets handles an OffsetFetch for one group: the committed offsets
// of parts, or of every committed partition when parts is nil. Partitions
// without a commit have offset -1. Offsets come from memory, not etcd.
// With requireStable, a partition with a pending transactional commit
// (TxnOffsetCommit not yet followed by its marker) answers
// UNSTABLE_OFFSET_COMMIT, which the client retries (KIP-447).
func (c *Coordinator) FetchOffsets(ctx context.Context, groupID string, parts []meta.TopicPartition, requireStable bool) ([]FetchedOffset, error) {
	if groupID == "" {
		return nil, errInvalidGroupID()
	}
	g, err := c.lockGroup(ctx, groupID, false)
	if err != nil {
		return nil, err
	}
	none := func(tp meta.TopicPartition) FetchedOffset {
		return FetchedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: -1, LeaderEpoch: -1}
	}
	var out []FetchedOffset
	if g == nil {
		for _, tp := range parts {
			out = append(out, none(tp))
		}
		return out, nil
	}
	defer g.mu.Unlock()
	found := func(o offsetEntry) FetchedOffset {
		return FetchedOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata}
	}
	if parts == nil {
		for _, o := range g.offsets {
			out = append(out, found(o))
			if requireStable && g.txnPending(meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}) {
				out[len(out)-1].Err = fmt.Errorf("%w: group %q has a transactional commit of %s/%d pending", kerr.UnstableOffsetCommit, g.name, o.Topic, o.Partition)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			return out[i].Topic < out[j].Topic || out[i].Topic == out[j].Topic && out[i].Partition < out[j].Partition
		})
		return out, nil
	}
	for _, tp := range parts {
		if o, ok := g.offsets[tp]; ok {
			out = append(out, found(o))
		} else {
			out = append(out, none(tp))
		}
		if requireStable && g.txnPending(tp) {
			out[len(out)-1].Err = fmt.Errorf("%w: group %q has a transactional commit of %s/%d pending", kerr.UnstableOffsetCommit, g.name, tp.Topic, tp.Partition)
		}
	}
	return out, nil
}

// DeleteOffsets handles an OffsetDelete: an empty group loses the offsets
// of parts; a consumer group with members keeps those of topics it
// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others. It
// returns one error per part, or a group-level error.
func (c *Coordinator) DeleteOffsets(ctx context.Context, groupID string, parts []meta.TopicPartition) ([]error, error) {
	if groupID == "" {
		return nil, errInvalidGroupID()
	}
	g, err := c.lockGroup(ctx, groupID, false)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("%w: group %q", kerr.GroupIDNotFound, groupID)
	}
	errs := make([]error, len(parts))
	var del []meta.TopicPartition
	switch g.state {
	case Dead:
		g.mu.Unlock()
		return nil, fmt.Errorf("%w: group %q", kerr.GroupIDNotFound, groupID)
	case Empty:
		del = parts
	default:
		subscribed, ok := g.subscribedTopics()
		if g.protocolType != "consumer" {
			g.mu.Unlock()
			return nil, fmt.Errorf("%w: group %q has members", kerr.NonEmptyGroup, groupID)
		}
		for i, tp := range parts {
			if !ok || subscribed[tp.Topic] {
				errs[i] = fmt.Errorf("%w: group %q consumes %s", kerr.GroupSubscribedToTopic, groupID, tp.Topic)
				continue
			}
			del = append(del, tp)
		}
	}
	g.mu.Unlock()
	if len(del) == 0 {
		return errs, nil
	}
	deleted := 0
	err = c.writeGuarded(g, "delete offsets", func(ctx context.Context, stateRev int64) error {
		n, err := c.store.DeleteGroupOffsets(ctx, g.name, stateRev, del[deleted:])
		deleted += n
		return err
	})
	// What etcd no longer holds goes from memory too, even when the rest
	// failed.
	g.mu.Lock()
	for _, tp := range del[:deleted] {
		delete(g.offsets, tp)
	}
	g.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// expiredOffsets returns the offsets due to expire at now (g.mu held), as
// Kafka decides (KIP-211): an empty group's offsets expire a retention
// period after the later of the group becoming empty and the commit; a
// group that never had members (simple commits) expires each offset a
// retention period after its commit; a stable consumer group expires only
// offsets of topics it no longer subscribes to. An explicit expiry time
// (OffsetCommit v1-v4) replaces the computed one.
func (g *group) expiredOffsets(now time.Time) []meta.GroupOffset {
	retention := g.c.cfg.OffsetsRetention
	due := func(o offsetEntry, base time.Time) bool {
		if o.ExpireTimeMs > 0 {
			return now.UnixMilli() >= o.ExpireTimeMs
		}
		return !now.Before(base.Add(retention))
	}
	var out []meta.GroupOffset
	switch {
	case g.state == Empty && g.protocolType == "":
		for _, o := range g.offsets {
			if due(o, time.UnixMilli(o.CommitTimeMs)) {
				out = append(out, o.GroupOffset)
			}
		}
	case g.state == Empty:
		for _, o := range g.offsets {
			base := time.UnixMilli(o.CommitTimeMs)
			if g.stateTime.After(base) {
				base = g.stateTime
			}
			if due(o, base) {
				out = append(out, o.GroupOffset)
			}
		}
	case g.state == Stable && g.protocolType == "consumer":
		subscribed, ok := g.subscribedTopics()
		if !ok {
			break
		}
		for _, o := range g.offsets {
			if !subscribed[o.Topic] && due(o, time.UnixMilli(o.CommitTimeMs)) {
				out = append(out, o.GroupOffset)
			}
		}
	}
	return out
}

// expire removes expired offsets of every group this broker coordinates,
// and deletes empty groups left without offsets (Kafka's offsets retention
// pass). Errors are reported and the pass goes on; what failed is retried
// next time.
func (c *Coordinator) expire(ctx context.Context, now time.Time) error {
	// A full read each pass also picks up anything memory lost track of.
	if err := c.loadAll(ctx, true); err != nil {
		return err
	}
	var errs []error
	for _, g := range c.snapshotGroups() {
		select {
		case <-g.loaded:
		default:
			continue
		}
		if err := c.expireGroup(ctx, g, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Coordinator) expireGroup(ctx context.Context, g *group, now time.Time) error {
	g.mu.Lock()
	if g.removed || g.inflight > 0 {
		g.mu.Unlock()
		return nil
	}
	expired := g.expiredOffsets(now)
	deleteGroup := g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(expired) == len(g.offsets)
	if deleteGroup {
		c.retire(g) // out of service; forget() after the etcd delete
		g.mu.Unlock()
		err := c.deleteRetired(ctx, g)
		if err == nil {
			c.log.Info("removed empty group", "group", g.name, "expired_offsets", len(expired))
		}
		return err
	}
	rev := g.stateRev
	g.mu.Unlock()
	if len(expired) == 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	n, err := c.store.ExpireGroupOffsets(sctx, g.name, rev, expired)
	cancel()
	// The first n are gone from etcd whatever happened to the rest.
	c.metrics.expired.Add(float64(n))
	g.mu.Lock()
	for _, o := range expired[:n] {
		tp := meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if cur, ok := g.offsets[tp]; ok && cur.Revision == o.Revision {
			delete(g.offsets, tp)
		}
	}
	g.mu.Unlock()
	if n > 0 {
		c.log.Info("expired committed offsets", "group", g.name, "offsets", n)
	}
	if errors.Is(err, meta.ErrConflict) {
		return nil // committed or rewritten meanwhile: decide again next pass
	}
	if err != nil {
		c.metrics.storeErrors.Inc()
		return fmt.Errorf("group %q: expire offsets: %w", g.name, err)
	}
	return nil
}

// deleteRetired deletes a retired group from etcd and then forgets it.
// Lookups of the group wait until then, so none reads it from etcd before
// the delete lands.
func (c *Coordinator) deleteRetired(ctx context.Context, g *group) error {
	defer c.forget(g)
	defer func() {
		c.mu.Lock()
		c.deletions++
		c.mu.Unlock()
	}()
	g.writeMu.Lock() // after any state write of ours still in flight
	defer g.writeMu.Unlock()
	g.mu.Lock()
	rev, virgin := g.stateRev, g.stateRev == 0 && len(g.offsets) == 0
	g.mu.Unlock()
	if virgin {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	err := c.store.DeleteGroup(sctx, g.name, rev)
	cancel()
	if err != nil {
		// The group stays in etcd; it is loaded again on next use.
		c.forgetLoadedAll()
		if errors.Is(err, meta.ErrConflict) {
			return errNotCoordinator(g.name)
		}
		c.metrics.storeErrors.Inc()
		return storeErr(fmt.Sprintf("delete group %q", g.name), err)
	}
	return nil
}

// CheckFetchMember validates the member of an OffsetFetch v9+ to a
// KIP-848 consumer group: epoch -1 (admin tools, classic clients) is not
// checked; otherwise UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH as in Kafka.
// Classic groups and groups that do not exist are not checked.
func (c *Coordinator) CheckFetchMember(ctx context.Context, groupID, memberID string, epoch int32) error {
	if epoch == -1 || groupID == "" {
		return nil
	}
	g, err := c.lockGroup(ctx, groupID, false)
	if err != nil || g == nil {
		return err
	}
	defer g.mu.Unlock()
	if g.cg == nil {
		return nil
	}
	if err := g.cg.validateMemberEpoch(g.name, memberID, epoch); err != nil {
		if errors.Is(err, kerr.FencedMemberEpoch) {
			return fmt.Errorf("%w: %v", kerr.StaleMemberEpoch, err)
		}
		return err
	}
	return nil
}
