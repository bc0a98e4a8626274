package server

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/query"
	"github.com/stratalog/strata/tiering/coldfile"
)

// TestExportReadCommitted: strata export's reader (query) is
// read_committed by default, over the hot log and the cold tier alike:
// committed transactions and plain records come back, nothing of an
// aborted transaction nor of one still open, no transaction marker;
// read_uncommitted returns everything up to the high watermark.
func TestExportReadCommitted(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	topic := "txexport"
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, tieredTopicConfigs(), topic); err != nil {
		t.Fatal(err)
	}
	txp := tb.client(kgo.TransactionalID("exporter"), kgo.DefaultProduceTopic(topic))
	plain := tb.client(kgo.DefaultProduceTopic(topic))
	txn := func(tag string, n int, commit bool) {
		t.Helper()
		if err := txp.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := txp.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s-%d", tag, i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txp.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	produce := func(round int) {
		t.Helper()
		txn(fmt.Sprintf("r%d-committed", round), 40, true)
		txn(fmt.Sprintf("r%d-aborted", round), 30, false)
		for i := range 20 {
			if err := plain.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("r%d-plain-%d", round, i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		txn(fmt.Sprintf("r%d-committed2", round), 40, true)
	}
	var coldRows int64
	read := func(uncommitted bool) (committed, aborted, markers int) {
		t.Helper()
		q := query.NewPlanner(query.Config{Client: tb.client(), Bucket: tb.srv.Tier().Bucket()})
		p, err := q.Plan(ctx, query.Range{Topic: topic, FromOffset: -1, ToOffset: -1, ReadUncommitted: uncommitted})
		if err != nil {
			t.Fatal(err)
		}
		s, err := q.Scan(ctx, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for {
			rows, err := s.NextRows()
			if errors.Is(err, io.EOF) {
				coldRows = s.Stats().ColdRows
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				switch {
				case r.IsControl:
					markers++
				case isAbortedValue(r):
					aborted++
				default:
					committed++
				}
			}
		}
	}
	// EndTxn answers once the commit is decided; the markers reach the
	// partitions after (as in Kafka): wait for the last stable offset to
	// pass them before judging.
	stable := func() {
		t.Helper()
		adm := tb.admin()
		for deadline := time.Now().Add(30 * time.Second); ; {
			lso, err1 := adm.ListCommittedOffsets(ctx, topic)
			hw, err2 := adm.ListEndOffsets(ctx, topic)
			l, _ := lso.Lookup(topic, 0)
			h, _ := hw.Lookup(topic, 0)
			if err1 == nil && err2 == nil && l.Err == nil && l.Offset == h.Offset {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("last stable offset %d never reached the high watermark %d", l.Offset, h.Offset)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	check := func(where string, rounds int) {
		t.Helper()
		stable()
		c, a, m := read(false)
		if c != rounds*100 || a != 0 || m != 0 {
			t.Errorf("%s, read_committed: %d committed, %d aborted, %d markers; want %d, 0, 0", where, c, a, m, rounds*100)
		}
		c, a, m = read(true)
		if c != rounds*100 || a != rounds*30 || m != rounds*3 {
			t.Errorf("%s, read_uncommitted: %d committed, %d aborted, %d markers; want %d, %d, %d", where, c, a, m, rounds*100, rounds*30, rounds*3)
		}
	}
	produce(1)
	check("hot log", 1)

	// The same once it is tiered: the cold rows carry the aborted flag.
	waitTiered(t, tb, topic, 1, 60*time.Second)
	produce(2) // and a hot tail after the cold part
	check("cold tier and hot tail", 2)
	if coldRows == 0 {
		t.Fatal("nothing was read from the cold tier")
	}

	// An open transaction: its records are past the last stable offset,
	// so read_committed stops before them; read_uncommitted has them.
	if err := txp.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if err := txp.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("open-%d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if c, a, m := read(false); c != 200 || a != 0 || m != 0 {
		t.Errorf("with an open transaction, read_committed: %d committed, %d aborted, %d markers; want 200, 0, 0", c, a, m)
	}
	if c, _, _ := read(true); c != 207 {
		t.Errorf("with an open transaction, read_uncommitted: %d records outside aborted ones, want 207", c)
	}
	if err := txp.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

// isAbortedValue: the test's aborted transactions are the values tagged
// so (read_uncommitted rows of the hot log carry no aborted flag).
func isAbortedValue(r coldfile.Row) bool {
	return r.Aborted || len(r.Value) > 10 && string(r.Value[3:10]) == "aborted"
}
