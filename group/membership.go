package group

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

func joinError(memberID string, err error) JoinResult {
	return JoinResult{Err: err, MemberID: memberID, Generation: -1}
}

func errInvalidGroupID() error {
	return fmt.Errorf("%w: the group id is empty", kerr.InvalidGroupID)
}

// Join handles a JoinGroup. It returns when the member's join phase ends
// (or at once for errors, MEMBER_ID_REQUIRED and rejoins that change
// nothing); ctx ending returns COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) JoinResult {
	switch {
	case req.Group == "":
		return joinError(req.MemberID, errInvalidGroupID())
	case req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout:
		return joinError(req.MemberID, fmt.Errorf("%w: session timeout %v is outside the broker's [%v, %v]",
			kerr.InvalidSessionTimeout, req.SessionTimeout, c.cfg.MinSessionTimeout, c.cfg.MaxSessionTimeout))
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout
	}
	g, err := c.lockGroup(ctx, req.Group, req.MemberID == "")
	if err != nil {
		return joinError(req.MemberID, err)
	}
	if g == nil { // a member id for a group that does not exist
		return joinError(req.MemberID, fmt.Errorf("%w: group %q does not exist", kerr.UnknownMemberID, req.Group))
	}
	if err := g.useClassicProtocol(); err != nil {
		g.mu.Unlock()
		return joinError(req.MemberID, err)
	}
	var res JoinResult
	var wait chan JoinResult
	if req.MemberID == "" {
		res, wait = g.joinNew(req)
	} else {
		res, wait = g.joinExisting(req)
	}
	g.mu.Unlock()
	if wait == nil {
		return res
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return joinError(req.MemberID, fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, ctx.Err()))
	}
}

// acceptJoiningMember applies group.max.size.
func (g *group) acceptJoiningMember(memberID string) bool {
	limit := g.c.cfg.MaxGroupSize
	if limit <= 0 {
		return true
	}
	switch g.state {
	case PreparingRebalance:
		if m := g.members[memberID]; m != nil && m.joinCh != nil {
			return true
		}
		n := 0
		for _, m := range g.members {
			if m.joinCh != nil {
				n++
			}
		}
		return n < limit
	case CompletingRebalance, Stable:
		return g.members[memberID] != nil || len(g.members) < limit
	}
	return true
}

func (g *group) joinNew(req JoinRequest) (JoinResult, chan JoinResult) {
	switch {
	case g.state == Dead:
		return joinError("", fmt.Errorf("%w: group %q is being removed", kerr.CoordinatorNotAvailable, g.name)), nil
	case !g.supportsProtocols(req.ProtocolType, req.Protocols):
		return joinError("", fmt.Errorf("%w: protocol type %q and protocols %v do not match group %q (type %q)",
			kerr.InconsistentGroupProtocol, req.ProtocolType, protocolNames(req.Protocols), g.name, g.protocolType)), nil
	case !g.acceptJoiningMember(""):
		return joinError("", fmt.Errorf("%w: group %q has %d members", kerr.GroupMaxSizeReached, g.name, g.c.cfg.MaxGroupSize)), nil
	}
	if req.InstanceID != "" {
		id := newMemberID(req.InstanceID)
		if old, ok := g.static[req.InstanceID]; ok {
			return g.replaceStaticMemberAndJoin(req, old, id)
		}
		g.c.log.Info("static member joins", "group", g.name, "instance", req.InstanceID, "member", id)
		return JoinResult{}, g.addMemberAndRebalance(req, id)
	}
	prefix := req.ClientID
	id := newMemberID(prefix)
	if req.RequireKnownMemberID {
		g.schedulePending(id, req.SessionTimeout)
		return joinError(id, fmt.Errorf("%w: join again with the member id in this response", kerr.MemberIDRequired)), nil
	}
	return JoinResult{}, g.addMemberAndRebalance(req, id)
}

