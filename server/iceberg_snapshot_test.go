package server

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/stratalog/strata/iceberg"
	"github.com/stratalog/strata/query"
	"github.com/stratalog/strata/tiering/coldfile"
)

// TestIcebergSnapshotReads: a snapshot of the table, chosen by id, by
// time or as the current one, is read with exactly the records it held
// when it was committed, after more records were produced and tiered:
// through the bucket's path-based metadata (strata export --snapshot),
// through the broker's etcd pointer, and over Flight.
func TestIcebergSnapshotReads(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.TierRowGroupBytes = 16 << 10
		c.FlightListen = "127.0.0.1:0"
	})
	ctx := testCtx(t)
	topic := "travel"
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, icebergTopicConfigs(), topic); err != nil {
		t.Fatal(err)
	}
	want := produceMixed(t, tb, topic, 1500, 11)
	waitTiered(t, tb, topic, 2, 60*time.Second)
	waitTableCaughtUp(t, tb, topic, 2, 60*time.Second)
	first, err := tb.srv.Tables().TableStatus(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range produceMixed(t, tb, topic, 1500, 12) {
		want[k] = v
	}
	waitTiered(t, tb, topic, 2, 60*time.Second)
	waitTableCaughtUp(t, tb, topic, 2, 60*time.Second)
	last, err := tb.srv.Tables().TableStatus(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if last.SnapshotID == first.SnapshotID || sumEnds(last.PartitionEnds) <= sumEnds(first.PartitionEnds) {
		t.Fatalf("the table did not move on: first %+v, last %+v", first, last)
	}

	bucketOnly := query.NewPlanner(query.Config{Bucket: tb.srv.Tier().Bucket()})
	viaEtcd := query.NewPlanner(query.Config{Bucket: tb.srv.Tier().Bucket(), Snapshots: tb.srv.Tables().Snapshot})
	read := func(q *query.Planner, sel iceberg.SnapshotSelector, from, to int64) (*query.Plan, []coldfile.Row) {
		t.Helper()
		p, err := q.Plan(ctx, query.Range{Topic: topic, FromOffset: from, ToOffset: to, Snapshot: &sel})
		if err != nil {
			t.Fatalf("plan %s: %v", sel, err)
		}
		s, err := q.Scan(ctx, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var rows []coldfile.Row
		for {
			rs, err := s.NextRows()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("scan %s: %v", sel, err)
			}
			rows = append(rows, rs...)
		}
		if st := s.Stats(); st.HotRows != 0 {
			t.Fatalf("snapshot %s: %d rows from the brokers", sel, st.HotRows)
		}
		return p, rows
	}
	for _, q := range []*query.Planner{bucketOnly, viaEtcd} {
		p, rows := read(q, iceberg.SnapshotSelector{ID: first.SnapshotID}, -1, -1)
		if p.Snapshot != first.SnapshotID {
			t.Fatalf("read snapshot %d, asked for %d", p.Snapshot, first.SnapshotID)
		}
		compareRows(t, rows, want, first.PartitionEnds)

		// As of the first snapshot's commit time: that snapshot, or an
		// earlier one committed in the same millisecond; never a later one.
		p, rows = read(q, iceberg.SnapshotSelector{AsOf: time.UnixMilli(first.SnapshotMs)}, -1, -1)
		if p.Snapshot != first.SnapshotID && int64(len(rows)) >= sumEnds(first.PartitionEnds) {
			t.Fatalf("as of %d: snapshot %d with %d rows, later than %d", first.SnapshotMs, p.Snapshot, len(rows), first.SnapshotID)
		}

		// An offset range within the last snapshot.
		_, rows = read(q, iceberg.SnapshotSelector{ID: last.SnapshotID}, 100, 700)
		for _, r := range rows {
			if r.Offset < 100 || r.Offset >= 700 {
				t.Fatalf("row %d/%d outside [100, 700)", r.Partition, r.Offset)
			}
		}
		if len(rows) != 2*600 {
			t.Fatalf("[100, 700) of snapshot %d: %d rows, want 1200", last.SnapshotID, len(rows))
		}

		if _, err := q.Plan(ctx, query.Range{Topic: topic, FromOffset: -1, ToOffset: -1, Snapshot: &iceberg.SnapshotSelector{ID: 42}}); !errors.Is(err, iceberg.ErrNoSnapshot) {
			t.Fatalf("unknown snapshot: %v, want ErrNoSnapshot", err)
		}
		if _, err := q.Plan(ctx, query.Range{Topic: "nope", FromOffset: -1, ToOffset: -1, Snapshot: &iceberg.SnapshotSelector{}}); !errors.Is(err, iceberg.ErrNoTable) {
			t.Fatalf("topic without a table: %v, want ErrNoTable", err)
		}
	}
	// The current snapshot through the etcd pointer is the table's status.
	p, rows := read(viaEtcd, iceberg.SnapshotSelector{}, -1, -1)
	if st, _ := tb.srv.Tables().TableStatus(ctx, topic); p.Snapshot == st.SnapshotID {
		compareRows(t, rows, want, st.PartitionEnds)
	}

	// Flight: a command naming a snapshot resolves to its records.
	cl, err := flight.NewClientWithMiddleware(tb.srv.FlightAddr(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	id, _ := json.Marshal(query.FlightCommand{Topic: topic, Snapshot: strconv.FormatInt(first.SnapshotID, 10)})
	fi, err := cl.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: id})
	if err != nil {
		t.Fatal(err)
	}
	if fi.TotalRecords != sumEnds(first.PartitionEnds) {
		t.Fatalf("flight info of snapshot %d: %d records, want %d", first.SnapshotID, fi.TotalRecords, sumEnds(first.PartitionEnds))
	}
	var n int64
	for _, ep := range fi.Endpoint {
		st, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := flight.NewRecordReader(st)
		if err != nil {
			t.Fatal(err)
		}
		for rd.Next() {
			n += rd.RecordBatch().NumRows()
		}
		if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		rd.Release()
	}
	if n != sumEnds(first.PartitionEnds) {
		t.Fatalf("flight DoGet of snapshot %d: %d rows, want %d", first.SnapshotID, n, sumEnds(first.PartitionEnds))
	}
	bad, _ := json.Marshal(query.FlightCommand{Topic: topic, Snapshot: "42"})
	if _, err := cl.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: bad}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown snapshot over flight: %v, want NotFound", err)
	}
	garbled, _ := json.Marshal(query.FlightCommand{Topic: topic, Snapshot: "yesterday"})
	if _, err := cl.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: garbled}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad snapshot over flight: %v, want InvalidArgument", err)
	}
}

func sumEnds(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
