package ingest

import (
	"context"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// maxResponsePartitions is Kafka's max.request.partition.size.limit: the
// most partitions one DescribeTopicPartitions response carries, whatever
// the request's limit.
const maxResponsePartitions = 2000

// DescribeTopicPartitions v0 (KIP-966): the named topics (every topic the
// principal may describe when none is named) sorted by name, their
// partitions from the cursor on, at most ResponsePartitionLimit (capped at
// 2000; 0 or less: 2000) partitions in all; NextCursor names the first
// partition left out, null when none is. Named topics that do not exist
// or may not be described answer UNKNOWN_TOPIC_OR_PARTITION or
// TOPIC_AUTHORIZATION_FAILED (and take no share of the limit); a cursor
// naming a topic the request does not is INVALID_REQUEST, as in Kafka.
// Strata has no eligible leader replicas (KIP-966's ELR): those lists are
// null.
func (cc *clientConn) handleDescribeTopicPartitions(_ context.Context, req *kmsg.DescribeTopicPartitionsRequest) (*kmsg.DescribeTopicPartitionsResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	all := len(req.Topics) == 0
	var names []string
	offsets, withOffsets := cc.offsetsTopic()
	if all {
		for _, t := range cc.s.b.Topics.Topics() {
			names = append(names, t.Name)
		}
		if withOffsets {
			names = append(names, offsetsTopicName)
		}
	} else {
		seen := map[string]bool{}
		for _, rt := range req.Topics {
			if !seen[rt.Topic] {
				seen[rt.Topic] = true
				names = append(names, rt.Topic)
			}
		}
	}
	sort.Strings(names)
	first, firstPartition := "", int32(0)
	if c := req.Cursor; c != nil {
		if _, named := slices.BinarySearch(names, c.Topic); !all && !named {
			// Kafka's InvalidRequestException: every topic answers it.
			for _, name := range names {
				resp.Topics = append(resp.Topics, topicPartitionsError(name, kerr.InvalidRequest.Code))
			}
			return resp, nil
		}
		first, firstPartition = c.Topic, max(c.Partition, 0)
	}
	limit := int(req.ResponsePartitionLimit)
	if limit <= 0 || limit > maxResponsePartitions {
		limit = maxResponsePartitions
	}
	live := map[int32]bool{}
	for _, b := range cc.s.b.Cluster.Brokers() {
		live[b.ID] = true
	}
	for _, name := range names {
		if name < first {
			continue
		}
		from := int32(0)
		if name == first {
			from = firstPartition
		}
		if all && !cc.allowed(kmsg.ACLOperationDescribe, auth.Topic, name) {
			continue // a listing never names what may not be seen
		}
		if limit == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: from}
			break
		}
		if err := cc.authTopic(kmsg.ACLOperationDescribe, name); err != nil {
			resp.Topics = append(resp.Topics, topicPartitionsError(name, errorCode(err)))
			continue
		}
		t, ok := cc.s.b.Topics.Topic(name)
		internal := false
		if name == offsetsTopicName && withOffsets {
			t, ok, internal = offsets, true, true
		}
		if !ok {
			resp.Topics = append(resp.Topics, topicPartitionsError(name, kerr.UnknownTopicOrPartition.Code))
			continue
		}
		mt := metadataTopic(t, live)
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic, rt.TopicID, rt.IsInternal = kmsg.StringPtr(name), t.ID, internal
		rt.AuthorizedOperations = cc.authorizedOps(auth.Topic, name)
		for _, mp := range mt.Partitions {
			if mp.Partition < from {
				continue
			}
			if limit == 0 {
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: mp.Partition}
				break
			}
			rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			rp.ErrorCode, rp.Partition, rp.LeaderID, rp.LeaderEpoch = mp.ErrorCode, mp.Partition, mp.Leader, mp.LeaderEpoch
			rp.Replicas, rp.ISR, rp.OfflineReplicas = mp.Replicas, mp.ISR, mp.OfflineReplicas
			rt.Partitions = append(rt.Partitions, rp)
			limit--
		}
		resp.Topics = append(resp.Topics, rt)
		if resp.NextCursor != nil {
			break
		}
	}
	return resp, nil
}

func topicPartitionsError(name string, code int16) kmsg.DescribeTopicPartitionsResponseTopic {
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	rt.Topic, rt.ErrorCode = kmsg.StringPtr(name), code
	return rt
}
