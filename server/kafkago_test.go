package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// kafka-go (segmentio) encodes requests with its own protocol code, not
// kmsg: these tests run it as a real client against the broker.

func kafkaGoController(t *testing.T, addr string) *kafka.Conn {
	t.Helper()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatalf("kafka-go Controller: %v", err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func kafkaGoMessages(n int) []kafka.Message {
	var out []kafka.Message
	for i := range n {
		out = append(out, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: fmt.Appendf(nil, "value-%d", i)})
	}
	return out
}

// TestKafkaGoCreateProduceFetch: kafka-go creates a topic on the
// controller, produces to it and fetches it back at once, against one
// broker and against three (bootstrapped on the last broker: the topic
// reaches the brokers that did not create it through their etcd watch,
// and kafka-go's writer retries until it does).
func TestKafkaGoCreateProduceFetch(t *testing.T) {
	for _, brokers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d brokers", brokers), func(t *testing.T) {
			ctx := testCtx(t)
			noAuto := func(c *Config) { c.AutoCreateTopics = false }
			var addrs []string
			if brokers == 1 {
				addrs = []string{startBroker(t, noAuto).srv.KafkaAddr()}
			} else {
				addrs = startCluster(t, brokers, noAuto).seeds()
			}
			addr := addrs[len(addrs)-1]
			const topic = "kgo-created"
			cc := kafkaGoController(t, addr)
			if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: brokers}); err != nil {
				t.Fatalf("kafka-go CreateTopics: %v", err)
			}
			w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
			defer w.Close()
			kafkaGoWrite(ctx, t, w, kafkaGoMessages(30))
			client := &kafka.Client{Addr: kafka.TCP(addr)}
			total := 0
			for p := range 3 {
				resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: p, Offset: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
				if err != nil {
					t.Fatalf("kafka-go Fetch partition %d: %v", p, err)
				}
				if resp.Error != nil {
					t.Fatalf("kafka-go Fetch partition %d: %v", p, resp.Error)
				}
				for {
					if _, err := resp.Records.ReadRecord(); err != nil {
						break
					}
					total++
				}
			}
			if total != 30 {
				t.Fatalf("kafka-go Fetch read %d records, want 30", total)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			if _, err := r.ReadMessage(ctx); err != nil {
				t.Fatalf("kafka-go Reader: %v", err)
			}
		})
	}
}

// kafkaGoWrite writes msgs, again while the brokers answer that they do
// not know the topic yet or have no leader for it (a topic created on
// another broker reaches this one through its etcd watch).
func kafkaGoWrite(ctx context.Context, t *testing.T, w *kafka.Writer, msgs []kafka.Message) {
	t.Helper()
	for {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return
		}
		if ctx.Err() != nil || !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) && !errors.Is(err, kafka.NotEnoughReplicas) {
			t.Fatalf("kafka-go WriteMessages: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKafkaGoDeleteTopicsThenMetadata: after kafka-go's DeleteTopics
// returns, its metadata calls no longer list the topic's partitions.
// kafka-go's ReadPartitions asks for auto-creation (Metadata v6 with
// AllowAutoTopicCreation): with auto-create on, the broker creates the
// topic again, as Kafka does, and answers LEADER_NOT_AVAILABLE without
// partitions, as Kafka does; it used to answer with the new topic's
// partitions, so the deleted topic seemed to be there still.
func TestKafkaGoDeleteTopicsThenMetadata(t *testing.T) {
	for _, tc := range []struct {
		autoCreate bool
		want       error
	}{
		{autoCreate: false, want: kafka.UnknownTopicOrPartition},
		{autoCreate: true, want: kafka.LeaderNotAvailable},
	} {
		t.Run(fmt.Sprintf("auto-create %v", tc.autoCreate), func(t *testing.T) {
			tb := startBroker(t, func(c *Config) { c.AutoCreateTopics = tc.autoCreate })
			cc := kafkaGoController(t, tb.srv.KafkaAddr())
			// Rounds: the topic watch removing the old logs while the
			// auto-created topic opened the same directories was a race.
			for round := range 10 {
				topic := "kgo-deleted-" + strconv.Itoa(round)
				if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}); err != nil {
					t.Fatalf("kafka-go CreateTopics: %v", err)
				}
				if parts, err := cc.ReadPartitions(topic); err != nil || len(parts) != 2 {
					t.Fatalf("kafka-go ReadPartitions after create: %d partitions, %v", len(parts), err)
				}
				if err := cc.DeleteTopics(topic); err != nil {
					t.Fatalf("kafka-go DeleteTopics: %v", err)
				}
				all, err := cc.ReadPartitions() // every topic: null list, no auto-creation
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range all {
					if p.Topic == topic {
						t.Fatalf("round %d: kafka-go ReadPartitions() (all topics) after DeleteTopics lists %s/%d", round, topic, p.ID)
					}
				}
				parts, err := cc.ReadPartitions(topic)
				if !errors.Is(err, tc.want) || len(parts) != 0 {
					t.Fatalf("round %d: kafka-go ReadPartitions(%s) after DeleteTopics: %d partitions, error %v; want %v", round, topic, len(parts), err, tc.want)
				}
			}
		})
	}
}

// TestKafkaGoGroupCommitOnClose: a kafka-go consumer group that commits
// at an interval (OffsetCommit v2 with retention -1, to the coordinator
// FindCoordinator v0 named) commits what it read when it closes, against
// one broker and against three (bootstrapped on a broker that is not the
// group's coordinator; the commit is then read on every broker).
func TestKafkaGoGroupCommitOnClose(t *testing.T) {
	for _, brokers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d brokers", brokers), func(t *testing.T) {
			ctx := testCtx(t)
			var addrs []string
			if brokers == 1 {
				addrs = []string{startBroker(t).srv.KafkaAddr()}
			} else {
				addrs = startCluster(t, brokers).seeds()
			}
			const topic, group, n = "kgo-group", "kgo-group-g", 20
			cc := kafkaGoController(t, addrs[0])
			if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: brokers}); err != nil {
				t.Fatal(err)
			}
			w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
			defer w.Close()
			kafkaGoWrite(ctx, t, w, kafkaGoMessages(n))
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs[len(addrs)-1:], GroupID: group, Topic: topic,
				CommitInterval: time.Hour, MaxWait: 100 * time.Millisecond, StartOffset: kafka.FirstOffset})
			for range n {
				if _, err := r.ReadMessage(ctx); err != nil {
					t.Fatalf("kafka-go group reader: %v", err)
				}
			}
			if err := r.Close(); err != nil {
				t.Fatalf("kafka-go Reader.Close: %v", err)
			}
			for _, addr := range addrs {
				client := &kafka.Client{Addr: kafka.TCP(addr)}
				resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0}}})
				if err != nil {
					t.Fatal(err)
				}
				if resp.Error != nil {
					t.Fatal(resp.Error)
				}
				got := resp.Topics[topic]
				if len(got) != 1 || got[0].CommittedOffset != n || got[0].Error != nil {
					t.Fatalf("committed after close, asked via %s: %+v, want offset %d", addr, got, n)
				}
			}
		})
	}
}
