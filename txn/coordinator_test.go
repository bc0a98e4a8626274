package txn

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/placement"
)

func TestTransitionsAreKafkas(t *testing.T) {
	all := []State{Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead, PrepareEpochFence}
	allowed := map[[2]State]bool{
		{Empty, Empty}: true, {CompleteCommit, Empty}: true, {CompleteAbort, Empty}: true,
		{Ongoing, Ongoing}: true, {Empty, Ongoing}: true, {CompleteCommit, Ongoing}: true, {CompleteAbort, Ongoing}: true,
		{Ongoing, PrepareCommit}: true,
		{Ongoing, PrepareAbort}:  true, {PrepareEpochFence, PrepareAbort}: true,
		{PrepareCommit, CompleteCommit}: true, {PrepareAbort, CompleteAbort}: true,
		{Empty, Dead}: true, {CompleteCommit, Dead}: true, {CompleteAbort, Dead}: true,
		{Ongoing, PrepareEpochFence}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := canTransition(from, to); got != allowed[[2]State{from, to}] {
				t.Errorf("%s -> %s allowed = %v", from, to, got)
			}
		}
		if s, ok := ParseState(from.String()); !ok || s != from {
			t.Errorf("ParseState(%q) = %v, %v", from.String(), s, ok)
		}
	}
}

func isErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func TestInitAddEndCommit(t *testing.T) {
	h := newHarness(t, testConfig(1))
	ctx := testCtx(t)
	p, err := h.c.InitProducerID(ctx, InitRequest{TransactionalID: "t1", TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1})
	if err != nil || p.ID != 1000 || p.Epoch != 0 {
		t.Fatalf("first init = %+v, %v; want 1000/0", p, err)
	}
	p2, err := h.c.InitProducerID(ctx, InitRequest{TransactionalID: "t1", TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1})
	if err != nil || p2.ID != 1000 || p2.Epoch != 1 {
		t.Fatalf("second init = %+v, %v; want 1000/1", p2, err)
	}
	// The first producer is fenced.
	if err := h.c.AddPartitions(ctx, "t1", 1000, 0, []meta.TopicPartition{tp("a", 0)}); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("add with old epoch: %v, want PRODUCER_FENCED", err)
	}
	if err := h.c.AddPartitions(ctx, "t1", 999, 1, []meta.TopicPartition{tp("a", 0)}); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("add with other pid: %v", err)
	}
	if err := h.c.EndTxn(ctx, "t1", 1000, 1, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("EndTxn without a transaction: %v, want INVALID_TXN_STATE", err)
	}
	if err := h.c.AddPartitions(ctx, "t1", 1000, 1, []meta.TopicPartition{tp("b", 1), tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddPartitions(ctx, "t1", 1000, 1, []meta.TopicPartition{tp("a", 0), tp("a", 2)}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddOffsets(ctx, "t1", 1000, 1, "grp"); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, h.c, "t1", Ongoing)
	op := placement.OffsetsPartition("grp", OffsetsPartitions)
	want := []meta.TopicPartition{tp(OffsetsTopic, op), tp("a", 0), tp("a", 2), tp("b", 1)}
	if fmt.Sprint(d.Partitions) != fmt.Sprint(want) || d.StartMs <= 0 || d.TimeoutMs != 60000 {
		t.Fatalf("describe = %+v, want partitions %v", d, want)
	}
	errs, err := h.c.VerifyPartitions(ctx, "t1", 1000, 1, []meta.TopicPartition{tp("a", 2), tp("a", 1)})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], kerr.InvalidTxnState) {
		t.Fatalf("verify = %v, %v", errs, err)
	}
	if _, err := h.c.VerifyPartitions(ctx, "t1", 1000, 0, []meta.TopicPartition{tp("a", 2)}); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("verify with old epoch: %v", err)
	}
	if err := h.c.EndTxn(ctx, "t1", 1000, 1, true); err != nil {
		t.Fatal(err)
	}
	waitState(t, h.c, "t1", CompleteCommit)
	ms := h.markers.all()
	if len(ms) != 4 {
		t.Fatalf("markers %+v, want 4", ms)
	}
	for _, m := range ms {
		if !m.Commit || m.ProducerID != 1000 || m.ProducerEpoch != 1 || m.CoordinatorEpoch != 0 {
			t.Errorf("marker %+v", m)
		}
		if tg := m.Targets[0]; tg.Topic == OffsetsTopic && (tg.Partition != op || tg.Broker != 1) || tg.Topic != OffsetsTopic && tg.Broker != -1 {
			t.Errorf("target %+v", tg)
		}
	}
	// A retried commit succeeds, an abort contradicts it.
	if err := h.c.EndTxn(ctx, "t1", 1000, 1, true); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	if err := h.c.EndTxn(ctx, "t1", 1000, 1, false); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("abort after commit: %v", err)
	}
	// etcd has it.
	st, ok, err := h.store.LoadTxn(ctx, "t1")
	if err != nil || !ok || st.State != "CompleteCommit" || len(st.Partitions) != 0 || st.ProducerEpoch != 1 {
		t.Fatalf("etcd %+v, %v, %v", st, ok, err)
	}
}