func (g *group) joinExisting(req JoinRequest) (JoinResult, chan JoinResult) {
	switch {
	case g.state == Dead:
		return joinError(req.MemberID, fmt.Errorf("%w: group %q is being removed", kerr.CoordinatorNotAvailable, g.name)), nil
	case !g.supportsProtocols(req.ProtocolType, req.Protocols):
		return joinError(req.MemberID, fmt.Errorf("%w: protocol type %q and protocols %v do not match group %q (type %q)",
			kerr.InconsistentGroupProtocol, req.ProtocolType, protocolNames(req.Protocols), g.name, g.protocolType)), nil
	case !g.acceptJoiningMember(req.MemberID):
		return joinError(req.MemberID, fmt.Errorf("%w: group %q has %d members", kerr.GroupMaxSizeReached, g.name, g.c.cfg.MaxGroupSize)), nil
	}
	if _, ok := g.pending[req.MemberID]; ok && req.InstanceID == "" {
		delete(g.pending, req.MemberID)
		return JoinResult{}, g.addMemberAndRebalance(req, req.MemberID)
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return joinError(req.MemberID, err), nil
	}
	m := g.members[req.MemberID]
	current := func(withMembers bool) JoinResult {
		r := JoinResult{MemberID: m.id, Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader}
		if withMembers {
			r.Members = g.joinMembers()
		}
		return r
	}
	switch g.state {
	case PreparingRebalance:
		return JoinResult{}, g.updateMemberAndRebalance(m, req, "member "+m.id+" rejoins")
	case CompletingRebalance:
		if m.matches(req.Protocols) {
			// A retry of a join whose response got lost: same answer.
			return current(m.id == g.leader), nil
		}
		return JoinResult{}, g.updateMemberAndRebalance(m, req, "member "+m.id+" changed its metadata")
	case Stable:
		if m.id == g.leader || !m.matches(req.Protocols) {
			// The leader rejoins to trigger a rebalance (say the topics
			// it assigns changed); anybody else only if its metadata did.
			return JoinResult{}, g.updateMemberAndRebalance(m, req, "member "+m.id+" rejoins a stable group")
		}
		return current(false), nil
	}
	return joinError(req.MemberID, fmt.Errorf("%w: group %q is %s", kerr.UnknownMemberID, g.name, g.state)), nil
}

func protocolNames(ps []Protocol) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func (g *group) addMemberAndRebalance(req JoinRequest, id string) chan JoinResult {
	m := &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		sessionTimeout: req.SessionTimeout, rebalanceTimeout: req.RebalanceTimeout,
		protocolType: req.ProtocolType, protocols: req.Protocols, isNew: true,
	}
	if g.state == PreparingRebalance && g.prevState == Empty {
		g.newMemberAdded = true
	}
	g.add(m)
	ch := g.awaitJoin(m, req.SupportsSkipAssignment)
	// A new member cannot heartbeat and a parked JoinGroup cannot notice a
	// disconnect: bound its wait (Kafka's new-member join timeout).
	g.scheduleHeartbeat(m, g.c.cfg.NewMemberJoinTimeout)
	g.maybePrepareRebalanceOrCompleteJoin("adding member " + id)
	return ch
}

func (g *group) updateMemberAndRebalance(m *member, req JoinRequest, reason string) chan JoinResult {
	m.protocols = req.Protocols
	m.rebalanceTimeout = req.RebalanceTimeout
	m.sessionTimeout = req.SessionTimeout
	ch := g.awaitJoin(m, req.SupportsSkipAssignment)
	g.maybePrepareRebalanceOrCompleteJoin(reason)
	return ch
}

// replaceStaticMember gives a static member a new member id; the old id is
// fenced (its waiting requests get FENCED_INSTANCE_ID).
func (g *group) replaceStaticMember(instanceID, oldID, newID string) *member {
	m := g.members[oldID]
	fenced := fmt.Errorf("%w: group.instance.id %q joined again with a new member id", kerr.FencedInstanceID, instanceID)
	g.completeJoin(m, JoinResult{Err: fenced, MemberID: oldID, Generation: -1})
	g.completeSync(m, SyncResult{Err: fenced})
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	return m
}

