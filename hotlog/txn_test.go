package hotlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

// txnBatch is a batch of n records of producer pid (epoch 0) from
// sequence seq, transactional or not.
func txnBatch(pid int64, seq int32, n int, transactional bool) []byte {
	var raw []byte
	for i := 0; i < n; i++ {
		raw = recordbatch.AppendRecord(raw, int32(i), 0, []byte("k"), []byte("some value bytes"), nil)
	}
	return recordbatch.AppendBatch(nil, recordbatch.Header{
		PartitionLeaderEpoch: -1,
		Attributes:           recordbatch.NewAttributes(recordbatch.CodecNone, recordbatch.CreateTime, transactional, false),
		LastOffsetDelta:      int32(n - 1),
		BaseTimestamp:        time.Now().UnixMilli(),
		MaxTimestamp:         time.Now().UnixMilli(),
		ProducerID:           pid,
		ProducerEpoch:        0,
		BaseSequence:         seq,
		NumRecords:           int32(n),
	}, raw)
}

func marker(pid int64, commit bool, coordEpoch int32) []byte {
	typ := recordbatch.ControlAbort
	if commit {
		typ = recordbatch.ControlCommit
	}
	return recordbatch.AppendControlBatch(nil, pid, 0, recordbatch.ControlRecord{Type: typ, CoordinatorEpoch: coordEpoch}, time.Now().UnixMilli())
}

// txnModel is what the transaction state must be after the appends a
// test made.
type txnModel struct {
	open    map[int64]int64 // producer -> first offset of its open transaction
	aborted []AbortedTxn
}

func (m *txnModel) firstUnstable(end int64) int64 {
	first := end
	for _, f := range m.open {
		first = min(first, f)
	}
	return first
}

// checkTxnState compares the log's LSO (with the high watermark at the
// log end) and aborted transactions with the model.
func checkTxnState(t *testing.T, l *Log, m *txnModel, what string) {
	t.Helper()
	end := l.LogEndOffset()
	if got, want := l.LastStableOffset(end), m.firstUnstable(end); got != want {
		t.Fatalf("%s: LSO %d, want %d (open %v)", what, got, want, m.open)
	}
	got := l.AbortedTransactions(l.LogStartOffset(), end)
	if !slices.Equal(got, m.aborted) {
		t.Fatalf("%s: aborted transactions\n%v, want\n%v", what, got, m.aborted)
	}
	// A range names exactly the aborts that overlap it.
	for from := l.LogStartOffset(); from < end; from += 7 {
		upTo := min(from+11, end)
		var want []AbortedTxn
		for _, a := range m.aborted {
			if a.LastOffset >= from && a.FirstOffset < upTo {
				want = append(want, a)
			}
		}
		if got := l.AbortedTransactions(from, upTo); !slices.Equal(got, want) {
			t.Fatalf("%s: aborted in [%d, %d): %v, want %v", what, from, upTo, got, want)
		}
	}
}

