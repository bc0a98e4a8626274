package group

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestJoinSyncHeartbeatLeave(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	ctx := testCtx(t)
	const session = 5 * time.Second

	r1 := wait(t, joinNew(t, ctx, c, joinReq("g", "", session, "t")))
	if r1.Err != nil || r1.Generation != 1 || r1.Leader != r1.MemberID || len(r1.Members) != 1 || r1.Protocol != "range" || r1.ProtocolType != "consumer" {
		t.Fatalf("first member: %+v", r1)
	}
	sr := c.Sync(ctx, SyncRequest{Group: "g", Generation: 1, MemberID: r1.MemberID, Assignments: map[string][]byte{r1.MemberID: []byte("all")}})
	if sr.Err != nil || string(sr.Assignment) != "all" || sr.Protocol != "range" {
		t.Fatalf("sync: %+v", sr)
	}
	wantErr(t, "heartbeat", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: 1, MemberID: r1.MemberID}), nil)
	wantErr(t, "join with an unknown member id", c.Join(ctx, joinReq("g", "m-unknown", session, "t")).Err, kerr.UnknownMemberID)

	// A second member triggers a rebalance; the first learns it from its
	// heartbeat and rejoins.
	second := joinNew(t, ctx, c, joinReq("g", "", session, "t"))
	eventually(t, "rebalance to start", func() bool {
		return errors.Is(c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: 1, MemberID: r1.MemberID}), kerr.RebalanceInProgress)
	})
	first := joinAsync(ctx, c, joinReq("g", r1.MemberID, session, "t"))
	a, b := wait(t, first), wait(t, second)
	if a.Err != nil || b.Err != nil || a.Generation != 2 || b.Generation != 2 || a.Leader != r1.MemberID || b.Leader != r1.MemberID {
		t.Fatalf("rebalance: %+v / %+v", a, b)
	}
	if len(a.Members) != 2 || len(b.Members) != 0 {
		t.Fatalf("only the leader gets the members: %d / %d", len(a.Members), len(b.Members))
	}
	// The follower's SyncGroup waits for the leader's.
	follower := make(chan SyncResult, 1)
	go func() { follower <- c.Sync(ctx, SyncRequest{Group: "g", Generation: 2, MemberID: b.MemberID}) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case r := <-follower:
		t.Fatalf("follower sync returned before the leader's: %+v", r)
	default:
	}
	ct, pr := "consumer", "range"
	lr := c.Sync(ctx, SyncRequest{Group: "g", Generation: 2, MemberID: a.MemberID, ProtocolType: &ct, Protocol: &pr,
		Assignments: map[string][]byte{a.MemberID: []byte("A"), b.MemberID: []byte("B")}})
	fr := wait(t, follower)
	if lr.Err != nil || fr.Err != nil || string(lr.Assignment) != "A" || string(fr.Assignment) != "B" {
		t.Fatalf("sync: leader %+v follower %+v", lr, fr)
	}
	d, err := c.DescribeGroup(ctx, "g")
	if err != nil || d.State != "Stable" || len(d.Members) != 2 || d.Protocol != "range" {
		t.Fatalf("describe: %+v %v", d, err)
	}

	// The leader leaves: the follower rejoins alone and leads generation 3.
	errs, err := c.Leave(ctx, "g", []LeaveMember{{MemberID: a.MemberID}})
	if err != nil || errs[0] != nil {
		t.Fatalf("leave: %v %v", errs, err)
	}
	wantErr(t, "heartbeat after leader left", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: 2, MemberID: b.MemberID}), kerr.RebalanceInProgress)
	r3 := wait(t, joinAsync(ctx, c, joinReq("g", b.MemberID, session, "t")))
	if r3.Err != nil || r3.Generation != 3 || r3.Leader != b.MemberID {
		t.Fatalf("after leave: %+v", r3)
	}
	// The last member leaves: the group is Empty at generation 4.
	if errs, err := c.Leave(ctx, "g", []LeaveMember{{MemberID: b.MemberID}}); err != nil || errs[0] != nil {
		t.Fatalf("leave: %v %v", errs, err)
	}
	d, _ = c.DescribeGroup(ctx, "g")
	if d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after everybody left: %+v", d)
	}
}