// replaceStaticMemberAndJoin handles a static member that joins again
// without its member id (a restarted instance): it takes the old member's
// place. In a stable group whose protocol stays the same this needs no
// rebalance: the new id is persisted and the member gets the current
// generation (a v9+ leader with skip-assignment, an older leader told
// somebody else leads so that it does not reassign).
func (g *group) replaceStaticMemberAndJoin(req JoinRequest, oldID, newID string) (JoinResult, chan JoinResult) {
	currentLeader := g.leader
	m := g.replaceStaticMember(req.InstanceID, oldID, newID)
	g.c.log.Info("static member rejoins with a new member id", "group", g.name, "instance", req.InstanceID, "old", oldID, "new", newID, "state", g.state)
	g.scheduleHeartbeat(m, m.sessionTimeout)
	oldProtocols, oldRebalance, oldSession := m.protocols, m.rebalanceTimeout, m.sessionTimeout
	m.protocols, m.rebalanceTimeout, m.sessionTimeout = req.Protocols, req.RebalanceTimeout, req.SessionTimeout
	ch := g.awaitJoin(m, req.SupportsSkipAssignment)

	switch g.state {
	case Stable:
		if g.selectProtocol() != g.protocol {
			g.maybePrepareRebalanceOrCompleteJoin("static member " + req.InstanceID + " changed the group's protocol")
			return JoinResult{}, ch
		}
		gen := g.generation
		g.persistAsync(g.snapshot(nil), func(err error) {
			if m.joinCh != ch {
				return // answered already (a rebalance started meanwhile)
			}
			if err != nil {
				if !g.removed && g.generation == gen && g.members[newID] == m {
					m.protocols, m.rebalanceTimeout, m.sessionTimeout = oldProtocols, oldRebalance, oldSession
					g.completeJoin(m, joinError("", err))
					g.replaceStaticMember(req.InstanceID, newID, oldID)
					g.scheduleHeartbeat(m, m.sessionTimeout)
				} else {
					g.completeJoin(m, joinError("", err))
				}
				return
			}
			res := JoinResult{MemberID: newID, Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: currentLeader}
			if m.supportsSkip {
				res.Leader = g.leader
				if g.leader == newID {
					res.SkipAssignment = true
					res.Members = g.joinMembers()
				}
			}
			g.completeJoin(m, res)
		})
	case CompletingRebalance:
		// The leader may have been given the old member id already: the
		// assignment it sends would not name the new one. Start over.
		g.prepareRebalance("static member " + req.InstanceID + " rejoined during CompletingRebalance")
	case PreparingRebalance:
		g.maybeCompleteJoinPhase()
	}
	return JoinResult{}, ch
}

// Sync handles a SyncGroup. The leader's call carries the assignment; it is
// persisted in etcd, then every member waiting in SyncGroup gets its part
// and the group is Stable.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) SyncResult {
	if req.Group == "" {
		return SyncResult{Err: errInvalidGroupID()}
	}
	g, err := c.lockGroup(ctx, req.Group, false)
	if err != nil {
		return SyncResult{Err: err}
	}
	if g == nil {
		return SyncResult{Err: fmt.Errorf("%w: group %q does not exist", kerr.UnknownMemberID, req.Group)}
	}
	res, wait := g.sync(req)
	g.mu.Unlock()
	if wait == nil {
		return res
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return SyncResult{Err: fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, ctx.Err())}
	}
}

func (g *group) sync(req SyncRequest) (SyncResult, chan SyncResult) {
	if g.state == Dead {
		return SyncResult{Err: fmt.Errorf("%w: group %q is being removed", kerr.CoordinatorNotAvailable, g.name)}, nil
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return SyncResult{Err: err}, nil
	}
	if req.Generation != g.generation {
		return SyncResult{Err: fmt.Errorf("%w: generation %d, group %q is at %d", kerr.IllegalGeneration, req.Generation, g.name, g.generation)}, nil
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		return SyncResult{Err: fmt.Errorf("%w: group %q has protocol type %q and protocol %q", kerr.InconsistentGroupProtocol, g.name, g.protocolType, g.protocol)}, nil
	}
	m := g.members[req.MemberID]
	switch g.state {
	case Empty:
		return SyncResult{Err: fmt.Errorf("%w: group %q is empty", kerr.UnknownMemberID, g.name)}, nil
	case PreparingRebalance:
		return SyncResult{Err: fmt.Errorf("%w: group %q is rebalancing", kerr.RebalanceInProgress, g.name)}, nil
	case Stable:
		g.removePendingSync(m.id)
		return SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}, nil
	}
	// CompletingRebalance
	ch := g.awaitSync(m)
	g.removePendingSync(m.id)
	if m.id != g.leader {
		return SyncResult{}, ch
	}
	assignment := make(map[string][]byte, len(g.members))
	for id := range g.members {
		assignment[id] = req.Assignments[id] // nil (empty) for members the leader left out
	}
	gen := g.generation
	g.c.log.Info("assignment received from leader", "group", g.name, "generation", gen, "leader", m.id)
	g.persistAsync(g.snapshot(assignment), func(err error) {
		if g.removed || g.state != CompletingRebalance || g.generation != gen {
			return // the group moved on while we were writing
		}
		if err != nil {
			g.resetAndPropagateAssignment(err)
			g.maybePrepareRebalanceOrCompleteJoin("cannot persist the assignment")
			return
		}
		g.setAndPropagateAssignment(assignment)
		g.transition(Stable)
	})
	return SyncResult{}, ch
}