// TestTransactionStateAcrossRollsAndRestarts: three producers write
// transactions that commit and abort interleaved (and a plain idempotent
// producer beside them) into a log of tiny segments. The LSO and the
// aborted transactions match a model after every append, after a clean
// restart, after a crash (the open transactions come back from the
// snapshot and the replay), and on a follower that replicated the log.
func TestTransactionStateAcrossRollsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 600
	l := openLog(t, dir, cfg)
	m := &txnModel{open: map[int64]int64{}}
	seq := map[int64]int32{}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	appendB := func(b []byte) AppendInfo {
		t.Helper()
		info, err := l.Append(b, nil, 0, now)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	for step := 0; step < 300; step++ {
		pid := int64(rng.IntN(3) + 1)
		switch _, open := m.open[pid]; {
		case rng.IntN(6) == 0:
			// The plain idempotent producer 9.
			appendB(txnBatch(9, seq[9], 2, false))
			seq[9] += 2
		case !open || rng.IntN(3) > 0:
			n := rng.IntN(3) + 1
			info := appendB(txnBatch(pid, seq[pid], n, true))
			seq[pid] += int32(n)
			if !open {
				m.open[pid] = info.FirstOffset
			}
		default:
			commit := rng.IntN(2) == 0
			info := appendB(marker(pid, commit, 1))
			first := m.open[pid]
			delete(m.open, pid)
			if !commit {
				m.aborted = append(m.aborted, AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: info.FirstOffset,
					LastStableOffset: m.firstUnstable(info.FirstOffset + 1)})
			}
		}
		checkTxnState(t, l, m, "after append")
	}
	if len(l.Segments()) < 10 || len(m.aborted) < 5 {
		t.Fatalf("%d segments, %d aborts: the test covers too little", len(l.Segments()), len(m.aborted))
	}
	if len(m.open) == 0 {
		appendB(txnBatch(1, seq[1], 1, true))
		m.open[1] = l.LogEndOffset() - 1
	}

	// A follower that copies the log builds the same state.
	fl := openLog(t, t.TempDir(), cfg)
	if _, err := fl.AppendReplicated(readAll(t, l, 0), now); err != nil {
		t.Fatal(err)
	}
	checkTxnState(t, fl, m, "follower")
	fl.Close()

	if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg)
	checkTxnState(t, l, m, "after a clean restart")

	// More, then a crash: the active segment's aborts exist only in
	// memory and the snapshot; recovery rebuilds them.
	info := appendB(marker(1, false, 1))
	m.aborted = append(m.aborted, AbortedTxn{ProducerID: 1, FirstOffset: m.open[1], LastOffset: info.FirstOffset})
	delete(m.open, 1)
	m.aborted[len(m.aborted)-1].LastStableOffset = m.firstUnstable(info.FirstOffset + 1)
	info = appendB(txnBatch(2, seq[2], 1, true))
	seq[2]++
	if _, ok := m.open[2]; !ok {
		m.open[2] = info.FirstOffset
	}
	crash(l)
	l = openLog(t, dir, cfg)
	defer l.Close()
	checkTxnState(t, l, m, "after a crash")

	// The producer state came back too: a retry is still a duplicate.
	if _, err := l.Append(txnBatch(2, seq[2]-1, 1, true), nil, 0, now); !errors.As(err, new(*DuplicateBatchError)) {
		t.Fatalf("retried transactional batch after the crash: %v", err)
	}
}

// TestTransactionRules: a non-transactional batch of a producer with an
// open transaction is refused, as is a marker from an older coordinator
// epoch; the high watermark holds the LSO until it passes the marker.
func TestTransactionRules(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig())
	defer l.Close()
	now := time.Now()
	if _, err := l.Append(txnBatch(5, 0, 3, true), nil, 0, now); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(txnBatch(5, 3, 1, false), nil, 0, now); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional batch in an open transaction: %v", err)
	}
	if got := l.LastStableOffset(3); got != 0 {
		t.Fatalf("LSO with the transaction open: %d", got)
	}
	info, err := l.Append(marker(5, true, 4), nil, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	// The marker is at 3: until the high watermark passes it, a leader
	// change could lose it, and the transaction is not decided.
	if got := l.LastStableOffset(info.FirstOffset); got != 0 {
		t.Fatalf("LSO with the marker above the high watermark: %d", got)
	}
	if got := l.LastStableOffset(info.FirstOffset + 1); got != 4 {
		t.Fatalf("LSO with the marker replicated: %d", got)
	}
	if _, err := l.Append(marker(5, false, 3), nil, 0, now); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("marker of an older coordinator epoch: %v", err)
	}
	if _, err := l.Append(marker(5, false, 4), nil, 0, now); err != nil {
		t.Fatalf("marker of the same coordinator epoch, no transaction open: %v", err)
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("an abort with no transaction open has nothing to skip: %v", got)
	}
	ps := l.Producers()
	if len(ps) != 1 || ps[0].ProducerID != 5 || ps[0].CoordinatorEpoch != 4 || ps[0].CurrentTxnStartOffset != -1 || ps[0].LastSequence != 2 {
		t.Fatalf("producers: %+v", ps)
	}
}

// TestTxnIndexFilesFollowSegments: the .txnindex of a sealed segment is on
// disk once fsynced, truncation rewrites it, retention deletes it.
func TestTxnIndexFilesFollowSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 300
	l := openLog(t, dir, cfg)
	defer l.Close()
	now := time.Now()
	var markers []int64
	for i := int64(0); i < 6; i++ {
		if _, err := l.Append(txnBatch(1, int32(i), 1, true), nil, 0, now); err != nil {
			t.Fatal(err)
		}
		info, err := l.Append(marker(1, false, 0), nil, 0, now)
		if err != nil {
			t.Fatal(err)
		}
		markers = append(markers, info.FirstOffset)
	}
	if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	files := 0
	for _, s := range segs {
		path := filepath.Join(dir, segmentFileName(s.BaseOffset, extTxnIndex))
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		entries, err := decodeTxnIndex(b, s.BaseOffset)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.LastOffset < s.BaseOffset || e.LastOffset >= s.NextOffset {
				t.Fatalf("segment %d..%d holds the abort at %d", s.BaseOffset, s.NextOffset, e.LastOffset)
			}
		}
		files += len(entries)
	}
	if files != len(markers) {
		t.Fatalf("%d aborts in the index files, want %d", files, len(markers))
	}

	if err := l.TruncateTo(markers[3]); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 3 {
		t.Fatalf("after truncation: %v", got)
	}
	if got := l.LastStableOffset(l.LogEndOffset()); got != markers[3]-1 {
		t.Fatalf("after truncating the marker off, the transaction is open again: LSO %d, want %d", got, markers[3]-1)
	}

	// Retention removes old segments and their indexes.
	if _, err := l.Append(marker(1, true, 0), nil, 0, now); err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	cfg.RetentionBytes = 1
	l.SetConfig(cfg)
	if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(now, nil); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(l.LogStartOffset(), l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("after retention: %v", got)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"+extTxnIndex))
	for _, f := range left {
		base, _ := parseSegmentName(filepath.Base(f), extTxnIndex)
		if base < l.LogStartOffset() {
			t.Fatalf("%s outlived its segment", f)
		}
	}
}

