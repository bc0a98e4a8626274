package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/placement"
)

// Coordinator is the transaction coordinator of the transactional ids this
// broker owns. It is safe for concurrent use.
//
// Locking: c.mu guards the entry map. Each entry has a one-slot channel
// lock, held across the etcd write of a transition (requests of one id are
// serialized, as one producer sends them in order) and taken with the
// caller's context, so a request waiting behind a slow etcd gives up at
// its own deadline. c.mu is never held while taking an entry's lock.
type Coordinator struct {
	cfg     Config
	store   Store
	pids    ProducerIDs
	markers Markers
	log     *slog.Logger

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool

	skew atomic.Int64 // tests: nanoseconds added to the clock
}

// entry is one transactional id this coordinator has loaded. Its fields
// are guarded by lock, except gone (also read by the marker loop).
type entry struct {
	id    string
	lock  chan struct{}
	ready bool // loaded from etcd (and taken over), or created
	// st is what etcd holds (st.Revision its mod revision; 0 with exists
	// false: nothing stored yet), state its parsed State.
	st     meta.TxnState
	state  State
	exists bool
	// completing is set while the markers of a Prepare state are being
	// written.
	completing bool
	gone       bool
}

// New returns a coordinator that keeps state through store, allocates
// producer ids from pids and writes markers through markers.
func New(cfg Config, store Store, pids ProducerIDs, markers Markers) *Coordinator {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg: cfg, store: store, pids: pids, markers: markers,
		log: cfg.Logger.With("component", "txn"), ctx: ctx, cancel: cancel,
		entries: map[string]*entry{},
	}
	c.wg.Add(1)
	go c.housekeeping()
	return c
}

// Close stops the background loops and the marker writes; what is not
// finished is finished by the next coordinator from what etcd holds.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
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

// CoordinatorFor returns the broker that coordinates transactional id id.
func (c *Coordinator) CoordinatorFor(id string) int32 {
	return placement.Owner(id, c.liveBrokers())
}

func (c *Coordinator) now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

func (c *Coordinator) owns(id string) bool { return c.CoordinatorFor(id) == c.cfg.BrokerID }

func errNotCoordinator(id string) error {
	return fmt.Errorf("%w: transactional id %q is not coordinated by this broker", kerr.NotCoordinator, id)
}

func storeErr(what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %s: coordinator shutting down", kerr.CoordinatorNotAvailable, what)
	}
	return fmt.Errorf("%w: %s: %v", kerr.CoordinatorNotAvailable, what, err)
}

func (c *Coordinator) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, c.cfg.StoreTimeout)
}

// lockEntry returns the id's entry with its lock held, loaded from etcd
// (and taken over: see takeOver) on first use. A missing id comes back as
// an entry with exists false only when create is set; otherwise lockEntry
// returns nil, nil.
func (c *Coordinator) lockEntry(ctx context.Context, id string, create bool) (*entry, error) {
	for attempt := 0; ; attempt++ {
		if !c.owns(id) {
			return nil, errNotCoordinator(id)
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: coordinator shutting down", kerr.CoordinatorNotAvailable)
		}
		e := c.entries[id]
		if e == nil {
			e = &entry{id: id, lock: make(chan struct{}, 1)}
			c.entries[id] = e
		}
		c.mu.Unlock()
		select {
		case e.lock <- struct{}{}:
		case <-ctx.Done():
			if !e.ready {
				return nil, fmt.Errorf("%w: transactional id %q: %v", kerr.CoordinatorLoadInProgress, id, ctx.Err())
			}
			return nil, fmt.Errorf("%w: transactional id %q busy: %v", kerr.ConcurrentTransactions, id, ctx.Err())
		}
		if e.gone {
			e.unlock()
			if attempt > 3 {
				return nil, fmt.Errorf("%w: transactional id %q is being unloaded", kerr.CoordinatorLoadInProgress, id)
			}
			continue
		}
		if !e.ready {
			if err := c.load(e); err != nil {
				c.drop(e)
				e.unlock()
				return nil, err
			}
		}
		if !e.exists && !create {
			c.drop(e)
			e.unlock()
			return nil, nil
		}
		return e, nil
	}
}

func (e *entry) unlock() { <-e.lock }

