package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/group"
	"github.com/stratalog/strata/server"
)

// runStrata runs the CLI in process and returns its output and error.
func runStrata(args ...string) (string, error) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestGroupCommands runs `strata group list|describe|reset-offsets` against
// an in-process broker with a live kgo group consumer.
func TestGroupCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		DataDir:           t.TempDir(),
		Listen:            "127.0.0.1:0",
		BrokerID:          1,
		AutoCreateTopics:  true,
		DefaultPartitions: 1,
		Groups:            group.Config{InitialRebalanceDelay: -1},
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := srv.KafkaAddr()
	brokers := "--brokers=" + addr

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	// 10 records per partition; record o of partition p has timestamp
	// base + 3*o + p.
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < 30; i++ {
		r := &kgo.Record{Value: []byte(strconv.Itoa(i)), Partition: int32(i % 3), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("billing-1"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for n := 0; n < 30; {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 30", n)
		}
		n += len(fs.Records())
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	// Three more records: a lag of one per partition.
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("late"), Partition: int32(i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	out, err := runStrata("group", "list", brokers)
	if err != nil || !hasFields(out, "billing", "Stable", "consumer", "1") {
		t.Fatalf("group list: %v\n%s", err, out)
	}
	out, err = runStrata("group", "describe", "billing", brokers)
	if err != nil {
		t.Fatalf("group describe: %v\n%s", err, out)
	}
	for _, want := range [][]string{
		{"group", "billing", "state", "Stable", "protocol", "consumer/cooperative-sticky", "members", "1"},
		{"billing-1", "/127.0.0.1", "orders[0", "1", "2]"},
		{"orders", "0", "10", "11", "1"},
		{"orders", "2", "10", "11", "1"},
		{"total", "lag", "3"},
	} {
		if !hasFields(out, want...) {
			t.Fatalf("group describe: no line with %q in\n%s", want, out)
		}
	}

	// A KIP-848 group: describe shows the epochs and each member's
	// assignment and target.
	next, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("ledger"), kgo.ConsumeTopics("orders"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()), kgo.ClientID("ledger-1"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 33; {
		fs := next.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("ledger consumed %d of 33", n)
		}
		n += len(fs.Records())
	}
	out, err = runStrata("group", "describe", "ledger", brokers)
	if err != nil {
		t.Fatalf("group describe of a KIP-848 group: %v\n%s", err, out)
	}
	for _, want := range [][]string{
		{"group", "ledger", "state", "Stable", "protocol", "consumer/range", "members", "1"},
		{"consumer", "protocol", "(KIP-848)", "group", "epoch", "1", "assignment", "epoch", "1", "assignor", "range"},
		{"1", "ledger-1", "/127.0.0.1", "orders[0", "1", "2]", "orders[0", "1", "2]"},
	} {
		if !hasFields(out, want...) {
			t.Fatalf("group describe of a KIP-848 group: no line with %q in\n%s", want, out)
		}
	}
	next.Close()

	// Resetting a group with members: one clear error.
	out, err = runStrata("group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", brokers)
	if err == nil || !strings.Contains(err.Error(), "is Stable with 1 members; stop its consumers first") {
		t.Fatalf("reset of a live group: %v\n%s", err, out)
	}
	consumer.Close() // leaves the group: Empty

	committed := func() [3]int64 {
		t.Helper()
		offs, err := adm.FetchOffsets(ctx, "billing")
		if err != nil {
			t.Fatal(err)
		}
		var got [3]int64
		for p := int32(0); p < 3; p++ {
			o, _ := offs.Lookup("orders", p)
			got[p] = o.At
		}
		return got
	}
	for _, tc := range []struct {
		args []string
		want [3]int64
	}{
		{[]string{"--to-earliest"}, [3]int64{0, 0, 0}},
		{[]string{"--to-offset", "4"}, [3]int64{4, 4, 4}},
		{[]string{"--to-offset", "100"}, [3]int64{11, 11, 11}}, // clamped to the end
		{[]string{"--to-datetime", strconv.FormatInt(base.Add(15*time.Millisecond).UnixMilli(), 10)}, [3]int64{5, 5, 5}},
		{[]string{"--to-datetime", base.Add(16 * time.Millisecond).Format(time.RFC3339Nano)}, [3]int64{6, 5, 5}},
		{[]string{"--to-latest"}, [3]int64{11, 11, 11}},
	} {
		args := append([]string{"group", "reset-offsets", "billing", "--topic", "orders", brokers}, tc.args...)
		out, err := runStrata(args...)
		if err != nil {
			t.Fatalf("reset-offsets %v: %v\n%s", tc.args, err, out)
		}
		if got := committed(); got != tc.want {
			t.Fatalf("reset-offsets %v: committed %v, want %v\n%s", tc.args, got, tc.want, out)
		}
		if !hasFields(out, "orders", "0", strconv.FormatInt(tc.want[0], 10)) {
			t.Fatalf("reset-offsets %v printed\n%s", tc.args, out)
		}
	}
	out, err = runStrata("group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", "--dry-run", brokers)
	if err != nil || !strings.Contains(out, "dry run") || committed() != [3]int64{11, 11, 11} {
		t.Fatalf("dry run: %v %v\n%s", err, committed(), out)
	}

	for _, bad := range [][]string{
		{"--topic", "orders"},
		{"--topic", "orders", "--to-earliest", "--to-latest"},
		{"--to-earliest"},
		{"--topic", "orders", "--to-datetime", "yesterday"},
		{"--topic", "orders", "--to-offset", "-3"},
		{"--topic", "nope", "--to-earliest"},
	} {
		args := append([]string{"group", "reset-offsets", "billing", brokers}, bad...)
		if out, err := runStrata(args...); err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("reset-offsets %v: %v, want one error line\n%s", bad, err, out)
		}
	}
	if out, err := runStrata("group", "describe", "nobody", brokers); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("describe of an unknown group: %v\n%s", err, out)
	}
}

// hasFields reports whether some line of out has consecutive fields
// starting with want, in order.
func hasFields(out string, want ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		for i := 0; i+len(want) <= len(fields); i++ {
			ok := true
			for j, w := range want {
				if !strings.HasPrefix(fields[i+j], w) {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
	}
	return false
}