func TestTxnIndexDecodeRejects(t *testing.T) {
	good := encodeTxnIndex([]AbortedTxn{{1, 10, 20, 21}, {2, 15, 30, 31}})
	if got, err := decodeTxnIndex(good, 0); err != nil || len(got) != 2 {
		t.Fatal(got, err)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"partial entry":     func(b []byte) []byte { return b[:len(b)-1] },
		"version":           func(b []byte) []byte { b[1] = 1; return b },
		"negative producer": func(b []byte) []byte { b[2] = 0x80; return b },
		"first after last":  func(b []byte) []byte { b[17] = 25; return b },
		"markers out of order": func(b []byte) []byte {
			b[34+25] = 5
			return b
		},
	} {
		if _, err := decodeTxnIndex(mutate(slices.Clone(good)), 0); !errors.Is(err, errBadTxnIndex) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := decodeTxnIndex(good, 25); !errors.Is(err, errBadTxnIndex) {
		t.Errorf("an abort before the segment base: %v", err)
	}
}

func FuzzTxnIndex(f *testing.F) {
	f.Add(encodeTxnIndex([]AbortedTxn{{1, 10, 20, 21}, {2, 15, 30, 16}}), int64(0))
	f.Add([]byte{}, int64(5))
	f.Add(make([]byte, 33), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, base int64) {
		entries, err := decodeTxnIndex(b, base)
		if err != nil {
			if !errors.Is(err, errBadTxnIndex) {
				t.Fatalf("error %v does not wrap errBadTxnIndex", err)
			}
			return
		}
		if again := encodeTxnIndex(entries); !slices.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// TestCleanerKeepsAbortedTransactions: compaction rewrites segments that
// hold aborted transactions (their batches stay, at their offsets); the
// aborted transactions the log names are the same before and after the
// cleans, in memory and, after a reopen, from the carried .txnindex files.
func TestCleanerKeepsAbortedTransactions(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig()
	l := openLog(t, dir, cfg)
	now := time.Now()
	seq := int32(0)
	for i := range 40 {
		plain := buildBatch(t, batchSpec{firstTs: now.UnixMilli(), records: []testRecord{{key: []byte("k"), value: fmt.Appendf(nil, "v%d", i)}}})
		if _, err := l.Append(plain, nil, 0, now); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if _, err := l.Append(txnBatch(7, seq, 1, true), nil, 0, now); err != nil {
				t.Fatal(err)
			}
			seq++
			if _, err := l.Append(marker(7, i%8 == 0, 0), nil, 0, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.Roll()
	if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	want := l.AbortedTransactions(0, l.LogEndOffset())
	if len(want) != 5 {
		t.Fatalf("%d aborted transactions, want 5", len(want))
	}
	cl := NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16})
	for range 2 {
		if st, err := cl.Clean(context.Background(), l, now, math.MaxInt64); err != nil || st.Segments == 0 {
			t.Fatalf("clean: %+v %v", st, err)
		}
		if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, want) {
			t.Fatalf("after a clean: %v, want %v", got, want)
		}
		// New dirty records, so that the next clean merges the cleaned
		// segments.
		b := buildBatch(t, batchSpec{firstTs: now.UnixMilli(), records: []testRecord{{key: []byte("k"), value: []byte("new")}}})
		if _, err := l.Append(b, nil, 0, now); err != nil {
			t.Fatal(err)
		}
		l.Roll()
		if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg)
	defer l.Close()
	if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, want) {
		t.Fatalf("after cleans and a reopen: %v, want %v", got, want)
	}
}
