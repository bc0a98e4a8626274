package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest/ingesttest"
)

// Codes used by the table, by name.
var (
	none                = int16(0)
	unknownTopic        = kerr.UnknownTopicOrPartition.Code
	notLeader           = kerr.NotLeaderForPartition.Code
	invalidRequest      = kerr.InvalidRequest.Code
	coordinatorNA       = kerr.CoordinatorNotAvailable.Code
	unsupportedVersion  = kerr.UnsupportedVersion.Code
	transactionalDenied = kerr.TransactionalIDAuthorizationFailed.Code
	clusterDenied       = kerr.ClusterAuthorizationFailed.Code
	topicAuthFailed     = kerr.TopicAuthorizationFailed.Code
)

// noReplicaFetch checks that a refused replica fetch never reached the
// partition (where it would move the follower's progress).
func noReplicaFetch(t *testing.T, f *fake, r kmsg.Response) {
	t.Helper()
	if f.replicated != 0 {
		t.Errorf("a refused replica fetch reached the partition %d times", f.replicated)
	}
	for _, p := range r.(*kmsg.FetchResponse).Topics[0].Partitions {
		if p.HighWatermark != -1 || p.RecordBatches == nil || len(p.RecordBatches) != 0 {
			t.Errorf("refused partition %d: high watermark %d, records %v; want -1 and empty", p.Partition, p.HighWatermark, p.RecordBatches)
		}
	}
}

// handlerCase is one request against the fake backend and the error codes
// the whole response must carry (errorCodes order), or that the server
// closes the connection.
type handlerCase struct {
	name      string
	principal string      // the connection's (default Anonymous)
	groups    bool        // give the server the group-facing parts
	setup     func(*fake) // change the fake before the request
	req       func() kmsg.Request
	want      []int16
	closes    bool                                   // the server must close the connection (after answering want, if set)
	check     func(*testing.T, *fake, kmsg.Response) // further assertions
}

func produce(acks int16, transactional bool, parts ...int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrProduceRequest()
		r.Version, r.Acks, r.TimeoutMillis = 9, acks, 1000
		if transactional {
			id := "tx"
			r.TransactionID = &id
		}
		t := kmsg.NewProduceRequestTopic()
		t.Topic = "t"
		for _, p := range parts {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, []byte{}
			t.Partitions = append(t.Partitions, rp)
		}
		r.Topics = append(r.Topics, t)
		return r
	}
}

func fetch(version int16, edit func(*kmsg.FetchRequest), parts ...int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrFetchRequest()
		r.Version, r.ReplicaID, r.MaxBytes = version, -1, 1<<20
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = "t", [16]byte{7}
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, 1<<20, -1
			t.Partitions = append(t.Partitions, rp)
		}
		r.Topics = append(r.Topics, t)
		if edit != nil {
			edit(r)
		}
		return r
	}
}

func fail(method string, err error) func(*fake) {
	return func(f *fake) { f.errs[method] = err }
}

