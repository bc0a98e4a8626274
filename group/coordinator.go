package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/placement"
)

// Coordinator coordinates the consumer groups this broker owns. It is safe
// for concurrent use.
//
// Locking: c.mu guards the group map; each group has its own mu (the state
// machine) and writeMu (serializes its state writes to etcd). Lock order is
// writeMu, then g.mu, then c.mu; c.mu is never held while taking g.mu, and
// g.mu is never held across an etcd call.
type Coordinator struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	metrics *metrics

	ctx    context.Context // canceled by Close; bounds background etcd calls
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	groups map[string]*group
	closed bool
	// allLoaded is the broker list for which every owned group in etcd has
	// been loaded into memory (so ListGroups need not read etcd again);
	// nil when a reload is needed.
	allLoaded []int32
	// deletions counts groups deleted from etcd; loadAll reads again if
	// one happened during its read (it could have read the deleted group).
	deletions uint64
}

// New returns a coordinator that persists through store and starts its
// background loops (dropping groups it no longer owns, offset retention).
func New(cfg Config, store Store) *Coordinator {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg:    cfg,
		store:  store,
		log:    cfg.Logger.With("component", "group"),
		ctx:    ctx,
		cancel: cancel,
		groups: map[string]*group{},
	}
	c.metrics = newMetrics(cfg.Registerer, c)
	c.wg.Add(1)
	go c.housekeeping()
	return c
}

// Close stops the coordinator: every pending JoinGroup and SyncGroup is
// answered with NOT_COORDINATOR, timers stop, and background etcd writes are
// abandoned (what was not written is redone by the next coordinator from
// what etcd holds).
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	c.cancel()
	for _, g := range groups {
		c.unload(g, "coordinator closing")
	}
	c.wg.Wait()
	return nil
}

// liveBrokers returns the sorted live broker ids (this broker alone when
// unknown).
func (c *Coordinator) liveBrokers() []int32 {
	var ids []int32
	if c.cfg.Brokers != nil {
		ids = c.cfg.Brokers()
	}
	return placement.Live(ids, c.cfg.BrokerID)
}

// CoordinatorFor returns the broker that coordinates group, chosen among
// the live brokers by rendezvous hashing (see coordinatorFor).
func (c *Coordinator) CoordinatorFor(group string) int32 {
	return coordinatorFor(group, c.liveBrokers())
}

// coordinatorFor is placement.Owner: rendezvous hashing of the group id
// over the live brokers.
func coordinatorFor(key string, ids []int32) int32 { return placement.Owner(key, ids) }

func (c *Coordinator) owns(group string) bool { return c.CoordinatorFor(group) == c.cfg.BrokerID }

func errNotCoordinator(group string) error {
	return fmt.Errorf("%w: group %q is not coordinated by this broker", kerr.NotCoordinator, group)
}

// storeErr turns an etcd failure into what a client should see: retry
// (and rediscover the coordinator) later.
func storeErr(what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %s: coordinator shutting down", kerr.CoordinatorNotAvailable, what)
	}
	return fmt.Errorf("%w: %s: %v", kerr.CoordinatorNotAvailable, what, err)
}

func (c *Coordinator) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, c.cfg.StoreTimeout)
}

// lockGroup returns the group, loaded from etcd on first use, with g.mu
// held. A group that does not exist is created (in memory) when create is
// set; otherwise lockGroup returns nil, nil for it.
func (c *Coordinator) lockGroup(ctx context.Context, name string, create bool) (*group, error) {
	for {
		if !c.owns(name) {
			return nil, errNotCoordinator(name)
		}
		g, err := c.loadedGroup(ctx, name)
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		if g.removed {
			// Deleted, expired or unloaded meanwhile: wait until it is out of
			// the map (its etcd write done), then look again.
			g.mu.Unlock()
			select {
			case <-g.gone:
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: group %q: %v", kerr.CoordinatorNotAvailable, name, ctx.Err())
			}
			continue
		}
		if !create && g.virgin() {
			c.retire(g)
			c.forget(g)
			g.mu.Unlock()
			return nil, nil
		}
		return g, nil
	}
}

