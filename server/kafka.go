package server

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/fileutil"
	"github.com/stratalog/strata/group"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/txn"
)

// kafkaBackend wires the broker and the group coordinator to the
// interfaces the protocol layer defines: ingest knows neither package's
// concrete types, so the conversions live here, in the composition root.
func kafkaBackend(b *broker.Broker, g *group.Coordinator, t *txn.Coordinator) ingest.Backend {
	c := kafkaCluster{b}
	gs := kafkaGroups{g}
	return ingest.Backend{
		Transactions:   kafkaTxns{t},
		TxnVerifier:    newTxnVerifier(b, t),
		TxnOffsets:     g,
		Cluster:        c,
		Topics:         c,
		Partitions:     c,
		TopicAdmin:     c,
		Configs:        c,
		Replicas:       c,
		ProducerIDs:    b,
		LogDirs:        c,
		Authorizer:     replicaAuthorizer{},
		GroupPlacement: g,
		Members:        g,
		Offsets:        gs,
		GroupAdmin:     g,
		Consumers:      g,
	}
}

// kafkaCluster adapts *broker.Broker.
type kafkaCluster struct{ b *broker.Broker }

// LogDirs is the broker's one log dir with every replica it hosts.
func (c kafkaCluster) LogDirs() []ingest.LogDir {
	path, err := filepath.Abs(c.b.LogDirPath())
	if err != nil {
		path = c.b.LogDirPath()
	}
	d := ingest.LogDir{Path: path, TotalBytes: -1, UsableBytes: -1}
	if err := c.b.LogDirError(); err != nil {
		d.Err = fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
		return []ingest.LogDir{d}
	}
	if total, usable, err := fileutil.DiskUsage(path); err == nil {
		d.TotalBytes, d.UsableBytes = total, usable
	}
	for _, p := range c.b.LocalPartitions() {
		r := ingest.ReplicaDir{Topic: p.Topic(), Partition: p.Index(), OffsetLag: max(p.HighWatermark()-p.LogEndOffset(), 0)}
		for _, s := range p.Segments() {
			r.Size += s.Size
		}
		d.Replicas = append(d.Replicas, r)
	}
	return []ingest.LogDir{d}
}

func (c kafkaCluster) ID() int32           { return c.b.ID() }
func (c kafkaCluster) ClusterID() string   { return c.b.ClusterID() }
func (c kafkaCluster) ControllerID() int32 { return c.b.ControllerID() }

func (c kafkaCluster) Brokers() []ingest.BrokerInfo {
	bs := c.b.Brokers()
	out := make([]ingest.BrokerInfo, len(bs))
	for i, b := range bs {
		out[i] = ingest.BrokerInfo{ID: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack, Listeners: ingestEndpoints(b.Listeners)}
	}
	return out
}

func topicInfo(t broker.TopicInfo) ingest.TopicInfo {
	out := ingest.TopicInfo{Name: t.Name, ID: t.ID, ReplicationFactor: t.ReplicationFactor,
		Partitions: make([]ingest.PartitionInfo, len(t.Partitions))}
	for i, st := range t.Partitions {
		out.Partitions[i] = ingest.PartitionInfo{Partition: st.Partition, Leader: st.Leader,
			LeaderEpoch: st.LeaderEpoch, Replicas: st.Replicas, ISR: st.ISR}
	}
	return out
}

func (c kafkaCluster) Topics() []ingest.TopicInfo {
	ts := c.b.Topics()
	out := make([]ingest.TopicInfo, len(ts))
	for i, t := range ts {
		out[i] = topicInfo(t)
	}
	return out
}

func (c kafkaCluster) Topic(name string) (ingest.TopicInfo, bool) {
	t, ok := c.b.Topic(name)
	return topicInfo(t), ok
}

func (c kafkaCluster) TopicByID(id [16]byte) (ingest.TopicInfo, bool) {
	t, ok := c.b.TopicByID(id)
	return topicInfo(t), ok
}

func (c kafkaCluster) Partition(topic string, partition int32) (ingest.Partition, error) {
	p, err := c.b.Partition(topic, partition)
	if err != nil {
		return nil, err
	}
	return kafkaPartition{p}, nil
}