var handlerCases = []handlerCase{
	// 0 Produce
	{name: "produce/unknown topic", setup: func(f *fake) { f.topics = nil }, req: produce(-1, false, 0), want: []int16{unknownTopic},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			if p := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.BaseOffset != -1 {
				t.Errorf("failed partition has base offset %d, want -1", p.BaseOffset)
			}
		}},
	{name: "produce/not leader and unknown partition", req: produce(-1, false, 1, 7, 0), want: []int16{notLeader, unknownTopic, none}},
	{name: "produce/transactional is appended", groups: true, req: produce(-1, true, 0), want: []int16{none},
		check: func(t *testing.T, f *fake, _ kmsg.Response) {
			if f.appended != 1 {
				t.Errorf("transactional produce reached the partition %d times, want 1", f.appended)
			}
		}},
	{name: "produce/append error", setup: fail("Append", fmt.Errorf("%w: bad crc", kerr.CorruptMessage)), req: produce(1, false, 0), want: []int16{kerr.CorruptMessage.Code}},
	{name: "produce/error without a kafka code", setup: fail("Append", errors.New("disk on fire")), req: produce(1, false, 0), want: []int16{kerr.UnknownServerError.Code}},
	{name: "produce/acks=0 success sends nothing", req: produce(0, false, 0), want: nil},
	{name: "produce/acks=0 failure closes", req: produce(0, false, 1), closes: true},

	// 21 DeleteRecords (the fake's high watermark is 10)
	{name: "delete records/v0 a partition named twice, not leader, unknown partition", req: deleteRecords(0, []int32{0, 1, 7, 0}, []int64{4, 4, 4, 11}),
		want: []int16{kerr.InvalidRequest.Code, notLeader, unknownTopic, kerr.InvalidRequest.Code}, check: lowWatermarks(-1, -1, -1, -1)},
	{name: "delete records/v2 -1 is the high watermark", req: deleteRecords(2, []int32{0}, []int64{-1}), want: []int16{none}, check: lowWatermarks(10)},
	{name: "delete records/v2 above the high watermark", req: deleteRecords(2, []int32{0}, []int64{11}), want: []int16{kerr.OffsetOutOfRange.Code}, check: lowWatermarks(-1)},
	{name: "delete records/v1 unknown topic", setup: func(f *fake) { f.topics = nil }, req: deleteRecords(1, []int32{0}, []int64{3}), want: []int16{unknownTopic}},
	{name: "delete records/storage error", setup: fail("DeleteRecords", kerr.KafkaStorageError), req: deleteRecords(2, []int32{0}, []int64{3}), want: []int16{kerr.KafkaStorageError.Code}},

	// 35 DescribeLogDirs
	{name: "describe log dirs/v0 every replica", req: describeLogDirs(0, nil), want: []int16{none, none}, check: logDirReplicas(0, "t/0:10:0", "t/1:20:3", "u/0:7:0")},
	{name: "describe log dirs/v5 named partitions", req: describeLogDirs(5, []int32{1, 9}), want: []int16{none, none}, check: logDirReplicas(5, "t/1:20:3")},
	{name: "describe log dirs/v4 offline dir", setup: fail("LogDirs", kerr.KafkaStorageError), req: describeLogDirs(4, nil), want: []int16{none, kerr.KafkaStorageError.Code}},

	// 57 UpdateFeatures
	{name: "update features/v1 level 0 is a no-op, others refused, a name twice", req: updateFeatures(1, "transaction.version=0", "group.version=1", "transaction.version=0"),
		want: []int16{none, none, kerr.InvalidUpdateVersion.Code, invalidRequest}},
	{name: "update features/v0 empty name", req: updateFeatures(0, "=0"), want: []int16{none, invalidRequest}},
	{name: "update features/v2 one top-level error", req: updateFeatures(2, "metadata.version=0", "kraft.version=1"), want: []int16{kerr.InvalidUpdateVersion.Code}},
	{name: "update features/v2 all at level 0", req: updateFeatures(2, "group.version=0"), want: []int16{none}},

	// 74 ListConfigResources
	{name: "list config resources/v1 every type", req: listConfigResources(1), want: []int16{none},
		check: configResources("2:t", "4:1", "4:2", "8:1", "8:2")},
	{name: "list config resources/v1 brokers only", req: listConfigResources(1, int8(kmsg.ConfigResourceTypeBroker)), want: []int16{none}, check: configResources("4:1", "4:2")},
	{name: "list config resources/v1 unknown type", req: listConfigResources(1, 99), want: []int16{invalidRequest}, check: configResources()},
	{name: "list config resources/v0 client metrics: none", req: listConfigResources(0), want: []int16{none}, check: configResources()},

	// 75 DescribeTopicPartitions (pages: describe_topic_partitions_test.go)
	{name: "describe topic partitions/unknown topic", req: simple(describeTopicPartitions([]string{"t", "nope"}, 10, "", 0)), want: []int16{unknownTopic, none, none, kerr.LeaderNotAvailable.Code}},

	// 1 Fetch
	{name: "fetch/unknown topic id", req: fetch(13, func(r *kmsg.FetchRequest) { r.Topics[0].TopicID = [16]byte{1} }, 0), want: []int16{none, kerr.UnknownTopicID.Code}},
	{name: "fetch/not leader, unknown partition", req: fetch(12, nil, 1, 9), want: []int16{none, notLeader, unknownTopic}},
	{name: "fetch/read error", setup: fail("Fetch", kerr.OffsetOutOfRange), req: fetch(4, nil, 0), want: []int16{none, kerr.OffsetOutOfRange.Code},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			if p := r.(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.RecordBatches == nil || p.HighWatermark != 10 {
				t.Errorf("partition answered records %v (want empty, not null), high watermark %d", p.RecordBatches, p.HighWatermark)
			}
		}},
	{name: "fetch/replica read error", setup: fail("ReplicaFetch", kerr.FencedLeaderEpoch), principal: brokerPrincipal(2),
		req: fetch(12, func(r *kmsg.FetchRequest) { r.ReplicaID = 2 }, 0), want: []int16{none, kerr.FencedLeaderEpoch.Code}},
	{name: "fetch/replica v15 read error", setup: fail("ReplicaFetch", kerr.FencedLeaderEpoch), principal: brokerPrincipal(2),
		req: fetch(15, func(r *kmsg.FetchRequest) { r.ReplicaID, r.ReplicaState.ID = -1, 2 }, 0), want: []int16{none, kerr.FencedLeaderEpoch.Code}},
	// Kafka: a replica fetch without ClusterAction gets TOPIC_AUTHORIZATION_FAILED per partition.
	{name: "fetch/replica id claimed, not proven", req: fetch(12, func(r *kmsg.FetchRequest) { r.ReplicaID = 2 }, 0, 1),
		want: []int16{none, topicAuthFailed, topicAuthFailed}, check: noReplicaFetch},
	{name: "fetch/replica id of another broker", principal: brokerPrincipal(3), req: fetch(12, func(r *kmsg.FetchRequest) { r.ReplicaID = 2 }, 0),
		want: []int16{none, topicAuthFailed}, check: noReplicaFetch},
	{name: "fetch/v15 replica state claimed, not proven", principal: "User:alice", req: fetch(15, func(r *kmsg.FetchRequest) { r.ReplicaID, r.ReplicaState.ID = -1, 2 }, 0),
		want: []int16{none, topicAuthFailed}, check: noReplicaFetch},

	// 2 ListOffsets
	{name: "list offsets/duplicate, unknown, not leader, error", setup: fail("ListOffset", kerr.FencedLeaderEpoch), req: func() kmsg.Request {
		r := kmsg.NewPtrListOffsetsRequest()
		r.Version = 4
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = "t"
		for _, p := range []int32{0, 0, 5, 1} {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, -1
			t.Partitions = append(t.Partitions, rp)
		}
		r.Topics = append(r.Topics, t)
		return r
	}, want: []int16{invalidRequest, invalidRequest, unknownTopic, notLeader}},
	{name: "list offsets/partition error", setup: fail("ListOffset", kerr.OffsetNotAvailable), req: func() kmsg.Request {
		r := kmsg.NewPtrListOffsetsRequest()
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		t.Partitions = append(t.Partitions, rp)
		r.Topics = append(r.Topics, t)
		return r
	}, want: []int16{kerr.OffsetNotAvailable.Code}},

	// 3 Metadata
	{name: "metadata/unknown topic without auto-create", req: func() kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		r.Version = 9
		name := "nope"
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &name
		r.Topics = append(r.Topics, rt)
		return r
	}, want: []int16{unknownTopic, none}}, // the last: top-level, v13+
	{name: "metadata/auto-create refused", setup: fail("EnsureTopic", kerr.InvalidTopicException), req: func() kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		r.Version, r.AllowAutoTopicCreation = 9, true
		name := "bad name!"
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &name
		r.Topics = append(r.Topics, rt)
		return r
	}, want: []int16{kerr.InvalidTopicException.Code, none}},
	{name: "metadata/unknown topic id", req: func() kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		r.Version = 12
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = [16]byte{3}
		r.Topics = append(r.Topics, rt)
		return r
	}, want: []int16{kerr.UnknownTopicID.Code, none}},
	{name: "metadata/leader not live", req: func() kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		r.Version = 9
		return r
	}, want: []int16{none, none, kerr.LeaderNotAvailable.Code, none},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			p := r.(*kmsg.MetadataResponse).Topics[0].Partitions[1]
			if p.Leader != -1 || !slices.Equal(p.OfflineReplicas, []int32{9}) {
				t.Errorf("partition led by a dead broker: leader %d, offline %v", p.Leader, p.OfflineReplicas)
			}
		}},

	// 8 OffsetCommit
	{name: "offset commit/unknown partition, no coordinator", req: offsetCommit(0, 5), want: []int16{coordinatorNA, unknownTopic}},
	{name: "offset commit/commit error", groups: true, setup: fail("CommitOffsets", kerr.IllegalGeneration), req: offsetCommit(0, 5),
		want: []int16{kerr.IllegalGeneration.Code, unknownTopic}},
	{name: "offset commit v8/no such group is an old generation", groups: true, setup: fail("CommitOffsets", kerr.GroupIDNotFound), req: offsetCommit(0),
		want: []int16{kerr.IllegalGeneration.Code}},
	{name: "offset commit v9/no such group", groups: true, setup: fail("CommitOffsets", kerr.GroupIDNotFound), req: func() kmsg.Request {
		r := offsetCommit(0)().(*kmsg.OffsetCommitRequest)
		r.Version = 9
		return r
	}, want: []int16{kerr.GroupIDNotFound.Code}},

	// 9 OffsetFetch
	{name: "offset fetch v1/no coordinator per partition", req: offsetFetch(1), want: []int16{coordinatorNA, coordinatorNA, none}}, // no group-level error before v2
	{name: "offset fetch v5/no coordinator for the group", req: offsetFetch(5), want: []int16{coordinatorNA, coordinatorNA, coordinatorNA}},
	{name: "offset fetch v8/error per group", groups: true, setup: fail("FetchOffsets", kerr.CoordinatorLoadInProgress), req: offsetFetch(8),
		want: []int16{none, kerr.CoordinatorLoadInProgress.Code}}, // the first: top-level, absent from v8

	// 10 FindCoordinator
	{name: "find coordinator/transactions", req: findCoordinator(3, 1, "g"), want: []int16{kerr.TransactionalIDAuthorizationFailed.Code}},
	{name: "find coordinator v4/transactions", req: findCoordinator(4, 1, "tx"), want: []int16{none, kerr.TransactionalIDAuthorizationFailed.Code}},
	{name: "find coordinator/empty group id", req: findCoordinator(3, 0, ""), want: []int16{kerr.InvalidGroupID.Code}},
	{name: "find coordinator/coordinator not live", groups: true, setup: func(f *fake) { f.coordinator = 5 }, req: findCoordinator(4, 0, "g", "h"),
		want: []int16{none, coordinatorNA, coordinatorNA}},
	{name: "find coordinator/another broker", groups: true, setup: func(f *fake) { f.coordinator = 2 }, req: findCoordinator(2, 0, "g"), want: []int16{none},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			if fc := r.(*kmsg.FindCoordinatorResponse); fc.NodeID != 2 || fc.Host != "b2" {
				t.Errorf("coordinator %d at %s, want 2 at b2", fc.NodeID, fc.Host)
			}
		}},

	// 11-16, 42 the group APIs without, and with failing, coordinator
	{name: "join/no coordinator", req: simple(kmsg.NewPtrJoinGroupRequest()), want: []int16{coordinatorNA}},
	{name: "join/refused", groups: true, setup: fail("Join", kerr.MemberIDRequired), req: simple(kmsg.NewPtrJoinGroupRequest()), want: []int16{kerr.MemberIDRequired.Code}},
	{name: "heartbeat/no coordinator", req: simple(kmsg.NewPtrHeartbeatRequest()), want: []int16{coordinatorNA}},
	{name: "heartbeat/rebalancing", groups: true, setup: fail("Heartbeat", kerr.RebalanceInProgress), req: simple(kmsg.NewPtrHeartbeatRequest()), want: []int16{kerr.RebalanceInProgress.Code}},
	{name: "leave v0/no coordinator", req: simple(kmsg.NewPtrLeaveGroupRequest()), want: []int16{coordinatorNA}},
	{name: "leave v3/unknown members", groups: true, setup: fail("LeaveMember", kerr.UnknownMemberID), req: func() kmsg.Request {
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Version, r.Group = 3, "g"
		for _, id := range []string{"a", "b"} {
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = id
			r.Members = append(r.Members, m)
		}
		return r
	}, want: []int16{none, kerr.UnknownMemberID.Code, kerr.UnknownMemberID.Code}},
	{name: "sync/no coordinator", req: simple(kmsg.NewPtrSyncGroupRequest()), want: []int16{coordinatorNA}},
	{name: "sync/illegal generation", groups: true, setup: fail("Sync", kerr.IllegalGeneration), req: simple(kmsg.NewPtrSyncGroupRequest()), want: []int16{kerr.IllegalGeneration.Code}},
	{name: "describe groups/no coordinator", req: func() kmsg.Request {
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Groups = []string{"g", "h"}
		return r
	}, want: []int16{coordinatorNA, coordinatorNA}},
	{name: "describe groups/not coordinator", groups: true, setup: fail("DescribeGroup", kerr.NotCoordinator), req: func() kmsg.Request {
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Groups = []string{"g"}
		return r
	}, want: []int16{kerr.NotCoordinator.Code}},
	{name: "list groups/no coordinator", req: simple(kmsg.NewPtrListGroupsRequest()), want: []int16{coordinatorNA}},
	{name: "list groups/loading", groups: true, setup: fail("ListGroups", kerr.CoordinatorLoadInProgress), req: simple(kmsg.NewPtrListGroupsRequest()),
		want: []int16{kerr.CoordinatorLoadInProgress.Code}},
	// 68 ConsumerGroupHeartbeat, 69 ConsumerGroupDescribe (KIP-848); the
	// protocol's own errors are in group/ and server/consumer_group_test.go.
	{name: "consumer group heartbeat/no coordinator", req: simple(kmsg.NewPtrConsumerGroupHeartbeatRequest()), want: []int16{coordinatorNA}},
	{name: "consumer group heartbeat/fenced", groups: true, setup: fail("ConsumerHeartbeat", kerr.FencedMemberEpoch),
		req: simple(kmsg.NewPtrConsumerGroupHeartbeatRequest()), want: []int16{kerr.FencedMemberEpoch.Code}},
	{name: "consumer group describe/no coordinator", req: func() kmsg.Request {
		r := kmsg.NewPtrConsumerGroupDescribeRequest()
		r.Groups = []string{"g", "h"}
		return r
	}, want: []int16{coordinatorNA, coordinatorNA}},
	{name: "consumer group describe/not a consumer group", groups: true, setup: fail("DescribeConsumerGroup", kerr.GroupIDNotFound), req: func() kmsg.Request {
		r := kmsg.NewPtrConsumerGroupDescribeRequest()
		r.Groups = []string{"g"}
		return r
	}, want: []int16{kerr.GroupIDNotFound.Code}},
	{name: "delete groups/no coordinator, non-empty", req: deleteGroups(), want: []int16{coordinatorNA}},
	{name: "delete groups/non-empty", groups: true, setup: fail("DeleteGroup", kerr.NonEmptyGroup), req: deleteGroups(), want: []int16{kerr.NonEmptyGroup.Code}},

	// 17 SaslHandshake, 36 SaslAuthenticate: the exchanges themselves are in sasl_test.go.
	{name: "sasl handshake/unknown mechanism closes after answering", req: func() kmsg.Request {
		r := kmsg.NewPtrSASLHandshakeRequest()
		r.Version, r.Mechanism = 1, "GSSAPI"
		return r
	}, want: []int16{kerr.UnsupportedSaslMechanism.Code}, closes: true},
	{name: "sasl handshake/once authenticated", principal: "User:alice", req: func() kmsg.Request {
		r := kmsg.NewPtrSASLHandshakeRequest()
		r.Version, r.Mechanism = 1, "PLAIN"
		return r
	}, want: []int16{kerr.IllegalSaslState.Code}, closes: true},
	{name: "sasl authenticate/without handshake", req: func() kmsg.Request {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.Version, r.SASLAuthBytes = 2, []byte("\x00alice\x00pw")
		return r
	}, want: []int16{kerr.IllegalSaslState.Code}, closes: true},

	// 18 ApiVersions
	{name: "api versions/too new answers v0 with our ranges", req: func() kmsg.Request {
		r := kmsg.NewPtrApiVersionsRequest()
		r.Version = 4
		return r
	}, want: []int16{unsupportedVersion},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			if n := len(r.(*kmsg.ApiVersionsResponse).ApiKeys); n != len(apis) {
				t.Errorf("%d api keys, want %d", n, len(apis))
			}
		}},

	// 19 CreateTopics
	{name: "create topics/duplicate, null config, refused", setup: fail("CreateTopic", kerr.TopicAlreadyExists), req: func() kmsg.Request {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.Version = 5
		for _, name := range []string{"a", "a", "b", "c"} {
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic, t.NumPartitions, t.ReplicationFactor = name, 1, 1
			if name == "b" {
				c := kmsg.NewCreateTopicsRequestTopicConfig()
				c.Name = "retention.ms"
				t.Configs = append(t.Configs, c)
			}
			r.Topics = append(r.Topics, t)
		}
		return r
	}, want: []int16{invalidRequest, invalidRequest, kerr.InvalidConfig.Code, kerr.TopicAlreadyExists.Code}},

	// 20 DeleteTopics
	{name: "delete topics v6/unknown id, refused name", setup: fail("DeleteTopic", kerr.UnknownTopicOrPartition), req: func() kmsg.Request {
		r := kmsg.NewPtrDeleteTopicsRequest()
		r.Version = 6
		byID := kmsg.NewDeleteTopicsRequestTopic()
		byID.TopicID = [16]byte{4}
		name := "gone"
		byName := kmsg.NewDeleteTopicsRequestTopic()
		byName.Topic = &name
		r.Topics = append(r.Topics, byID, byName)
		return r
	}, want: []int16{kerr.UnknownTopicID.Code, unknownTopic}},

	// 22 InitProducerId
	{name: "init producer id/transactional", req: func() kmsg.Request {
		r := kmsg.NewPtrInitProducerIDRequest()
		id := "tx"
		r.TransactionalID = &id
		return r
	}, want: []int16{transactionalDenied}},
	{name: "init producer id/allocation fails", setup: fail("NewProducerID", errors.New("etcd gone")), req: simple(kmsg.NewPtrInitProducerIDRequest()),
		want: []int16{coordinatorNA},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			if p := r.(*kmsg.InitProducerIDResponse); p.ProducerID != -1 || p.ProducerEpoch != -1 {
				t.Errorf("failed allocation answered id %d epoch %d", p.ProducerID, p.ProducerEpoch)
			}
		}},

	// 23 OffsetForLeaderEpoch
	{name: "offset for leader epoch/unknown, not leader, fenced", setup: fail("EndOffsetForEpoch", kerr.FencedLeaderEpoch), req: func() kmsg.Request {
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		r.Version = 3
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic = "t"
		for _, p := range []int32{4, 1, 0} {
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition = p
			t.Partitions = append(t.Partitions, rp)
		}
		r.Topics = append(r.Topics, t)
		return r
	}, want: []int16{unknownTopic, notLeader, kerr.FencedLeaderEpoch.Code}},

	// 27 WriteTxnMarkers
	{name: "write txn markers/not a broker", principal: "User:alice", req: writeTxnMarkers(1, 0, 1), want: []int16{clusterDenied, clusterDenied},
		check: func(t *testing.T, f *fake, _ kmsg.Response) {
			if len(f.markers) != 0 {
				t.Errorf("a refused WriteTxnMarkers wrote %d markers", len(f.markers))
			}
		}},
	{name: "write txn markers/anonymous", req: writeTxnMarkers(0, 0), want: []int16{clusterDenied}},
	{name: "write txn markers/per partition", principal: brokerPrincipal(2), req: writeTxnMarkers(1, 0, 1, 7), want: []int16{none, notLeader, unknownTopic},
		check: func(t *testing.T, f *fake, _ kmsg.Response) {
			if want := []fakeMarker{{producerID: 42, epoch: 3, coordinatorEpoch: 5, commit: true}}; !slices.Equal(f.markers, want) {
				t.Errorf("markers written %+v, want %+v", f.markers, want)
			}
		}},
	{name: "write txn markers/fenced epoch", principal: brokerPrincipal(2), setup: fail("WriteTxnMarker", kerr.InvalidProducerEpoch),
		req: writeTxnMarkers(1, 0), want: []int16{kerr.InvalidProducerEpoch.Code}},

	// 32 DescribeConfigs
	{name: "describe configs/unknown topic, other broker, bad type", req: func() kmsg.Request {
		r := kmsg.NewPtrDescribeConfigsRequest()
		r.Version = 4 // with config sources
		for _, rr := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeTopic, "nope"}, {kmsg.ConfigResourceTypeBroker, "2"}, {kmsg.ConfigResourceTypeBrokerLogger, "2"}, {configResourceTypeGroup, "g"},
			{kmsg.ConfigResourceTypeBrokerLogger, "1"}, {kmsg.ConfigResourceTypeBroker, "1"}, {kmsg.ConfigResourceTypeBroker, ""}} {
			res := kmsg.NewDescribeConfigsRequestResource()
			res.ResourceType, res.ResourceName = rr.typ, rr.name
			r.Resources = append(r.Resources, res)
		}
		return r
	}, want: []int16{unknownTopic, invalidRequest, invalidRequest, invalidRequest, none, none, none},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			last := r.(*kmsg.DescribeConfigsResponse).Resources[6]
			if len(last.Configs) != 1 || last.Configs[0].Name != "log.retention.ms" || last.Configs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
				t.Errorf("broker resource \"\": %+v, want the cluster-wide defaults", last.Configs)
			}
		}},

	// 33 AlterConfigs, 44 IncrementalAlterConfigs
	{name: "alter configs/refused broker config, logger, bad type, refused topic", setup: func(f *fake) {
		f.errs = map[string]error{"AlterTopicConfigs": kerr.InvalidConfig, "AlterBrokerConfigs": kerr.InvalidRequest}
	}, req: func() kmsg.Request {
		r := kmsg.NewPtrAlterConfigsRequest()
		for _, typ := range []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger, configResourceTypeGroup, kmsg.ConfigResourceTypeTopic} {
			res := kmsg.NewAlterConfigsRequestResource()
			res.ResourceType, res.ResourceName = typ, "t"
			r.Resources = append(r.Resources, res)
		}
		return r
	}, want: []int16{invalidRequest, invalidRequest, invalidRequest, kerr.InvalidConfig.Code}},
	{name: "incremental alter configs/broker, logger here and elsewhere, refused topic", setup: func(f *fake) {
		f.errs = map[string]error{"AlterTopicConfigs": kerr.InvalidConfig, "AlterBrokerLoggers": kerr.InvalidConfig}
	}, req: func() kmsg.Request {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		for _, rr := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeBroker, ""}, {kmsg.ConfigResourceTypeBrokerLogger, "1"}, {kmsg.ConfigResourceTypeBrokerLogger, "2"}, {kmsg.ConfigResourceTypeTopic, "t"}} {
			res := kmsg.NewIncrementalAlterConfigsRequestResource()
			res.ResourceType, res.ResourceName = rr.typ, rr.name
			r.Resources = append(r.Resources, res)
		}
		return r
	}, want: []int16{none, kerr.InvalidConfig.Code, invalidRequest, kerr.InvalidConfig.Code}},

	// 37 CreatePartitions
	{name: "create partitions/refused", setup: fail("CreatePartitions", kerr.InvalidPartitions), req: func() kmsg.Request {
		r := kmsg.NewPtrCreatePartitionsRequest()
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic, t.Count = "t", 1
		r.Topics = append(r.Topics, t)
		return r
	}, want: []int16{kerr.InvalidPartitions.Code}},

	// 43 ElectLeaders
	{name: "elect leaders/every partition, not needed", setup: fail("ElectLeader", kerr.ElectionNotNeeded), req: func() kmsg.Request {
		r := kmsg.NewPtrElectLeadersRequest()
		r.Version = 1
		return r
	}, want: []int16{none, kerr.ElectionNotNeeded.Code, kerr.ElectionNotNeeded.Code}},

	// 45, 46 reassignments
	{name: "alter reassignments/refused", setup: fail("Reassign", kerr.InvalidReplicaAssignment), req: func() kmsg.Request {
		r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		t.Topic = "t"
		t.Partitions = append(t.Partitions, kmsg.NewAlterPartitionAssignmentsRequestTopicPartition())
		r.Topics = append(r.Topics, t)
		return r
	}, want: []int16{none, kerr.InvalidReplicaAssignment.Code}},
	{name: "list reassignments/etcd error", setup: fail("Reassignments", errors.New("etcd gone")), req: simple(kmsg.NewPtrListPartitionReassignmentsRequest()),
		want: []int16{kerr.UnknownServerError.Code}},

	// 47 OffsetDelete
	{name: "offset delete/no coordinator", req: offsetDelete(), want: []int16{coordinatorNA}},
	{name: "offset delete/unknown partition", groups: true, req: offsetDelete(), want: []int16{none, none, unknownTopic, none}},

	// 29-31 ACLs, without an authorizer (acl_test.go has them with one)
	{name: "describe acls/no authorizer", req: simple(kmsg.NewPtrDescribeACLsRequest()), want: []int16{kerr.SecurityDisabled.Code}},
	{name: "create acls/no authorizer", req: func() kmsg.Request {
		r := kmsg.NewPtrCreateACLsRequest()
		r.Creations = append(r.Creations, kmsg.NewCreateACLsRequestCreation())
		return r
	}, want: []int16{kerr.SecurityDisabled.Code}},
	{name: "delete acls/no authorizer", req: func() kmsg.Request {
		r := kmsg.NewPtrDeleteACLsRequest()
		r.Filters = append(r.Filters, kmsg.NewDeleteACLsRequestFilter())
		return r
	}, want: []int16{kerr.SecurityDisabled.Code}},

	// 50, 51 SCRAM credentials, without a store (scram_test.go has them with one)
	{name: "describe scram/no store", req: simple(kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()), want: []int16{kerr.UnsupportedSaslMechanism.Code}},
	{name: "alter scram/no store", req: func() kmsg.Request {
		r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = "alice", 2
		r.Deletions = append(r.Deletions, d)
		return r
	}, want: []int16{kerr.UnsupportedSaslMechanism.Code}},

	// 60 DescribeCluster
	{name: "describe cluster/controller endpoints", req: func() kmsg.Request {
		r := kmsg.NewPtrDescribeClusterRequest()
		r.Version, r.EndpointType = 1, 2
		return r
	}, want: []int16{kerr.UnsupportedEndpointType.Code}},

	// 61 DescribeProducers
	{name: "describe producers/led, not leader, unknown", req: describeProducers(0, 1, 9), want: []int16{none, notLeader, unknownTopic}},
	{name: "describe producers/log error", setup: fail("Producers", kerr.NotLeaderForPartition), req: describeProducers(0), want: []int16{notLeader}},
}