// Heartbeat handles a Heartbeat: it keeps the member alive and tells it
// when the group rebalances. It never waits on etcd once the group is
// loaded.
func (c *Coordinator) Heartbeat(ctx context.Context, req HeartbeatRequest) error {
	if req.Group == "" {
		return errInvalidGroupID()
	}
	g, err := c.lockGroup(ctx, req.Group, false)
	if err != nil {
		return err
	}
	if g == nil {
		return fmt.Errorf("%w: group %q does not exist", kerr.UnknownMemberID, req.Group)
	}
	defer g.mu.Unlock()
	if g.state == Dead {
		return fmt.Errorf("%w: group %q is being removed", kerr.CoordinatorNotAvailable, g.name)
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return err
	}
	if req.Generation != g.generation {
		return fmt.Errorf("%w: generation %d, group %q is at %d", kerr.IllegalGeneration, req.Generation, g.name, g.generation)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case PreparingRebalance:
		g.scheduleHeartbeat(m, m.sessionTimeout)
		return fmt.Errorf("%w: group %q is rebalancing", kerr.RebalanceInProgress, g.name)
	case CompletingRebalance, Stable:
		g.scheduleHeartbeat(m, m.sessionTimeout)
		return nil
	}
	return fmt.Errorf("%w: group %q is %s", kerr.UnknownMemberID, g.name, g.state)
}

// Leave handles a LeaveGroup: one result per member, or a top-level error.
func (c *Coordinator) Leave(ctx context.Context, groupID string, members []LeaveMember) ([]error, error) {
	if groupID == "" {
		return nil, errInvalidGroupID()
	}
	g, err := c.lockGroup(ctx, groupID, false)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(members))
	if g == nil {
		for i := range errs {
			errs[i] = fmt.Errorf("%w: group %q does not exist", kerr.UnknownMemberID, groupID)
		}
		return errs, nil
	}
	defer g.mu.Unlock()
	if g.state == Dead {
		return nil, fmt.Errorf("%w: group %q is being removed", kerr.CoordinatorNotAvailable, g.name)
	}
	left := 0
	for i, lm := range members {
		switch {
		case lm.MemberID == "":
			// Admin removal of a static member by instance id.
			id, ok := g.static[lm.InstanceID]
			if lm.InstanceID == "" || !ok {
				errs[i] = fmt.Errorf("%w: no static member %q in group %q", kerr.UnknownMemberID, lm.InstanceID, g.name)
				continue
			}
			g.c.log.Info("static member removed", "group", g.name, "instance", lm.InstanceID, "member", id, "reason", lm.Reason)
			g.remove(id)
			left++
		case g.pending[lm.MemberID] > 0 && lm.InstanceID == "":
			delete(g.pending, lm.MemberID)
			left++
		default:
			if err := g.validateMember(lm.MemberID, lm.InstanceID); err != nil {
				errs[i] = err
				continue
			}
			g.c.log.Info("member leaves group", "group", g.name, "member", lm.MemberID, "reason", lm.Reason)
			g.remove(lm.MemberID)
			left++
		}
	}
	if left > 0 {
		switch g.state {
		case Stable, CompletingRebalance:
			g.maybePrepareRebalanceOrCompleteJoin("members left")
		case PreparingRebalance:
			g.maybeCompleteJoinPhase()
		}
	}
	return errs, nil
}

// useClassicProtocol makes g a classic group for a JoinGroup (g.mu held):
// an empty consumer group becomes a classic one (its offsets stay); one
// with members answers INCONSISTENT_GROUP_PROTOCOL, as Kafka does with
// group.consumer.migration.policy=disabled.
func (g *group) useClassicProtocol() error {
	if g.cg == nil {
		return nil
	}
	if len(g.cg.members) > 0 {
		return fmt.Errorf("%w: group %q is a consumer group (KIP-848) with %d members", kerr.InconsistentGroupProtocol, g.name, len(g.cg.members))
	}
	g.cg = nil
	g.protocolType, g.protocol = "", ""
	return nil
}
