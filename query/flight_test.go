package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/stratalog/strata/query"
	"github.com/stratalog/strata/server"
	"github.com/stratalog/strata/tiering/coldfile"
)

// TestFlightPullsRange starts a broker with --flight-listen, and a Go
// Flight client lists the topics, resolves a range spanning cold and hot
// data, and pulls it record by record.
func TestFlightPullsRange(t *testing.T) {
	e := startEnv(t, func(c *server.Config) { c.FlightListen = "127.0.0.1:0" })
	want := coldHot(t, e, "fly", 2, textValue)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := flight.NewClientWithMiddleware(e.srv.FlightAddr(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	lf, err := cl.ListFlights(ctx, &flight.Criteria{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for {
		fi, err := lf.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if fi.FlightDescriptor.Path[0] == "fly" {
			found = true
			if fi.TotalRecords != 1900 {
				t.Fatalf("ListFlights: fly has %d records, want 1900", fi.TotalRecords)
			}
		}
	}
	if !found {
		t.Fatal("ListFlights does not list topic fly")
	}

	pull := func(d *flight.FlightDescriptor) []coldfile.Row {
		fi, err := cl.GetFlightInfo(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		var rows []coldfile.Row
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
				rows = append(rows, rowsOfRecord(rd.RecordBatch())...)
			}
			if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			rd.Release()
		}
		return rows
	}
	from, to := int64(100), int64(900)
	cmd, _ := json.Marshal(query.FlightCommand{Topic: "fly", FromOffset: &from, ToOffset: &to})
	compareRows(t, pull(&flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd}), want, from, to)
	compareRows(t, pull(&flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"fly"}}), want, 0, -1)

	_, err = cl.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"nope"}})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown topic: %v, want NotFound", err)
	}
}