func TestInitialRebalanceDelayGathersMembers(t *testing.T) {
	const delay = 400 * time.Millisecond
	c := newCoordinator(t, newStore(t), func(cfg *Config) { cfg.InitialRebalanceDelay = delay })
	ctx := testCtx(t)
	start := time.Now()
	var chans []<-chan JoinResult
	for i := 0; i < 3; i++ {
		chans = append(chans, joinNew(t, ctx, c, joinReq("g", "", 10*time.Second, "t")))
		time.Sleep(50 * time.Millisecond)
	}
	for _, ch := range chans {
		r := wait(t, ch)
		if r.Err != nil || r.Generation != 1 {
			t.Fatalf("join: %+v; all three members should land in generation 1", r)
		}
	}
	if el := time.Since(start); el < delay {
		t.Fatalf("initial rebalance completed after %v, before the %v delay", el, delay)
	}
}

// stableGroup brings n members (session timeout session) to one stable
// generation and returns their member ids, leader first. The coordinator
// needs an initial rebalance delay (testConfig has one) so that all n land
// in the first generation.
func stableGroup(t *testing.T, c *Coordinator, group string, n int, session time.Duration) ([]string, int32) {
	t.Helper()
	ctx := testCtx(t)
	var chans []<-chan JoinResult
	for i := 0; i < n; i++ {
		chans = append(chans, joinNew(t, ctx, c, joinReq(group, "", session, "t")))
	}
	var ids []string
	var leader string
	var gen int32
	for _, ch := range chans {
		r := wait(t, ch)
		if r.Err != nil {
			t.Fatalf("join: %+v", r)
		}
		if gen != 0 && r.Generation != gen {
			t.Fatalf("members joined generations %d and %d; want one", gen, r.Generation)
		}
		ids = append(ids, r.MemberID)
		leader, gen = r.Leader, r.Generation
	}
	assign := map[string][]byte{}
	for _, id := range ids {
		assign[id] = []byte("a-" + id)
	}
	var syncs []chan SyncResult
	for _, id := range ids {
		if id == leader {
			continue
		}
		ch := make(chan SyncResult, 1)
		syncs = append(syncs, ch)
		go func() { ch <- c.Sync(ctx, SyncRequest{Group: group, Generation: gen, MemberID: id}) }()
	}
	if r := c.Sync(ctx, SyncRequest{Group: group, Generation: gen, MemberID: leader, Assignments: assign}); r.Err != nil {
		t.Fatalf("leader sync: %+v", r)
	}
	for _, ch := range syncs {
		if r := wait(t, ch); r.Err != nil {
			t.Fatalf("sync: %+v", r)
		}
	}
	out := []string{leader}
	for _, id := range ids {
		if id != leader {
			out = append(out, id)
		}
	}
	return out, gen
}

func TestSessionTimeoutRemovesDeadMember(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	ctx := testCtx(t)
	const session = 300 * time.Millisecond
	ids, gen := stableGroup(t, c, "g", 2, session)
	survivor, dead := ids[0], ids[1]
	// Only the survivor heartbeats; the other's session expires.
	start := time.Now()
	var err error
	for {
		err = c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: survivor})
		if err != nil || time.Since(start) > 5*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantErr(t, "survivor heartbeat", err, kerr.RebalanceInProgress)
	if el := time.Since(start); el < session || el > session+time.Second {
		t.Fatalf("rebalance noticed after %v, session timeout %v", el, session)
	}
	r := wait(t, joinAsync(ctx, c, joinReq("g", survivor, session, "t")))
	if r.Err != nil || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
	wantErr(t, "dead member heartbeat", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: dead}), kerr.UnknownMemberID)
}

func TestRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	ctx := testCtx(t)
	const session = 400 * time.Millisecond
	ids, gen := stableGroup(t, c, "g", 2, session)
	// The leader rejoins (forcing a rebalance); the follower keeps
	// heartbeating but never rejoins: after the rebalance timeout it is out.
	res := joinAsync(ctx, c, joinReq("g", ids[0], session, "t"))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: ids[1]})
			}
		}
	}()
	r := wait(t, res)
	if r.Err != nil || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("join after rebalance timeout: %+v", r)
	}
}

func TestPendingSyncExpires(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	ctx := testCtx(t)
	const session = 300 * time.Millisecond
	r := wait(t, joinNew(t, ctx, c, joinReq("g", "", session, "t")))
	// The leader never sends SyncGroup: after the rebalance timeout it is
	// removed and the group is empty again.
	eventually(t, "group to become empty", func() bool {
		d, _ := c.DescribeGroup(ctx, "g")
		return d.State == "Empty"
	})
	wantErr(t, "heartbeat", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: r.Generation, MemberID: r.MemberID}), kerr.UnknownMemberID)
}

func TestStaticMembership(t *testing.T) {
	c := newCoordinator(t, newStore(t))
	ctx := testCtx(t)
	const session = 5 * time.Second
	static := func(inst, memberID string) JoinRequest {
		r := joinReq("g", memberID, session, "t")
		r.InstanceID = inst
		r.RequireKnownMemberID = false
		return r
	}
	// Static members get their id at once (no MEMBER_ID_REQUIRED).
	a := joinAsync(ctx, c, static("inst-a", ""))
	b := joinAsync(ctx, c, static("inst-b", ""))
	ra, rb := wait(t, a), wait(t, b)
	if ra.Err != nil || rb.Err != nil {
		t.Fatalf("static joins: %+v %+v", ra, rb)
	}
	gen := max(ra.Generation, rb.Generation)
	if ra.Generation != rb.Generation {
		// The first one completed generation 1 alone; both rejoin.
		a, b = joinAsync(ctx, c, static("inst-a", ra.MemberID)), joinAsync(ctx, c, static("inst-b", rb.MemberID))
		ra, rb = wait(t, a), wait(t, b)
		gen = ra.Generation
	}
	leader, follower := ra, rb
	if rb.MemberID == ra.Leader {
		leader, follower = rb, ra
	}
	fsync := make(chan SyncResult, 1)
	go func() {
		fsync <- c.Sync(ctx, SyncRequest{Group: "g", Generation: gen, MemberID: follower.MemberID, InstanceID: instOf(follower, ra, "inst-a", "inst-b")})
	}()
	if r := c.Sync(ctx, SyncRequest{Group: "g", Generation: gen, MemberID: leader.MemberID, InstanceID: instOf(leader, ra, "inst-a", "inst-b"),
		Assignments: map[string][]byte{leader.MemberID: []byte("L"), follower.MemberID: []byte("F")}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := wait(t, fsync); r.Err != nil || string(r.Assignment) != "F" {
		t.Fatalf("follower sync: %+v", r)
	}
	finst := instOf(follower, ra, "inst-a", "inst-b")

	// The follower restarts: same instance id, no member id. No rebalance:
	// same generation, a new member id, the old one fenced.
	re := wait(t, joinAsync(ctx, c, static(finst, "")))
	if re.Err != nil || re.Generation != gen || re.MemberID == follower.MemberID || re.Leader != leader.MemberID {
		t.Fatalf("static rejoin: %+v", re)
	}
	if r := c.Sync(ctx, SyncRequest{Group: "g", Generation: gen, MemberID: re.MemberID, InstanceID: finst}); r.Err != nil || string(r.Assignment) != "F" {
		t.Fatalf("sync after static rejoin: %+v; want the old assignment", r)
	}
	wantErr(t, "heartbeat of the fenced member id", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: follower.MemberID, InstanceID: finst}), kerr.FencedInstanceID)
	errs := c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: gen, MemberID: follower.MemberID, InstanceID: finst, Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: 1}}})
	wantErr(t, "commit of the fenced member id", errs[0], kerr.FencedInstanceID)
	r := c.Sync(ctx, SyncRequest{Group: "g", Generation: gen, MemberID: follower.MemberID, InstanceID: finst})
	wantErr(t, "sync of the fenced member id", r.Err, kerr.FencedInstanceID)
	jr := c.Join(ctx, static(finst, follower.MemberID))
	wantErr(t, "join of the fenced member id", jr.Err, kerr.FencedInstanceID)
	lerrs, _ := c.Leave(ctx, "g", []LeaveMember{{MemberID: follower.MemberID, InstanceID: finst}})
	wantErr(t, "leave of the fenced member id", lerrs[0], kerr.FencedInstanceID)
	wantErr(t, "heartbeat of the new member id", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: re.MemberID, InstanceID: finst}), nil)

	// The leader restarts with JoinGroup v9: it is told to skip the
	// assignment and gets the members; still no rebalance.
	lreq := static(instOf(leader, ra, "inst-a", "inst-b"), "")
	lreq.SupportsSkipAssignment = true
	lr := wait(t, joinAsync(ctx, c, lreq))
	if lr.Err != nil || lr.Generation != gen || !lr.SkipAssignment || lr.Leader != lr.MemberID || len(lr.Members) != 2 {
		t.Fatalf("static leader rejoin (v9): %+v", lr)
	}
	d, _ := c.DescribeGroup(ctx, "g")
	if d.State != "Stable" {
		t.Fatalf("state %s after static rejoins, want Stable", d.State)
	}

	// Admin removal by instance id (LeaveGroup v3+ with no member id).
	lerrs, err := c.Leave(ctx, "g", []LeaveMember{{InstanceID: finst}, {InstanceID: "nobody"}})
	if err != nil || lerrs[0] != nil {
		t.Fatalf("remove static member: %v %v", lerrs, err)
	}
	wantErr(t, "remove unknown static member", lerrs[1], kerr.UnknownMemberID)
}