// load reads the id from etcd (lock held) and takes it over.
func (c *Coordinator) load(e *entry) error {
	ctx, cancel := c.storeCtx()
	st, ok, err := c.store.LoadTxn(ctx, e.id)
	cancel()
	if err != nil {
		c.log.Error("cannot load transactional id", "transactional_id", e.id, "err", err)
		return storeErr(fmt.Sprintf("load transactional id %q", e.id), err)
	}
	e.ready = true
	if !ok {
		return nil
	}
	return c.takeOver(e, st)
}

// takeOver installs st, read from etcd, as this coordinator's: it writes
// it back with the coordinator epoch raised, which fences the previous
// coordinator (its next write conflicts) and stamps this one's markers,
// then resumes what the previous one left: the markers of a Prepare state.
func (c *Coordinator) takeOver(e *entry, st meta.TxnState) error {
	s, ok := ParseState(st.State)
	if !ok {
		return fmt.Errorf("%w: transactional id %q has unknown state %q in etcd", kerr.UnknownServerError, e.id, st.State)
	}
	e.st, e.state, e.exists = st, s, true
	next := st
	next.CoordinatorEpoch++
	if err := c.save(e, next, s); err != nil {
		return err
	}
	c.log.Info("transactional id loaded", "transactional_id", e.id, "state", s, "producer_id", st.ProducerID,
		"producer_epoch", st.ProducerEpoch, "coordinator_epoch", next.CoordinatorEpoch)
	if s.preparing() {
		c.startMarkers(e)
	}
	return nil
}

// save writes next as the id's state (lock held) and installs it. A
// conflict means another coordinator took the id: it is dropped here and
// the error is NOT_COORDINATOR. Any other failure leaves unknown whether
// the write landed, so the entry is dropped too (the next request loads
// it again) and the error is COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) save(e *entry, next meta.TxnState, s State) error {
	next.TransactionalID = e.id
	next.State = s.String()
	if s == PrepareEpochFence {
		next.State = PrepareAbort.String()
	}
	ctx, cancel := c.storeCtx()
	rev, err := c.store.SaveTxn(ctx, next, e.st.Revision)
	cancel()
	if err != nil {
		c.drop(e)
		if errors.Is(err, meta.ErrConflict) {
			c.log.Warn("transactional id written by another coordinator; unloading it", "transactional_id", e.id, "err", err)
			return errNotCoordinator(e.id)
		}
		c.log.Error("cannot write transaction state", "transactional_id", e.id, "state", s, "err", err)
		return storeErr(fmt.Sprintf("write transactional id %q", e.id), err)
	}
	next.Revision = rev
	e.st, e.state, e.exists = next, s, true
	return nil
}

// drop takes e out of the map (lock held, or e not yet shared): the next
// request for the id loads it again.
func (c *Coordinator) drop(e *entry) {
	e.gone = true
	c.mu.Lock()
	if c.entries[e.id] == e {
		delete(c.entries, e.id)
	}
	c.mu.Unlock()
}

func (c *Coordinator) snapshot() []*entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*entry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e)
	}
	return out
}

// tryLock takes e's lock without waiting behind a request.
func (e *entry) tryLock() bool {
	select {
	case e.lock <- struct{}{}:
		return true
	default:
		return false
	}
}

// housekeeping drops ids another broker owns now, takes over the
// unfinished transactions of ids this broker owns now, aborts
// transactions past their timeout and removes expired ids.
func (c *Coordinator) housekeeping() {
	defer c.wg.Done()
	own := time.NewTicker(c.cfg.OwnershipCheckInterval)
	defer own.Stop()
	abort := time.NewTicker(c.cfg.AbortCheckInterval)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.ExpirationCheckInterval)
	defer expire.Stop()
	var adopted, seen []int32
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-own.C:
			live := c.liveBrokers()
			c.dropUnowned(live)
			// Adopt once the live set held still for a tick: a broker
			// that just started may not see its peers yet, and would
			// take their ids over for nothing.
			if slices.Equal(live, seen) && !slices.Equal(live, adopted) {
				if err := c.adopt(live); err != nil {
					if c.ctx.Err() == nil {
						c.log.Warn("cannot take over unfinished transactions", "err", err)
					}
				} else {
					adopted = live
				}
			}
			seen = live
		case <-abort.C:
			c.abortTimedOut()
			// Also the ids whose completion stopped on an etcd error,
			// with nobody asking for them since.
			if adopted != nil {
				if err := c.adopt(c.liveBrokers()); err != nil && c.ctx.Err() == nil {
					c.log.Warn("cannot take over unfinished transactions", "err", err)
				}
			}
		case <-expire.C:
			if err := c.expire(); err != nil && c.ctx.Err() == nil {
				c.log.Warn("transactional id expiration pass failed", "err", err)
			}
		}
	}
}

