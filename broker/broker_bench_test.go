package broker_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/server"
)

// benchBroker starts a broker (embedded etcd included) for one top-level
// benchmark, which must run its setup once: b.Loop, or sub-benchmarks.
func benchBroker(b *testing.B) *broker.Broker {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		DataDir: b.TempDir(), Listen: "127.0.0.1:0", BrokerID: 1, DefaultPartitions: 1,
		RetentionCheckInterval: time.Minute, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatalf("start broker: %v", err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv.Broker()
}

// benchPartition creates a one-partition topic (no cold tier) and returns
// its partition once this broker leads it.
func benchPartition(b *testing.B, br *broker.Broker, name string) *broker.Partition {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := br.CreateTopic(ctx, broker.CreateTopicRequest{
		Name: name, Partitions: 1, ReplicationFactor: 1,
		Configs: map[string]string{"remote.storage.enable": "false"},
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.DeleteTopic(context.Background(), name) })
	for {
		p, err := br.Partition(name, 0)
		if err == nil {
			return p
		}
		if ctx.Err() != nil {
			b.Fatalf("partition %s/0: %v", name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchBatch is an uncompressed RecordBatch v2 with a valid CRC.
var benchBatch = broker.BatchForTest

// BenchmarkPartitionAppend is a produce request's partition: validation,
// append, high watermark, and for acks=all the fsync, with one producer
// (every op waits for its own fsync).
func BenchmarkPartitionAppend(b *testing.B) {
	br := benchBroker(b)
	for _, a := range []struct {
		name string
		acks int16
	}{{"1", broker.AcksLeader}, {"all", broker.AcksAll}} {
		acks := a.acks
		b.Run("acks="+a.name, func(b *testing.B) {
			p := benchPartition(b, br, "append-acks-"+a.name)
			batch := benchBatch(64, 1024)
			ctx := context.Background()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := p.Append(ctx, batch, acks); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPartitionAppendGroupCommit is acks=all with many producers at
// once: their fsyncs are shared (group commit).
func BenchmarkPartitionAppendGroupCommit(b *testing.B) {
	p := benchPartition(b, benchBroker(b), "append-group")
	batch := benchBatch(64, 1024)
	b.Run("producers=8xGOMAXPROCS", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			own := append([]byte(nil), batch...) // Append rewrites the header
			ctx := context.Background()
			for pb.Next() {
				if _, err := p.Append(ctx, own, broker.AcksAll); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkPartitionFetch is a consumer catching up: 1 MiB fetches from
// 64 MiB of 1 KiB records, each from where the previous one ended.
func BenchmarkPartitionFetch(b *testing.B) {
	p := benchPartition(b, benchBroker(b), "fetch")
	batch := benchBatch(64, 1024)
	ctx := context.Background()
	for written := 0; written < 64<<20; written += len(batch) {
		if _, err := p.Append(ctx, batch, broker.AcksLeader); err != nil {
			b.Fatal(err)
		}
	}
	end := p.HighWatermark()
	var off, n, ops int64
	for b.Loop() {
		res, err := p.Fetch(off, 1<<20, true, -1)
		if err != nil {
			b.Fatal(err)
		}
		n, ops = n+int64(len(res.Records)), ops+1
		off = nextOffset(b, res.Records)
		if off >= end {
			off = 0
		}
	}
	b.SetBytes(n / max(1, ops)) // the mean fetch size
}

// nextOffset is the offset after the last batch of data.
func nextOffset(b *testing.B, data []byte) int64 {
	hs, err := recordbatch.Frame(data)
	if err != nil {
		b.Fatalf("fetch returned no whole batch: %v", err)
	}
	return hs[len(hs)-1].LastOffset() + 1
}