// loadedGroup returns the group from the map, loading it from etcd if it is
// not there.
func (c *Coordinator) loadedGroup(ctx context.Context, name string) (*group, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: coordinator shutting down", kerr.CoordinatorNotAvailable)
	}
	g := c.groups[name]
	if g == nil {
		g = newGroup(c, name)
		c.groups[name] = g
		c.mu.Unlock()
		lctx, cancel := c.storeCtx()
		data, err := c.store.LoadGroup(lctx, name)
		cancel()
		g.mu.Lock()
		if err == nil {
			g.install(data)
		} else {
			g.loadErr = storeErr(fmt.Sprintf("load group %q", name), err)
			c.metrics.storeErrors.Inc()
			c.log.Error("cannot load group from etcd", "group", name, "err", err)
			c.retire(g)
			c.forget(g)
			c.forgetLoadedAll()
		}
		g.mu.Unlock()
		close(g.loaded)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-g.loaded:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: group %q still loading: %v", kerr.CoordinatorLoadInProgress, name, ctx.Err())
	}
	if g.loadErr != nil {
		return nil, g.loadErr
	}
	return g, nil
}

// retire marks g removed (called with g.mu held): it stops its timers and
// answers every waiting member with NOT_COORDINATOR. forget takes it out of
// the map afterwards.
func (c *Coordinator) retire(g *group) {
	if g.removed {
		return
	}
	g.removed = true
	g.cancelJoinTimer()
	g.cancelSyncTimer()
	for _, m := range g.members {
		m.stopTimer()
		g.completeJoin(m, JoinResult{Err: errNotCoordinator(g.name), MemberID: m.id, Generation: -1})
		g.completeSync(m, SyncResult{Err: errNotCoordinator(g.name)})
	}
	for id := range g.pending {
		delete(g.pending, id)
	}
	if g.cg != nil {
		for _, m := range g.cg.members {
			m.stopTimers()
		}
	}
	g.transition(Dead)
}

// forget removes a retired group from the map and wakes those waiting for
// that (lockGroup).
func (c *Coordinator) forget(g *group) {
	c.mu.Lock()
	if c.groups[g.name] == g {
		delete(c.groups, g.name)
	}
	c.mu.Unlock()
	g.goneOnce.Do(func() { close(g.gone) })
}

// unload drops a group this broker no longer coordinates (or that another
// coordinator wrote in etcd).
func (c *Coordinator) unload(g *group, reason string) {
	g.mu.Lock()
	wasRemoved := g.removed
	c.retire(g)
	g.mu.Unlock()
	c.forget(g)
	if !wasRemoved && !errors.Is(c.ctx.Err(), context.Canceled) {
		c.log.Info("group unloaded", "group", g.name, "reason", reason)
	}
}

// fenced handles a write refused because the group's state key changed
// under us: somebody else coordinates the group now.
func (c *Coordinator) fenced(g *group, err error) error {
	c.log.Warn("group written by another coordinator; unloading it", "group", g.name, "err", err)
	c.forgetLoadedAll()
	c.unload(g, "fenced")
	return errNotCoordinator(g.name)
}

// forgetLoadedAll notes that memory may lack a group etcd holds (a load
// or delete failed, another coordinator wrote): the next ListGroups or
// retention pass reads etcd again.
func (c *Coordinator) forgetLoadedAll() {
	c.mu.Lock()
	c.allLoaded = nil
	c.mu.Unlock()
}

// snapshotGroups returns the groups in the map.
func (c *Coordinator) snapshotGroups() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	return out
}

// loadAll makes sure every group this broker owns that etcd knows is in
// memory. It reads etcd only when the live broker set changed since the
// last full load (or force is set).
func (c *Coordinator) loadAll(ctx context.Context, force bool) error {
	live := c.liveBrokers()
	c.mu.Lock()
	done := !force && c.allLoaded != nil && slices.Equal(c.allLoaded, live)
	c.mu.Unlock()
	if done {
		return nil
	}
	var all []meta.GroupData
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		before := c.deletions
		c.mu.Unlock()
		lctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
		var err error
		all, err = c.store.AllGroups(lctx)
		cancel()
		if err != nil {
			c.metrics.storeErrors.Inc()
			return storeErr("list groups", err)
		}
		c.mu.Lock()
		raced := c.deletions != before
		c.mu.Unlock()
		if !raced {
			break
		}
		if attempt >= 3 {
			return fmt.Errorf("%w: groups keep being deleted while listing them", kerr.CoordinatorLoadInProgress)
		}
	}
	for _, d := range all {
		if d.Empty() || coordinatorFor(d.Group, live) != c.cfg.BrokerID {
			continue
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("%w: coordinator shutting down", kerr.CoordinatorNotAvailable)
		}
		if _, ok := c.groups[d.Group]; ok {
			c.mu.Unlock()
			continue
		}
		g := newGroup(c, d.Group)
		c.groups[d.Group] = g
		c.mu.Unlock()
		g.mu.Lock()
		g.install(d)
		g.mu.Unlock()
		close(g.loaded)
	}
	c.mu.Lock()
	c.allLoaded = live
	c.mu.Unlock()
	return nil
}