func describeProducers(parts ...int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrDescribeProducersRequest()
		t := kmsg.NewDescribeProducersRequestTopic()
		t.Topic, t.Partitions = "t", parts
		r.Topics = append(r.Topics, t)
		return r
	}
}

var quiet = slog.New(slog.DiscardHandler)

// writeTxnMarkers is one commit marker of producer 42 (epoch 3,
// coordinator epoch 5) for partitions of topic t.
func writeTxnMarkers(version int16, parts ...int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrWriteTxnMarkersRequest()
		r.Version = version
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed = 42, 3, 5, true
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = "t", parts
		m.Topics = append(m.Topics, mt)
		r.Markers = append(r.Markers, m)
		return r
	}
}

func simple[R kmsg.Request](r R) func() kmsg.Request { return func() kmsg.Request { return r } }

func offsetCommit(parts ...int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version, r.Group = 8, "g"
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = "t"
		for _, p := range parts {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition = p
			t.Partitions = append(t.Partitions, rp)
		}
		r.Topics = append(r.Topics, t)
		return r
	}
}

func offsetFetch(version int16) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = version
		if version >= 8 {
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group = "g"
			r.Groups = append(r.Groups, g)
			return r
		}
		r.Group = "g"
		t := kmsg.NewOffsetFetchRequestTopic()
		t.Topic, t.Partitions = "t", []int32{0, 1}
		r.Topics = append(r.Topics, t)
		return r
	}
}