func instOf(r, ra JoinResult, a, b string) string {
	if r.MemberID == ra.MemberID {
		return a
	}
	return b
}

func TestMembershipErrors(t *testing.T) {
	c := newCoordinator(t, newStore(t), func(cfg *Config) {
		cfg.MinSessionTimeout = time.Second
		cfg.MaxSessionTimeout = time.Minute
		cfg.MaxGroupSize = 2
	})
	ctx := testCtx(t)
	wantErr(t, "empty group id", c.Join(ctx, joinReq("", "", 10*time.Second)).Err, kerr.InvalidGroupID)
	wantErr(t, "empty group id sync", c.Sync(ctx, SyncRequest{}).Err, kerr.InvalidGroupID)
	wantErr(t, "empty group id heartbeat", c.Heartbeat(ctx, HeartbeatRequest{}), kerr.InvalidGroupID)
	wantErr(t, "session too short", c.Join(ctx, joinReq("g", "", 100*time.Millisecond)).Err, kerr.InvalidSessionTimeout)
	wantErr(t, "session too long", c.Join(ctx, joinReq("g", "", time.Hour)).Err, kerr.InvalidSessionTimeout)
	noProto := joinReq("g", "", 10*time.Second)
	noProto.Protocols = nil
	wantErr(t, "no protocols", c.Join(ctx, noProto).Err, kerr.InconsistentGroupProtocol)
	wantErr(t, "unknown member of unknown group", c.Join(ctx, joinReq("nope", "m-1", 10*time.Second)).Err, kerr.UnknownMemberID)
	wantErr(t, "sync in unknown group", c.Sync(ctx, SyncRequest{Group: "nope", MemberID: "m"}).Err, kerr.UnknownMemberID)
	wantErr(t, "heartbeat in unknown group", c.Heartbeat(ctx, HeartbeatRequest{Group: "nope", MemberID: "m"}), kerr.UnknownMemberID)
	lerrs, err := c.Leave(ctx, "nope", []LeaveMember{{MemberID: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "leave unknown group", lerrs[0], kerr.UnknownMemberID)

	ids, gen := stableGroup(t, c, "g", 2, 10*time.Second)
	m, m2 := ids[0], ids[1]
	other := joinReq("g", "", 10*time.Second)
	other.ProtocolType = "connect"
	wantErr(t, "other protocol type", c.Join(ctx, other).Err, kerr.InconsistentGroupProtocol)
	otherProto := joinReq("g", "", 10*time.Second)
	otherProto.Protocols = []Protocol{{Name: "roundrobin"}}
	wantErr(t, "no common protocol", c.Join(ctx, otherProto).Err, kerr.InconsistentGroupProtocol)
	wantErr(t, "heartbeat unknown member", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: "x"}), kerr.UnknownMemberID)
	wantErr(t, "heartbeat old generation", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen - 1, MemberID: m}), kerr.IllegalGeneration)
	wantErr(t, "sync old generation", c.Sync(ctx, SyncRequest{Group: "g", Generation: gen + 1, MemberID: m}).Err, kerr.IllegalGeneration)
	wrong := "roundrobin"
	wantErr(t, "sync wrong protocol", c.Sync(ctx, SyncRequest{Group: "g", Generation: gen, MemberID: m, Protocol: &wrong}).Err, kerr.InconsistentGroupProtocol)
	wrongType := "connect"
	wantErr(t, "sync wrong protocol type", c.Sync(ctx, SyncRequest{Group: "g", Generation: gen, MemberID: m, ProtocolType: &wrongType}).Err, kerr.InconsistentGroupProtocol)
	wantErr(t, "static member unknown", c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: m, InstanceID: "i"}), kerr.UnknownMemberID)

	// group.max.size 2: a third member is refused.
	wantErr(t, "third member", c.Join(ctx, joinReq("g", "", 10*time.Second, "t")).Err, kerr.GroupMaxSizeReached)

	// The leader rejoins: a rebalance. Heartbeats and syncs say so.
	first := joinAsync(ctx, c, joinReq("g", m, 10*time.Second, "t"))
	eventually(t, "rebalance", func() bool {
		return errors.Is(c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Generation: gen, MemberID: m2}), kerr.RebalanceInProgress)
	})
	wantErr(t, "sync during rebalance", c.Sync(ctx, SyncRequest{Group: "g", Generation: gen, MemberID: m2}).Err, kerr.RebalanceInProgress)
	// Commits during PreparingRebalance are accepted (offsets of the old
	// generation are still good); during CompletingRebalance they are not.
	errs := c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: gen, MemberID: m2, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})
	wantErr(t, "commit during PreparingRebalance", errs[0], nil)
	second := joinAsync(ctx, c, joinReq("g", m2, 10*time.Second, "t"))
	r1, r2 := wait(t, first), wait(t, second)
	if r1.Err != nil || r2.Err != nil || r1.Generation != gen+1 {
		t.Fatalf("rejoin: %+v %+v", r1, r2)
	}
	errs = c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: r1.Generation, MemberID: m, Offsets: []CommitOffset{{Topic: "t", Offset: 2}}})
	wantErr(t, "commit during CompletingRebalance", errs[0], kerr.RebalanceInProgress)
	errs = c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: gen, MemberID: m, Offsets: []CommitOffset{{Topic: "t", Offset: 2}}})
	wantErr(t, "commit with old generation", errs[0], kerr.IllegalGeneration)
	errs = c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 2}}})
	wantErr(t, "simple commit to a group with members", errs[0], kerr.UnknownMemberID)
	errs = c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: r1.Generation, MemberID: "x", Offsets: []CommitOffset{{Topic: "t", Offset: 2}}})
	wantErr(t, "commit by unknown member", errs[0], kerr.UnknownMemberID)
	wantErr(t, "delete non-empty group", c.DeleteGroup(ctx, "g"), kerr.NonEmptyGroup)
}