func TestEndTxnWhileMarkersPending(t *testing.T) {
	h := newHarness(t, testConfig(1))
	ctx := testCtx(t)
	h.markers.setFail(func(Target) error { return fmt.Errorf("%w: leader down", kerr.NotLeaderForPartition) })
	p, _ := h.c.InitProducerID(ctx, InitRequest{TransactionalID: "t", TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1})
	if err := h.c.AddPartitions(ctx, "t", p.ID, p.Epoch, []meta.TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.EndTxn(ctx, "t", p.ID, p.Epoch, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"add", h.c.AddPartitions(ctx, "t", p.ID, p.Epoch, []meta.TopicPartition{tp("a", 1)}), kerr.ConcurrentTransactions},
		{"retried abort", h.c.EndTxn(ctx, "t", p.ID, p.Epoch, false), kerr.ConcurrentTransactions},
		{"commit", h.c.EndTxn(ctx, "t", p.ID, p.Epoch, true), kerr.InvalidTxnState},
		{"init", func() error {
			_, err := h.c.InitProducerID(ctx, InitRequest{TransactionalID: "t", TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1})
			return err
		}(), kerr.ConcurrentTransactions},
	} {
		if !isErr(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	waitState(t, h.c, "t", PrepareAbort)
	h.markers.setFail(nil)
	waitState(t, h.c, "t", CompleteAbort)
	if err := h.c.AddPartitions(ctx, "t", p.ID, p.Epoch, []meta.TopicPartition{tp("a", 1)}); err != nil {
		t.Fatalf("next transaction: %v", err)
	}
}

func TestInitFencesOngoingTransaction(t *testing.T) {
	h := newHarness(t, testConfig(1))
	ctx := testCtx(t)
	init := func() (Producer, error) {
		return h.c.InitProducerID(ctx, InitRequest{TransactionalID: "t", TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1})
	}
	p, _ := init()
	if err := h.c.AddPartitions(ctx, "t", p.ID, p.Epoch, []meta.TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := init(); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("init over an open transaction: %v, want CONCURRENT_TRANSACTIONS", err)
	}
	waitState(t, h.c, "t", CompleteAbort)
	ms := h.markers.all()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != p.Epoch+1 {
		t.Fatalf("markers %+v, want one abort at epoch %d", ms, p.Epoch+1)
	}
	// The zombie cannot commit.
	if err := h.c.EndTxn(ctx, "t", p.ID, p.Epoch, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("zombie commit: %v", err)
	}
	p2, err := init()
	if err != nil || p2.ID != p.ID || p2.Epoch != p.Epoch+2 {
		t.Fatalf("init after fence = %+v, %v; want epoch %d", p2, err, p.Epoch+2)
	}
}

func TestTimeoutAborts(t *testing.T) {
	h := newHarness(t, testConfig(1))
	ctx := testCtx(t)
	p, _ := h.c.InitProducerID(ctx, InitRequest{TransactionalID: "t", TimeoutMs: 100, ProducerID: -1, ProducerEpoch: -1})
	if err := h.c.AddPartitions(ctx, "t", p.ID, p.Epoch, []meta.TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, h.c, "t", CompleteAbort)
	if d.ProducerEpoch != p.Epoch+1 {
		t.Fatalf("epoch after timeout %d, want %d", d.ProducerEpoch, p.Epoch+1)
	}
	if err := h.c.EndTxn(ctx, "t", p.ID, p.Epoch, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("EndTxn after timeout: %v, want PRODUCER_FENCED", err)
	}
	ms := h.markers.all()
	if len(ms) != 1 || ms[0].Commit {
		t.Fatalf("markers %+v", ms)
	}
}

func TestInitProducerIDCases(t *testing.T) {
	h := newHarness(t, testConfig(1))
	ctx := testCtx(t)
	put := func(id string, pid int64, epoch int16, lastPID int64, lastEpoch int16) {
		t.Helper()
		old, _, _ := h.store.LoadTxn(ctx, id)
		if _, err := h.store.SaveTxn(ctx, meta.TxnState{TransactionalID: id, ProducerID: pid, ProducerEpoch: epoch,
			LastProducerID: lastPID, LastProducerEpoch: lastEpoch, TimeoutMs: 1000, State: "CompleteCommit", TxnStartMs: -1}, old.Revision); err != nil {
			t.Fatal(err)
		}
	}
	put("exhausted", 7, math.MaxInt16-1, -1, -1)
	put("kip360", 8, 5, -1, 4)
	put("rotated", 10, 0, 9, math.MaxInt16-1)
	for _, tc := range []struct {
		name    string
		req     InitRequest
		want    Producer
		wantErr error
	}{
		{"timeout zero", InitRequest{TransactionalID: "x", TimeoutMs: 0, ProducerID: -1, ProducerEpoch: -1}, Producer{-1, -1}, kerr.InvalidTransactionTimeout},
		{"timeout over max", InitRequest{TransactionalID: "x", TimeoutMs: 15*60*1000 + 1, ProducerID: -1, ProducerEpoch: -1}, Producer{-1, -1}, kerr.InvalidTransactionTimeout},
		{"epoch exhausted rotates", InitRequest{TransactionalID: "exhausted", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}, Producer{1000, 0}, nil},
		{"kip360 current", InitRequest{TransactionalID: "kip360", TimeoutMs: 1000, ProducerID: 8, ProducerEpoch: 5}, Producer{8, 6}, nil},
		{"kip360 retry of that bump", InitRequest{TransactionalID: "kip360", TimeoutMs: 1000, ProducerID: 8, ProducerEpoch: 5}, Producer{8, 6}, nil},
		{"kip360 stale epoch", InitRequest{TransactionalID: "kip360", TimeoutMs: 1000, ProducerID: 8, ProducerEpoch: 3}, Producer{-1, -1}, kerr.ProducerFenced},
		{"kip360 other producer", InitRequest{TransactionalID: "kip360", TimeoutMs: 1000, ProducerID: 99, ProducerEpoch: 6}, Producer{-1, -1}, kerr.ProducerFenced},
		{"kip360 retry of a rotation", InitRequest{TransactionalID: "rotated", TimeoutMs: 1000, ProducerID: 9, ProducerEpoch: math.MaxInt16 - 1}, Producer{10, 0}, nil},
		{"new id", InitRequest{TransactionalID: "fresh", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}, Producer{1001, 0}, nil},
	} {
		got, err := h.c.InitProducerID(ctx, tc.req)
		if !isErr(err, tc.wantErr) || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
	st, _, _ := h.store.LoadTxn(ctx, "exhausted")
	if st.LastProducerID != 7 || st.LastProducerEpoch != math.MaxInt16-1 {
		t.Errorf("rotation left last producer %d/%d", st.LastProducerID, st.LastProducerEpoch)
	}
}

// TestFailoverCompletesAndFences: a coordinator dies with a commit
// decided and its markers unwritten; the broker that takes the id over
// writes them without the producer asking, and the old coordinator,
// should it come back, cannot write the id any more.
func TestFailoverCompletesAndFences(t *testing.T) {
	store := newStore(t)
	ctx := testCtx(t)
	live := []int32{1}
	var liveMu = make(chan struct{}, 1)
	brokers := func() []int32 {
		liveMu <- struct{}{}
		defer func() { <-liveMu }()
		return append([]int32(nil), live...)
	}
	setLive := func(ids ...int32) { liveMu <- struct{}{}; live = ids; <-liveMu }

	m1 := &fakeMarkers{}
	m1.setFail(func(Target) error { return errors.New("network down") })
	cfg1 := testConfig(1)
	cfg1.Brokers = brokers
	c1 := New(cfg1, store, &counterPIDs{}, m1)
	defer c1.Close()
	p, err := c1.InitProducerID(ctx, InitRequest{TransactionalID: "t", TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.AddPartitions(ctx, "t", p.ID, p.Epoch, []meta.TopicPartition{tp("a", 0), tp("a", 1)}); err != nil {
		t.Fatal(err)
	}
	// A second, open transaction on another id that broker 2 will own too.
	p2, _ := c1.InitProducerID(ctx, InitRequest{TransactionalID: "open", TimeoutMs: 300, ProducerID: -1, ProducerEpoch: -1})
	if err := c1.AddPartitions(ctx, "open", p2.ID, p2.Epoch, []meta.TopicPartition{tp("b", 0)}); err != nil {
		t.Fatal(err)
	}
	if err := c1.EndTxn(ctx, "t", p.ID, p.Epoch, true); err != nil {
		t.Fatal(err)
	}

	// Broker 1 is gone for everyone else: broker 2 alone is live.
	m2 := &fakeMarkers{}
	cfg2 := testConfig(2)
	cfg2.Brokers = func() []int32 { return []int32{2} }
	c2 := New(cfg2, store, &counterPIDs{}, m2)
	defer c2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, _ := store.LoadTxn(ctx, "t")
		st2, _, _ := store.LoadTxn(ctx, "open")
		if st.State == "CompleteCommit" && st2.State == "CompleteAbort" {
			if st.CoordinatorEpoch != 1 || st2.ProducerEpoch != p2.Epoch+1 {
				t.Fatalf("after takeover: %+v / %+v", st, st2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not completed after takeover: %+v / %+v", st, st2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var commits, aborts int
	for _, m := range m2.all() {
		if m.CoordinatorEpoch != 1 {
			t.Errorf("marker of the new coordinator with epoch %d", m.CoordinatorEpoch)
		}
		if m.Commit {
			commits++
		} else {
			aborts++
		}
	}
	if commits != 2 || aborts != 1 {
		t.Fatalf("new coordinator wrote %d commit and %d abort markers, want 2 and 1", commits, aborts)
	}
	// The old coordinator still believes it owns "open"; its write fails.
	if err := c1.EndTxn(ctx, "open", p2.ID, p2.Epoch, true); !errors.Is(err, kerr.NotCoordinator) && !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("old coordinator's EndTxn: %v, want NOT_COORDINATOR", err)
	}
	setLive(1, 2)
}

func TestNotCoordinatorAndDescribeList(t *testing.T) {
	cfg := testConfig(1)
	cfg.Brokers = func() []int32 { return []int32{1, 2} }
	h := newHarness(t, cfg)
	ctx := testCtx(t)
	var mine, theirs string
	for i := 0; mine == "" || theirs == ""; i++ {
		id := fmt.Sprintf("id-%d", i)
		if placement.Owner(id, []int32{1, 2}) == 1 {
			mine = id
		} else {
			theirs = id
		}
	}
	if _, err := h.c.InitProducerID(ctx, InitRequest{TransactionalID: theirs, TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("init of another broker's id: %v", err)
	}
	p, err := h.c.InitProducerID(ctx, InitRequest{TransactionalID: mine, TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1})
	if err != nil {
		t.Fatal(err)
	}
	ds := h.c.Describe(ctx, []string{mine, theirs, "nope-" + mine})
	if ds[0].Err != nil || ds[0].State != Empty || ds[0].ProducerID != p.ID || ds[0].StartMs != -1 {
		t.Errorf("describe mine: %+v", ds[0])
	}
	if !errors.Is(ds[1].Err, kerr.NotCoordinator) {
		t.Errorf("describe theirs: %+v", ds[1])
	}
	if ds[2].Err == nil || (!errors.Is(ds[2].Err, kerr.TransactionalIDNotFound) && !errors.Is(ds[2].Err, kerr.NotCoordinator)) {
		t.Errorf("describe unknown: %+v", ds[2])
	}
	if err := h.c.AddPartitions(ctx, mine, p.ID, p.Epoch, []meta.TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		states []string
		pids   []int64
		dur    int64
		want   int
	}{
		{nil, nil, -1, 1},
		{[]string{"Ongoing"}, nil, -1, 1},
		{[]string{"Empty"}, nil, -1, 0},
		{nil, []int64{p.ID}, -1, 1},
		{nil, []int64{p.ID + 1}, -1, 0},
		{nil, nil, 0, 1},
		{nil, nil, 3600_000, 0},
	} {
		ls, err := h.c.List(ctx, tc.states, tc.pids, tc.dur)
		if err != nil || len(ls) != tc.want {
			t.Errorf("List(%v, %v, %d) = %+v, %v; want %d", tc.states, tc.pids, tc.dur, ls, err, tc.want)
		}
	}
	if _, err := h.c.List(ctx, []string{"Bogus"}, nil, -1); err == nil {
		t.Error("List of an unknown state: no error")
	}
}

func TestExpiration(t *testing.T) {
	cfg := testConfig(1)
	cfg.IDExpiration = time.Hour
	cfg.ExpirationCheckInterval = 20 * time.Millisecond
	h := newHarness(t, cfg)
	ctx := testCtx(t)
	if _, err := h.c.InitProducerID(ctx, InitRequest{TransactionalID: "old", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := h.store.LoadTxn(ctx, "old"); !ok {
		t.Fatal("not stored")
	}
	h.c.skew.Store(int64(2 * time.Hour))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := h.store.LoadTxn(ctx, "old"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired id not removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tp(topic string, p int32) meta.TopicPartition {
	return meta.TopicPartition{Topic: topic, Partition: p}
}