func findCoordinator(version int16, typ int8, keys ...string) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.Version, r.CoordinatorType = version, typ
		if version >= 4 {
			r.CoordinatorKeys = keys
		} else {
			r.CoordinatorKey = keys[0]
		}
		return r
	}
}

func deleteGroups() func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = []string{"g"}
		return r
	}
}

// deleteRecords asks to delete below offsets[i] in partition parts[i] of
// topic t.
func deleteRecords(version int16, parts []int32, offsets []int64) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.Version = version
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "t"
		for i, p := range parts {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = p, offsets[i]
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
		return r
	}
}

// describeLogDirs asks for the partitions parts of topic t (every
// replica when parts is nil).
func describeLogDirs(version int16, parts []int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrDescribeLogDirsRequest()
		r.Version = version
		if parts != nil {
			rt := kmsg.NewDescribeLogDirsRequestTopic()
			rt.Topic, rt.Partitions = "t", parts
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
}

// logDirReplicas lists "topic/partition:size:lag" of every dir.
func logDirReplicas(version int16, want ...string) func(*testing.T, *fake, kmsg.Response) {
	return func(t *testing.T, _ *fake, r kmsg.Response) {
		var got []string
		for _, d := range r.(*kmsg.DescribeLogDirsResponse).Dirs {
			if d.Dir != "/data/logs" {
				t.Errorf("dir %q", d.Dir)
			}
			if version >= 4 && (d.TotalBytes != 1000 || d.UsableBytes != 400) {
				t.Errorf("v%d: total %d usable %d bytes, want 1000, 400", version, d.TotalBytes, d.UsableBytes)
			}
			for _, rt := range d.Topics {
				for _, p := range rt.Partitions {
					if p.IsFuture {
						t.Errorf("%s/%d is a future replica", rt.Topic, p.Partition)
					}
					got = append(got, fmt.Sprintf("%s/%d:%d:%d", rt.Topic, p.Partition, p.Size, p.OffsetLag))
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("replicas %v, want %v", got, want)
		}
	}
}

// updateFeatures asks for "feature=level" updates.
func updateFeatures(version int16, updates ...string) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrUpdateFeaturesRequest()
		r.Version = version
		for _, u := range updates {
			name, level, _ := strings.Cut(u, "=")
			fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			n, _ := strconv.Atoi(level)
			fu.Feature, fu.MaxVersionLevel = name, int16(n)
			r.FeatureUpdates = append(r.FeatureUpdates, fu)
		}
		return r
	}
}

func listConfigResources(version int16, types ...int8) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrListConfigResourcesRequest()
		r.Version, r.ResourceTypes = version, types
		return r
	}
}

