package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/placement"
)

// TestTxnOffsets: offsets of a transaction stay invisible (and
// require_stable answers UNSTABLE_OFFSET_COMMIT) until the commit marker,
// survive a coordinator restart while pending, and are dropped by an
// abort marker; a zombie member's producer is fenced by generation.
func TestTxnOffsets(t *testing.T) {
	store := newStore(t)
	c1 := New(testConfig(), store)
	ctx := testCtx(t)
	const session = 10 * time.Second
	ids, gen := stableGroup(t, c1, "g", 1, session)
	op := placement.OffsetsPartition("g", 50)
	commit := func(c *Coordinator, pid int64, epoch int16, gen int32, member string, off int64) error {
		return c.CommitTxnOffsets(ctx, TxnCommitRequest{Group: "g", TransactionalID: "tx", ProducerID: pid, ProducerEpoch: epoch,
			Generation: gen, MemberID: member, Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: off, LeaderEpoch: -1}}})[0]
	}
	wantErr(t, "zombie generation", commit(c1, 5, 0, gen-1, ids[0], 10), kerr.IllegalGeneration)
	wantErr(t, "unknown member", commit(c1, 5, 0, gen, "ghost", 10), kerr.UnknownMemberID)
	wantErr(t, "txn commit", commit(c1, 5, 1, gen, ids[0], 10), nil)
	wantErr(t, "older producer epoch", commit(c1, 5, 0, -1, "", 11), kerr.ProducerFenced)
	got, _ := c1.FetchOffsets(ctx, "g", tps("t", 0), false)
	if got[0].Offset != -1 {
		t.Fatalf("pending offset visible: %+v", got)
	}
	got, _ = c1.FetchOffsets(ctx, "g", tps("t", 0), true)
	wantErr(t, "require stable", got[0].Err, kerr.UnstableOffsetCommit)
	c1.Close()

	c2 := newCoordinator(t, store)
	got, _ = c2.FetchOffsets(ctx, "g", tps("t", 0), true)
	wantErr(t, "require stable after restart", got[0].Err, kerr.UnstableOffsetCommit)
	// A marker of another __consumer_offsets partition or producer does nothing.
	wantErr(t, "other partition", c2.CompleteTxnOffsets(ctx, 5, true, (op+1)%50, 50), nil)
	wantErr(t, "other producer", c2.CompleteTxnOffsets(ctx, 6, true, op, 50), nil)
	got, _ = c2.FetchOffsets(ctx, "g", tps("t", 0), true)
	wantErr(t, "still pending", got[0].Err, kerr.UnstableOffsetCommit)
	wantErr(t, "commit marker", c2.CompleteTxnOffsets(ctx, 5, true, op, 50), nil)
	got, _ = c2.FetchOffsets(ctx, "g", tps("t", 0), true)
	if got[0].Err != nil || got[0].Offset != 10 {
		t.Fatalf("after commit marker: %+v", got)
	}
	// A second transaction, aborted.
	wantErr(t, "txn commit 2", commit(c2, 5, 1, -1, "", 20), nil)
	wantErr(t, "abort marker", c2.CompleteTxnOffsets(ctx, 5, false, op, 50), nil)
	got, _ = c2.FetchOffsets(ctx, "g", tps("t", 0), true)
	if got[0].Err != nil || got[0].Offset != 10 {
		t.Fatalf("after abort marker: %+v", got)
	}
	d, _ := store.LoadGroup(ctx, "g")
	if len(d.TxnOffsets) != 0 || len(d.Offsets) != 1 || d.Offsets[0].Offset != 10 {
		t.Fatalf("etcd after both: %+v", d)
	}
}