// dropUnowned forgets the ids another broker coordinates now. Their
// marker loops stop at their next round; the new coordinator resends.
func (c *Coordinator) dropUnowned(live []int32) {
	for _, e := range c.snapshot() {
		if placement.Owner(e.id, live) == c.cfg.BrokerID {
			continue
		}
		if !e.tryLock() {
			continue // a request holds it; it fails on its write or next tick
		}
		c.drop(e)
		e.unlock()
		c.log.Info("transactional id moved to another coordinator", "transactional_id", e.id)
	}
}

// adopt loads every id this broker owns whose transaction is unfinished
// (Ongoing, so that its timeout aborts it; Prepare, so that its markers
// are written), as a coordinator taking over after a failover must even
// if the producer never comes back.
func (c *Coordinator) adopt(live []int32) error {
	ctx, cancel := c.storeCtx()
	all, err := c.store.AllTxns(ctx)
	cancel()
	if err != nil {
		return err
	}
	for _, st := range all {
		if placement.Owner(st.TransactionalID, live) != c.cfg.BrokerID {
			continue
		}
		if s, _ := ParseState(st.State); s != Ongoing && !s.preparing() {
			continue
		}
		lctx, cancel := context.WithTimeout(c.ctx, c.cfg.StoreTimeout)
		e, err := c.lockEntry(lctx, st.TransactionalID, false)
		cancel()
		if err != nil {
			if c.ctx.Err() != nil {
				return c.ctx.Err()
			}
			c.log.Warn("cannot take over transactional id", "transactional_id", st.TransactionalID, "err", err)
			continue
		}
		if e != nil {
			e.unlock()
		}
	}
	return nil
}

// abortTimedOut aborts the loaded transactions open longer than their
// timeout: the producer's epoch is bumped (it is fenced: its next request
// gets PRODUCER_FENCED) and the abort markers are written with it.
func (c *Coordinator) abortTimedOut() {
	now := c.now().UnixMilli()
	for _, e := range c.snapshot() {
		if !e.tryLock() {
			continue
		}
		if !e.gone && e.ready && e.exists && e.state == Ongoing && now > e.st.TxnStartMs+int64(e.st.TimeoutMs) {
			c.log.Info("aborting transaction past its timeout", "transactional_id", e.id, "producer_id", e.st.ProducerID,
				"producer_epoch", e.st.ProducerEpoch, "timeout_ms", e.st.TimeoutMs)
			if err := c.fenceAndAbort(e); err != nil {
				c.log.Warn("cannot abort timed-out transaction", "transactional_id", e.id, "err", err)
			}
		}
		e.unlock()
	}
}

// expire removes the ids whose last transaction ended longer than
// IDExpiration ago.
func (c *Coordinator) expire() error {
	ctx, cancel := c.storeCtx()
	all, err := c.store.AllTxns(ctx)
	cancel()
	if err != nil {
		return err
	}
	live := c.liveBrokers()
	cutoff := c.now().Add(-c.cfg.IDExpiration).UnixMilli()
	for _, st := range all {
		if s, _ := ParseState(st.State); !s.complete() || st.UpdateMs > cutoff || placement.Owner(st.TransactionalID, live) != c.cfg.BrokerID {
			continue
		}
		lctx, cancel := context.WithTimeout(c.ctx, c.cfg.StoreTimeout)
		e, err := c.lockEntry(lctx, st.TransactionalID, false)
		cancel()
		if err != nil || e == nil {
			continue
		}
		if e.state.complete() && e.st.UpdateMs <= cutoff && canTransition(e.state, Dead) {
			e.state = Dead
			dctx, cancel := c.storeCtx()
			err := c.store.DeleteTxn(dctx, e.id, e.st.Revision)
			cancel()
			if err != nil {
				c.log.Warn("cannot remove expired transactional id", "transactional_id", e.id, "err", err)
			} else {
				c.log.Info("transactional id expired", "transactional_id", e.id, "producer_id", e.st.ProducerID)
			}
			c.drop(e)
		}
		e.unlock()
	}
	return nil
}