// configResources checks the listed resources as "type:name".
func configResources(want ...string) func(*testing.T, *fake, kmsg.Response) {
	return func(t *testing.T, _ *fake, r kmsg.Response) {
		var got []string
		for _, c := range r.(*kmsg.ListConfigResourcesResponse).ConfigResources {
			got = append(got, fmt.Sprintf("%d:%s", c.Type, c.Name))
		}
		if !slices.Equal(got, want) {
			t.Errorf("resources %v, want %v", got, want)
		}
	}
}

// lowWatermarks checks the DeleteRecords response's low watermarks.
func lowWatermarks(want ...int64) func(*testing.T, *fake, kmsg.Response) {
	return func(t *testing.T, _ *fake, r kmsg.Response) {
		var got []int64
		for _, p := range r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions {
			got = append(got, p.LowWatermark)
		}
		if !slices.Equal(got, want) {
			t.Errorf("low watermarks %v, want %v", got, want)
		}
	}
}

func offsetDelete() func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = "g"
		t := kmsg.NewOffsetDeleteRequestTopic()
		t.Topic = "t"
		for _, p := range []int32{0, 8, 1} {
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = p
			t.Partitions = append(t.Partitions, rp)
		}
		r.Topics = append(r.Topics, t)
		return r
	}
}