// housekeeping drops groups this broker no longer owns and, every
// RetentionCheckInterval, expires offsets and removes empty groups.
func (c *Coordinator) housekeeping() {
	defer c.wg.Done()
	own := time.NewTicker(c.cfg.OwnershipCheckInterval)
	defer own.Stop()
	ret := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer ret.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-own.C:
			c.dropUnowned()
		case <-ret.C:
			if err := c.expire(c.ctx, time.Now()); err != nil && c.ctx.Err() == nil {
				c.log.Warn("offset retention pass failed", "err", err)
			}
		}
	}
}

// dropUnowned unloads groups another broker coordinates now, and forgets
// groups that hold nothing (looked up by an OffsetFetch, say).
func (c *Coordinator) dropUnowned() {
	live := c.liveBrokers()
	c.mu.Lock()
	if c.allLoaded != nil && !slices.Equal(c.allLoaded, live) {
		c.allLoaded = nil
	}
	c.mu.Unlock()
	for _, g := range c.snapshotGroups() {
		select {
		case <-g.loaded:
		default:
			continue
		}
		if coordinatorFor(g.name, live) != c.cfg.BrokerID {
			c.unload(g, "coordinated by another broker now")
			continue
		}
		g.mu.Lock()
		virgin := !g.removed && g.virgin()
		if virgin {
			c.retire(g)
		}
		g.mu.Unlock()
		if virgin {
			c.forget(g)
		}
	}
}

// goBackground runs fn in a goroutine that Close waits for.
func (c *Coordinator) goBackground(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// persist writes a snapshot of the group state taken under g.mu. Snapshots
// are written in the order they were taken; one superseded by a later
// snapshot already written is skipped (errStale). A conflict means another
// coordinator wrote the group: it is unloaded and the error is
// NOT_COORDINATOR.
func (c *Coordinator) persist(g *group, snap snapshot) error {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if snap.seq <= g.writtenSeq {
		return errStale
	}
	g.mu.Lock()
	rev, removed := g.stateRev, g.removed
	g.mu.Unlock()
	if removed {
		return errNotCoordinator(g.name)
	}
	ctx, cancel := c.storeCtx()
	newRev, err := c.store.SaveGroupState(ctx, snap.st, rev)
	cancel()
	if errors.Is(err, meta.ErrConflict) {
		return c.fenced(g, err)
	}
	if err != nil {
		c.metrics.storeErrors.Inc()
		c.log.Error("cannot persist group state", "group", g.name, "generation", snap.st.Generation, "err", err)
		return storeErr(fmt.Sprintf("persist group %q", g.name), err)
	}
	g.writtenSeq = snap.seq
	g.mu.Lock()
	g.stateRev = newRev
	g.mu.Unlock()
	return nil
}

var errStale = errors.New("superseded group state not written")

// writeGuarded runs an etcd write guarded by the group's state revision.
// On a conflict it waits for this coordinator's own state write in flight
// (which changes the revision) and retries; if the revision did not change
// through us, the group was written by another coordinator: unloaded,
// NOT_COORDINATOR.
func (c *Coordinator) writeGuarded(g *group, what string, write func(ctx context.Context, rev int64) error) error {
	for attempt := 0; ; attempt++ {
		g.mu.Lock()
		rev, removed := g.stateRev, g.removed
		g.mu.Unlock()
		if removed {
			return errNotCoordinator(g.name)
		}
		ctx, cancel := c.storeCtx()
		err := write(ctx, rev)
		cancel()
		if err == nil {
			return nil
		}
		if !errors.Is(err, meta.ErrConflict) {
			c.metrics.storeErrors.Inc()
			c.log.Error("group write to etcd failed", "group", g.name, "what", what, "err", err)
			return storeErr(fmt.Sprintf("%s for group %q", what, g.name), err)
		}
		g.writeMu.Lock() // wait out our own state write, if one is in flight
		g.mu.Lock()
		changed := g.stateRev != rev
		g.mu.Unlock()
		g.writeMu.Unlock()
		if !changed || attempt >= 5 {
			return c.fenced(g, err)
		}
	}
}