func (c kafkaCluster) EnsureTopic(ctx context.Context, name string) (ingest.TopicInfo, error) {
	t, err := c.b.EnsureTopic(ctx, name)
	return topicInfo(t), err
}

func (c kafkaCluster) CreateTopic(ctx context.Context, req ingest.CreateTopicRequest) (ingest.TopicInfo, error) {
	t, err := c.b.CreateTopic(ctx, broker.CreateTopicRequest(req))
	return topicInfo(t), err
}

func (c kafkaCluster) DeleteTopic(ctx context.Context, name string) error {
	return c.b.DeleteTopic(ctx, name)
}

func (c kafkaCluster) CreatePartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error {
	return c.b.CreatePartitions(ctx, name, count, assignment, validateOnly)
}

func configEntries(es []broker.ConfigEntry) []ingest.ConfigEntry {
	out := make([]ingest.ConfigEntry, len(es))
	for i, e := range es {
		out[i] = ingest.ConfigEntry{Name: e.Name, Value: e.Value, Default: e.Default, ReadOnly: e.ReadOnly,
			Type: int8(e.Type), Doc: e.Doc, Sensitive: e.Sensitive, Source: int8(e.Source)}
		for _, s := range e.Synonyms {
			out[i].Synonyms = append(out[i].Synonyms, ingest.ConfigSynonym{Name: s.Name, Value: s.Value, Source: int8(s.Source)})
		}
	}
	return out
}

func (c kafkaCluster) DescribeTopicConfigs(name string) ([]ingest.ConfigEntry, error) {
	es, err := c.b.DescribeTopicConfigs(name)
	return configEntries(es), err
}

func (c kafkaCluster) BrokerConfigs() []ingest.ConfigEntry { return configEntries(c.b.BrokerConfigs()) }

func (c kafkaCluster) BrokerDefaultConfigs() []ingest.ConfigEntry {
	return configEntries(c.b.BrokerDefaultConfigs())
}

func (c kafkaCluster) BrokerLoggers() []ingest.ConfigEntry { return configEntries(c.b.BrokerLoggers()) }

func (c kafkaCluster) AlterBrokerConfigs(ctx context.Context, resource string, changes []ingest.ConfigChange, replace, validateOnly bool) error {
	return c.b.AlterBrokerConfigs(ctx, resource, configChanges(changes), replace, validateOnly)
}

func (c kafkaCluster) AlterBrokerLoggers(changes []ingest.ConfigChange, validateOnly bool) error {
	return c.b.AlterBrokerLoggers(configChanges(changes), validateOnly)
}

func (c kafkaCluster) AlterTopicConfigs(ctx context.Context, name string, changes []ingest.ConfigChange, replace, validateOnly bool) error {
	return c.b.AlterTopicConfigs(ctx, name, configChanges(changes), replace, validateOnly)
}

func configChanges(changes []ingest.ConfigChange) []broker.ConfigChange {
	bc := make([]broker.ConfigChange, len(changes))
	for i, ch := range changes {
		bc[i] = broker.ConfigChange{Name: ch.Name, Value: ch.Value, Op: broker.ConfigOp(ch.Op)}
	}
	return bc
}

func (c kafkaCluster) Reassign(ctx context.Context, topic string, partition int32, replicas []int32) error {
	return c.b.Reassign(ctx, topic, partition, replicas)
}

func (c kafkaCluster) Reassignments(ctx context.Context, topics []string) ([]ingest.Reassignment, error) {
	states, err := c.b.Reassignments(ctx, topics)
	if err != nil {
		return nil, err
	}
	out := make([]ingest.Reassignment, len(states))
	for i, st := range states {
		out[i] = ingest.Reassignment{Topic: st.Topic, Partition: st.Partition, Replicas: st.Replicas,
			AddingReplicas: st.AddingReplicas, RemovingReplicas: st.RemovingReplicas}
	}
	return out, nil
}

func (c kafkaCluster) ElectLeader(ctx context.Context, topic string, partition int32, unclean bool) error {
	return c.b.ElectLeader(ctx, topic, partition, unclean)
}

// kafkaPartition adapts *broker.Partition (a one-pointer struct, so
// boxing it in the interface does not allocate).
type kafkaPartition struct{ p *broker.Partition }