// TestHandlerErrors answers each API's error paths from the fake backend,
// in process: no etcd, no disk, no network.
func TestHandlerErrors(t *testing.T) {
	covered := map[int16]bool{}
	for _, tc := range handlerCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			if tc.setup != nil {
				tc.setup(f)
			}
			s := NewServer(Config{AdvertisedHost: "b1", AdvertisedPort: 9092, Logger: quiet}, f.backend(tc.groups))
			defer s.Close()
			req := tc.req()
			covered[req.Key()] = true
			principal := tc.principal
			if principal == "" {
				principal = Anonymous
			}
			resp, err := exchangeAs(t, s, principal, req)
			if tc.closes {
				if err == nil {
					t.Fatalf("connection stays open, answered %+v", resp)
				}
				if resp == nil {
					return // closed without an answer
				}
			} else if err != nil {
				t.Fatalf("connection closed: %v", err)
			}
			var got []int16
			if resp != nil {
				got = ingesttest.ErrorCodes(resp)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("error codes %v, want %v", names(got), names(tc.want))
			}
			if tc.check != nil {
				tc.check(t, f, resp)
			}
		})
	}
	for k := range apis {
		if !covered[k] {
			t.Errorf("api %d (%s) has no error-path case", k, kmsg.NameForKey(k))
		}
	}
}

