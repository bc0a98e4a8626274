package tiering

import (
	"fmt"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/tiering/coldfile"
)

// appendTxn appends one batch of producer pid (transactional or not) with
// values, its sequence taken from seq, and returns its base offset.
func appendTxn(t *testing.T, e *env, seq map[int64]int32, pid int64, transactional bool, values ...string) int64 {
	t.Helper()
	var raw []byte
	for i, v := range values {
		raw = recordbatch.AppendRecord(raw, int32(i), 0, nil, []byte(v), nil)
	}
	now := time.Now().UnixMilli()
	b := recordbatch.AppendBatch(nil, recordbatch.Header{
		PartitionLeaderEpoch: -1,
		Attributes:           recordbatch.NewAttributes(recordbatch.CodecNone, recordbatch.CreateTime, transactional, false),
		LastOffsetDelta:      int32(len(values) - 1), BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, BaseSequence: seq[pid], NumRecords: int32(len(values)),
	}, raw)
	seq[pid] += int32(len(values))
	info, err := e.part.log.Append(b, nil, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return info.FirstOffset
}

func appendMarker(t *testing.T, e *env, pid int64, commit bool) {
	t.Helper()
	typ := recordbatch.ControlAbort
	if commit {
		typ = recordbatch.ControlCommit
	}
	b := recordbatch.AppendControlBatch(nil, pid, 0, recordbatch.ControlRecord{Type: typ}, time.Now().UnixMilli())
	if _, err := e.part.log.Append(b, nil, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestTierTransactions: records of aborted transactions are tiered with
// aborted = true, committed and plain ones with false; a segment holding
// part of an open transaction waits in the hot log until it is decided
// (tiered earlier, its records would say aborted = false).
func TestTierTransactions(t *testing.T) {
	e := newEnv(t, localBucket(t), nil)
	seq := map[int64]int32{}
	abortedWant := map[string]bool{}
	// Segment 1: producer 100 aborts, 200 commits, interleaved, beside
	// plain records of 300.
	appendTxn(t, e, seq, 100, true, "a-0", "a-1")
	appendTxn(t, e, seq, 200, true, "c-0")
	appendTxn(t, e, seq, 300, false, "p-0")
	appendTxn(t, e, seq, 100, true, "a-2")
	appendTxn(t, e, seq, 200, true, "c-1")
	appendMarker(t, e, 100, false)
	appendMarker(t, e, 200, true)
	for _, v := range []string{"a-0", "a-1", "a-2"} {
		abortedWant[v] = true
	}
	if err := e.part.log.Roll(); err != nil {
		t.Fatal(err)
	}
	// Segment 2: producer 400's transaction starts and stays open over
	// the roll.
	open := appendTxn(t, e, seq, 400, true, "o-0", "o-1")
	appendTxn(t, e, seq, 300, false, "p-1")
	if err := e.part.log.Roll(); err != nil {
		t.Fatal(err)
	}
	appendTxn(t, e, seq, 300, false, "p-2")
	if err := e.part.log.FlushUpTo(e.part.log.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if got := tierLimit(e.part); got != open {
		t.Fatalf("tier limit %d with a transaction open from %d", got, open)
	}
	e.start()
	seg1End := e.part.log.Segments()[1].BaseOffset
	e.waitTiered(seg1End, 10*time.Second)

	appendMarker(t, e, 400, false)
	abortedWant["o-0"], abortedWant["o-1"] = true, true
	if err := e.part.log.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := e.part.log.FlushUpTo(e.part.log.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	end := e.part.log.LogEndOffset()
	e.waitTiered(end, 10*time.Second)

	segs := e.checkManifest()
	seen := 0
	for _, s := range segs {
		rf, err := e.tier.open(testCtx(t), s)
		if err != nil {
			t.Fatal(err)
		}
		err = rf.ScanRange(testCtx(t), s.BaseOffset, s.LastOffset+1, func(r *coldfile.Row) error {
			if r.IsControl {
				if r.Aborted {
					return fmt.Errorf("marker at %d tiered as aborted", r.Offset)
				}
				return nil
			}
			if v := string(r.Value); r.Aborted != abortedWant[v] {
				return fmt.Errorf("record %s at %d: aborted %v, want %v", v, r.Offset, r.Aborted, abortedWant[v])
			}
			seen++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen != 10 {
		t.Fatalf("%d data records in the cold tier, want 10", seen)
	}

	// A read_committed fetch served from the cold tier names the same
	// aborted transactions as the hot log's index (marker offsets
	// included), and only those the range holds records of.
	want := e.part.log.AbortedTransactions(0, end)
	got, err := e.tier.ColdAbortedTransactions(testCtx(t), e.part.topic, 0, 0, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(want) != 2 {
		t.Fatalf("cold aborted transactions %v, hot %v: want 2 each", got, want)
	}
	for i := range got {
		if got[i].ProducerID != want[i].ProducerID || got[i].FirstOffset != want[i].FirstOffset || got[i].LastOffset != want[i].LastOffset {
			t.Fatalf("cold aborted transaction %+v, the hot log says %+v", got[i], want[i])
		}
	}
	if got, err := e.tier.ColdAbortedTransactions(testCtx(t), e.part.topic, 0, open+1, end); err != nil || len(got) != 1 || got[0].ProducerID != 400 || got[0].FirstOffset != open+1 {
		t.Fatalf("cold aborted transactions from %d: %v %v, want producer 400 from %d", open+1, got, err, open+1)
	}
}