func (k kafkaPartition) Append(ctx context.Context, records []byte, acks int16) (ingest.AppendResult, error) {
	res, err := k.p.Append(ctx, records, acks)
	return ingest.AppendResult(res), err
}

func (k kafkaPartition) Fetch(offset int64, maxBytes int, minOneBatch bool, clientEpoch int32) (ingest.FetchResult, error) {
	res, err := k.p.Fetch(offset, maxBytes, minOneBatch, clientEpoch)
	return ingest.FetchResult(res), err
}

func (k kafkaPartition) FetchAhead(offset int64, maxBytes int, clientEpoch int32) ingest.PendingFetch {
	if f := k.p.FetchAhead(offset, maxBytes, clientEpoch); f != nil {
		return pendingFetch{f}
	}
	return nil
}

func (k kafkaPartition) ReplicaFetch(replicaID int32, offset int64, maxBytes int, clientEpoch int32) (ingest.FetchResult, error) {
	res, err := k.p.ReplicaFetch(replicaID, offset, maxBytes, clientEpoch)
	return ingest.FetchResult(res), err
}

func (k kafkaPartition) ListOffset(ts int64, clientEpoch int32) (int64, int64, int32, error) {
	return k.p.ListOffset(ts, clientEpoch)
}

func (k kafkaPartition) EndOffsetForEpoch(epoch, clientEpoch int32) (int32, int64, error) {
	return k.p.EndOffsetForEpoch(epoch, clientEpoch)
}

func (k kafkaPartition) DeleteRecords(ctx context.Context, offset int64) (int64, error) {
	return k.p.DeleteRecords(ctx, offset)
}

func (k kafkaPartition) Wait() <-chan struct{} { return k.p.Wait() }

func (k kafkaPartition) WriteTxnMarker(ctx context.Context, producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool) error {
	return k.p.WriteTxnMarker(ctx, producerID, producerEpoch, coordinatorEpoch, commit)
}

func (k kafkaPartition) LastStableOffset() int64 { return k.p.LastStableOffset() }

func (k kafkaPartition) AbortedTransactions(from, upTo int64) ([]ingest.AbortedTxn, error) {
	aborted, err := k.p.AbortedTransactions(from, upTo)
	if len(aborted) == 0 {
		return nil, err
	}
	out := make([]ingest.AbortedTxn, len(aborted))
	for i, a := range aborted {
		out[i] = ingest.AbortedTxn{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset}
	}
	return out, err
}

func (k kafkaPartition) Producers() ([]ingest.ProducerState, error) {
	ps, err := k.p.Producers()
	out := make([]ingest.ProducerState, len(ps))
	for i, p := range ps {
		out[i] = ingest.ProducerState{ProducerID: p.ProducerID, ProducerEpoch: int32(p.ProducerEpoch), LastSequence: p.LastSequence,
			LastTimestamp: p.LastTimestamp, CoordinatorEpoch: p.CoordinatorEpoch, CurrentTxnStartOffset: p.CurrentTxnStartOffset}
	}
	return out, err
}

type pendingFetch struct{ f *broker.PendingFetch }

func (p pendingFetch) Result() (ingest.FetchResult, error) {
	res, err := p.f.Result()
	return ingest.FetchResult(res), err
}

// kafkaGroups adapts the two offset calls of *group.Coordinator that
// name partitions with meta's type.
type kafkaGroups struct{ *group.Coordinator }

func metaPartitions(parts []ingest.TopicPartition) []meta.TopicPartition {
	if parts == nil {
		return nil // nil means every committed partition
	}
	out := make([]meta.TopicPartition, len(parts))
	for i, tp := range parts {
		out[i] = meta.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
	}
	return out
}

func (g kafkaGroups) FetchOffsets(ctx context.Context, groupID string, parts []ingest.TopicPartition, requireStable bool) ([]group.FetchedOffset, error) {
	return g.Coordinator.FetchOffsets(ctx, groupID, metaPartitions(parts), requireStable)
}

func (g kafkaGroups) DeleteOffsets(ctx context.Context, groupID string, parts []ingest.TopicPartition) ([]error, error) {
	return g.Coordinator.DeleteOffsets(ctx, groupID, metaPartitions(parts))
}