// fillOne gives every slice of structs in v one default element (and
// every list of names one name), depth
// levels down, so an error response mirroring the request has somewhere to
// put its per-element errors.
func fillOne(v reflect.Value, depth int) {
	if depth == 0 {
		return
	}
	for i := 0; i < v.NumField(); i++ {
		fv := v.Field(i)
		if !v.Type().Field(i).IsExported() || fv.Kind() != reflect.Slice {
			continue
		}
		if fv.Type().Elem().Kind() == reflect.String { // names: group ids, coordinator keys
			fv.Set(reflect.ValueOf([]string{"g"}))
			continue
		}
		if fv.Type().Elem().Kind() == reflect.Int32 { // partitions by number
			fv.Set(reflect.ValueOf([]int32{0}))
			continue
		}
		if fv.Type().Elem().Kind() != reflect.Struct {
			continue
		}
		s := reflect.MakeSlice(fv.Type(), 1, 1)
		if d, ok := s.Index(0).Addr().Interface().(interface{ Default() }); ok {
			d.Default()
		}
		fillOne(s.Index(0), depth-1)
		fv.Set(s)
	}
}

func names(codes []int16) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = "0"
		if e := kerr.ErrorForCode(c); e != nil {
			out[i] = e.Error()
		}
	}
	return out
}

