package main

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/iceberg/icebergtest"
	"github.com/stratalog/strata/tiering"
)

// TestServeIcebergRESTSIGKILL starts `strata serve --iceberg-rest-listen
// HOST:PORT` exactly as outside tests do, produces while tiering and
// merging commit, SIGKILLs the broker a few times (at whatever step of
// PUT, manifest commit and table commit it is), and checks after the
// last restart that the table iceberg-go loads from the REST endpoint
// agrees with the tier manifest (files, bytes, end offsets) and scans to
// one contiguous run of offsets per partition, each once.
func TestServeIcebergRESTSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker process; skipped with -short")
	}
	bin := clientsBuildStrata(t)
	catAddr := clientsFreeAddr(t)
	p := newBrokerProc(t, bin, "--default-partitions", "2", "--iceberg-rest-listen", catAddr, "--retention-check-interval", "200ms")
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.DefaultProduceTopic("lake"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, map[string]*string{
		"segment.bytes": kadm.StringPtr("16384"), "local.retention.ms": kadm.StringPtr("0"),
		"strata.tier.max.lag.ms": kadm.StringPtr("300"), "strata.tier.target.file.bytes": kadm.StringPtr("100000"),
	}, "lake"); err != nil {
		t.Fatal(err)
	}
	produce := func(n int) {
		for i := 0; i < n; i++ {
			cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record %d of a run %s", i, time.Now())}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for kill := 0; kill < 3; kill++ {
		produce(2000)
		time.Sleep(time.Duration(700+kill*400) * time.Millisecond)
		p.kill(syscall.SIGKILL)
		p.start()
	}
	produce(500)

	// The REST endpoint answers the spec's config shape.
	resp, err := http.Get("http://" + catAddr + "/v1/config")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/config: %v %v", resp, err)
	}
	resp.Body.Close()

	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := tiering.FetchStatus(ctx, p.metrics, "lake")
		agree := err == nil && len(st) == 2
		var tiered int64
		for _, s := range st {
			agree = agree && s.Iceberg && s.RemoteEnd > 0 && s.LocalSegments == 1 && s.TableEnd == s.RemoteEnd &&
				s.TableFiles == int64(s.RemoteFiles) && s.TableBytes == s.RemoteBytes
			tiered += s.RemoteEnd - s.RemoteStart
		}
		if agree {
			cat, err := rest.NewCatalog(ctx, "strata", "http://"+catAddr)
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := cat.LoadTable(ctx, table.Identifier{"default", "lake"})
			if err != nil {
				t.Fatal(err)
			}
			rows, err := icebergtest.Scan(ctx, tbl)
			if err != nil {
				t.Fatal(err)
			}
			spans, err := icebergtest.Contiguous(rows)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if sp := spans[s.Partition]; sp[0] != s.RemoteStart || sp[1] != s.RemoteEnd {
					t.Fatalf("partition %d: table scans [%d, %d), the tier holds [%d, %d)", s.Partition, sp[0], sp[1], s.RemoteStart, s.RemoteEnd)
				}
			}
			if int64(len(rows)) != tiered {
				t.Fatalf("scan %d rows, tiered %d", len(rows), tiered)
			}
			t.Logf("after 3 SIGKILLs: %d rows in the table, %v", len(rows), spans)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("table and manifest do not agree: %+v %v", st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
