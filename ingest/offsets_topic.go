package ingest

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Committed offsets live in etcd, not in a log, yet clients expect Kafka's
// internal topic __consumer_offsets in Metadata: admin tools list it as
// internal, and regex subscriptions skip it by that flag. Metadata shows it
// while this broker runs the group coordinator; the other APIs answer for
// it what Kafka answers for an internal topic.
//
// Its partitions place nothing: a group's coordinator is what
// FindCoordinator answers (rendezvous hashing of the group id over the
// live brokers, package group), not the leader of the group's partition.
// The leaders shown spread the partitions over the live brokers in turn,
// the shape Kafka's own assignment gives them.
const (
	offsetsTopicName = "__consumer_offsets"
	// offsetsTopicPartitions is Kafka's default offsets.topic.num.partitions.
	offsetsTopicPartitions = 50
)

// offsetsTopicID is the topic id clients see; fixed, since the topic
// never changes.
var offsetsTopicID = [16]byte{'_', '_', 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', '_', 'o', 'f', 'f', 's', 0}

// errInternalTopic refuses a produce, delete or repartition of an
// internal topic, with Kafka's code for writes to one.
func errInternalTopic(name string) error {
	return fmt.Errorf("%w: %s is an internal topic (offsets are kept in etcd)", kerr.InvalidTopicException, name)
}

// offsetsTopic returns __consumer_offsets as Metadata shows it, and false
// when this broker runs no group coordinator.
func (cc *clientConn) offsetsTopic() (TopicInfo, bool) {
	if cc.s.b.GroupPlacement == nil {
		return TopicInfo{}, false
	}
	var ids []int32
	for _, b := range cc.s.b.Cluster.Brokers() {
		ids = append(ids, b.ID)
	}
	if len(ids) == 0 {
		ids = []int32{cc.s.b.Cluster.ID()}
	}
	slices.Sort(ids)
	t := TopicInfo{Name: offsetsTopicName, ID: offsetsTopicID, ReplicationFactor: 1}
	for p := range int32(offsetsTopicPartitions) {
		leader := ids[int(p)%len(ids)]
		t.Partitions = append(t.Partitions, PartitionInfo{
			Partition: p, Leader: leader, LeaderEpoch: 0, Replicas: []int32{leader}, ISR: []int32{leader},
		})
	}
	return t, true
}