// TestUnsupportedVersions sends every API one version past what we
// implement: where kmsg can still decode it the answer carries
// UNSUPPORTED_VERSION in every error field and mirrors the request's
// shape; past kmsg (and for an unknown key) the connection closes.
func TestUnsupportedVersions(t *testing.T) {
	for _, k := range supportedKeys() {
		if k == apiVersionsKey {
			continue // answered with v0 (KIP-511), in TestHandlerErrors
		}
		a := apis[k]
		t.Run(kmsg.NameForKey(k), func(t *testing.T) {
			s := NewServer(Config{Logger: quiet}, newFake().backend(true))
			defer s.Close()
			req := kmsg.RequestForKey(k)
			if a.max >= req.MaxVersion() {
				req.SetVersion(a.max)
				t.Skipf("v%d is kmsg's newest too", a.max)
			}
			req.SetVersion(a.max + 1)
			fillOne(reflect.ValueOf(req).Elem(), 3)
			resp, err := exchange(t, s, req)
			if err != nil {
				t.Fatalf("connection closed: %v", err)
			}
			// Fields the version does not carry decode as 0; every other
			// one must say UNSUPPORTED_VERSION, and at least one does.
			codes := ingesttest.ErrorCodes(resp)
			if !slices.Contains(codes, unsupportedVersion) {
				t.Fatalf("error codes %v carry no UNSUPPORTED_VERSION", names(codes))
			}
			for _, c := range codes {
				if c != unsupportedVersion && c != none {
					t.Fatalf("error codes %v, want only UNSUPPORTED_VERSION", names(codes))
				}
			}
		})
	}
	for _, frame := range []struct {
		name string
		key  int16
		ver  int16
	}{{"unknown key", 999, 0}, {"beyond kmsg", 3, 99}} {
		t.Run(frame.name, func(t *testing.T) {
			s := NewServer(Config{Logger: quiet}, newFake().backend(true))
			defer s.Close()
			raw := []byte{byte(frame.key >> 8), byte(frame.key), byte(frame.ver >> 8), byte(frame.ver), 0, 0, 0, 1, 0xff, 0xff}
			cc := &clientConn{s: s, log: s.log}
			if _, err := cc.handleFrame(t.Context(), raw); err == nil {
				t.Fatal("connection stays open")
			}
		})
	}
}
