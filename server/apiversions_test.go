package server

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest/ingesttest"
)

// versionCase builds a request of one API at a version against the
// fixture of TestEveryAdvertisedVersionServed, the error codes Kafka would
// answer it with, and an optional check of the answer's content.
type versionCase struct {
	build   func(v int16, fx *versionFixture) kmsg.Request
	allowed []int16 // besides 0
	check   func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture)
}

// versionFixture is what the requests name: a topic with records and a
// group with a commit.
type versionFixture struct {
	topic   string
	topicID [16]byte
	group   string
	records int64
	created []string // by CreateTopics, for DeleteTopics to delete
}

func code(errs ...*kerr.Error) []int16 {
	var out []int16
	for _, e := range errs {
		out = append(out, e.Code)
	}
	return out
}

var versionCases = map[int16]versionCase{
	0: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrProduceRequest()
		r.Acks, r.TimeoutMillis = -1, 10_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = fx.topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = rawBatch([]byte("versioned"))
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.BaseOffset < fx.records {
			t.Errorf("base offset %d, want at least %d", p.BaseOffset, fx.records)
		}
	}},
	1: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrFetchRequest()
		r.ReplicaID, r.MaxBytes, r.MaxWaitMillis, r.MinBytes = -1, 1<<20, 10, 1
		r.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = fx.topic, fx.topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if len(p.RecordBatches) == 0 || p.HighWatermark < fx.records {
			t.Errorf("%d record bytes, high watermark %d; want records and at least %d", len(p.RecordBatches), p.HighWatermark, fx.records)
		}
	}},
	2: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrListOffsetsRequest()
		r.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = fx.topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch, rp.MaxNumOffsets = -1, -1, 1 // latest
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		p := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		got := p.Offset
		if v == 0 {
			if len(p.OldStyleOffsets) == 0 {
				t.Fatalf("v0 answered no old-style offsets")
			}
			got = p.OldStyleOffsets[0]
		}
		if got < fx.records {
			t.Errorf("latest offset %d, want at least %d", got, fx.records)
		}
	}},
	3: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(fx.topic)
		r.Topics = append(r.Topics, rt)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		md := resp.(*kmsg.MetadataResponse)
		if len(md.Brokers) != 1 || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 1 || md.Topics[0].Partitions[0].Leader != 1 {
			t.Errorf("metadata %+v", md)
		}
		if v >= 1 && md.ControllerID != 1 {
			t.Errorf("controller %d, want 1", md.ControllerID)
		}
	}},
	8: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.Generation, r.RetentionTimeMillis = fx.group, -1, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = fx.topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset, rp.LeaderEpoch, rp.Timestamp = 1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}},
	9: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Group = fx.group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = fx.topic, []int32{0}
		r.Topics = append(r.Topics, rt)
		rg := kmsg.NewOffsetFetchRequestGroup() // v8+
		rg.Group = fx.group
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = fx.topic, []int32{0}
		rg.Topics = append(rg.Topics, gt)
		r.Groups = append(r.Groups, rg)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		r := resp.(*kmsg.OffsetFetchResponse)
		var off int64 = -2
		if v >= 8 {
			off = r.Groups[0].Topics[0].Partitions[0].Offset
		} else {
			off = r.Topics[0].Partitions[0].Offset
		}
		if off != 1 {
			t.Errorf("committed offset %d, want 1", off)
		}
	}},
	10: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.CoordinatorKey, r.CoordinatorKeys = fx.group, []string{fx.group}
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		r := resp.(*kmsg.FindCoordinatorResponse)
		id := r.NodeID
		if v >= 4 {
			id = r.Coordinators[0].NodeID
		}
		if id != 1 {
			t.Errorf("coordinator %d, want 1", id)
		}
	}},
	11: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.ProtocolType = fx.group+"-join", 10_000, 10_000, "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0}
		r.Protocols = append(r.Protocols, p)
		return r
	}, allowed: code(kerr.MemberIDRequired)}, // v4+: KIP-394
	12: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrHeartbeatRequest()
		r.Group, r.Generation, r.MemberID = fx.group, 1, "nobody"
		return r
	}, allowed: code(kerr.UnknownMemberID)},
	13: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Group, r.MemberID = fx.group, "nobody"
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = "nobody"
		r.Members = append(r.Members, m)
		return r
	}, allowed: code(kerr.UnknownMemberID)},
	14: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.Generation, r.MemberID = fx.group, 1, "nobody"
		return r
	}, allowed: code(kerr.UnknownMemberID)},
	15: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Groups = []string{fx.group}
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		if g := resp.(*kmsg.DescribeGroupsResponse).Groups; len(g) != 1 || g[0].State != "Empty" {
			t.Errorf("groups %+v, want %s Empty", g, fx.group)
		}
	}},
	16: {build: func(v int16, fx *versionFixture) kmsg.Request { return kmsg.NewPtrListGroupsRequest() },
		check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
			found := false
			for _, g := range resp.(*kmsg.ListGroupsResponse).Groups {
				found = found || g.Group == fx.group
			}
			if !found {
				t.Errorf("ListGroups does not list %s", fx.group)
			}
		}},
	17: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrSASLHandshakeRequest()
		r.Mechanism = "PLAIN"
		return r
	}, allowed: code(kerr.UnsupportedSaslMechanism)}, // no SASL listener here
	18: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrApiVersionsRequest()
		r.ClientSoftwareName, r.ClientSoftwareVersion = "strata-test", "1.0"
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		if len(resp.(*kmsg.ApiVersionsResponse).ApiKeys) < 30 {
			t.Errorf("ApiVersions lists %d keys", len(resp.(*kmsg.ApiVersionsResponse).ApiKeys))
		}
	}},
	19: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.TimeoutMillis = 10_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprintf("created-v%d", v), 2, 1
		r.Topics = append(r.Topics, rt)
		fx.created = append(fx.created, rt.Topic)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		rt := resp.(*kmsg.CreateTopicsResponse).Topics[0]
		if v >= 5 && rt.NumPartitions != 2 {
			t.Errorf("v5+ answer: %d partitions, want 2", rt.NumPartitions)
		}
	}},
	20: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDeleteTopicsRequest()
		r.TimeoutMillis = 10_000
		name := fx.created[0]
		fx.created = fx.created[1:]
		r.TopicNames = []string{name}
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr(name)
		r.Topics = append(r.Topics, dt)
		return r
	}},
	21: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.TimeoutMillis = 10_000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = fx.topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Offset = 0 // the log start already: nothing is deleted
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		if p := resp.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]; p.LowWatermark != 0 {
			t.Errorf("low watermark %d after deleting below 0", p.LowWatermark)
		}
	}},
	22: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrInitProducerIDRequest()
		r.TransactionTimeoutMillis, r.ProducerID, r.ProducerEpoch = 60_000, -1, -1
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		if r := resp.(*kmsg.InitProducerIDResponse); r.ProducerID < 0 {
			t.Errorf("producer id %d", r.ProducerID)
		}
	}},
	23: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		r.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = fx.topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 0
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		if p := resp.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]; p.EndOffset < fx.records {
			t.Errorf("end offset %d, want at least %d", p.EndOffset, fx.records)
		}
	}},
	// The transaction APIs name a transactional id that never ran
	// InitProducerID: Kafka's answers for that.
	24: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrAddPartitionsToTxnRequest()
		r.TransactionalID, r.ProducerID, r.ProducerEpoch = "vtxn", 1, 0
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = fx.topic, []int32{0}
		r.Topics = append(r.Topics, rt)
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction() // v4+
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch = "vtxn", 1, 0
		tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		tt.Topic, tt.Partitions = fx.topic, []int32{0}
		tx.Topics = append(tx.Topics, tt)
		r.Transactions = append(r.Transactions, tx)
		return r
	}, allowed: code(kerr.InvalidProducerIDMapping, kerr.ClusterAuthorizationFailed)}, // v4+ is broker-to-broker
	25: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrAddOffsetsToTxnRequest()
		r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = "vtxn", 1, 0, fx.group
		return r
	}, allowed: code(kerr.InvalidProducerIDMapping)},
	26: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrEndTxnRequest()
		r.TransactionalID, r.ProducerID, r.ProducerEpoch = "vtxn", 1, 0
		return r
	}, allowed: code(kerr.InvalidProducerIDMapping)},
	27: {build: func(v int16, fx *versionFixture) kmsg.Request { return kmsg.NewPtrWriteTxnMarkersRequest() },
		allowed: code(kerr.ClusterAuthorizationFailed)},
	28: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrTxnOffsetCommitRequest()
		r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch, r.Generation = "vtxn", fx.group, 1, 0, -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = fx.topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset, rp.LeaderEpoch = 1, -1
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}, allowed: code(kerr.InvalidProducerIDMapping, kerr.InvalidTxnState, kerr.InvalidProducerEpoch)},
	29: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDescribeACLsRequest()
		r.ResourceType, r.ResourcePatternType, r.Operation, r.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		if v == 0 {
			r.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral // v0 has no pattern type: literal
		}
		return r
	}, allowed: code(kerr.SecurityDisabled)},
	30: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrCreateACLsRequest()
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, fx.topic, kmsg.ACLResourcePatternTypeLiteral
		c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
		r.Creations = append(r.Creations, c)
		return r
	}, allowed: code(kerr.SecurityDisabled)},
	31: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		r.Filters = append(r.Filters, f)
		return r
	}, allowed: code(kerr.SecurityDisabled)},
	32: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, fx.topic, []string{"retention.ms"}
		r.Resources = append(r.Resources, rr)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		res := resp.(*kmsg.DescribeConfigsResponse).Resources[0]
		if len(res.Configs) != 1 || res.Configs[0].Value == nil || *res.Configs[0].Value != "3600000" {
			t.Errorf("retention.ms described as %+v, want the 3600000 AlterConfigs set", res.Configs)
		}
	}},
	33: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrAlterConfigsRequest()
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, fx.topic
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", kmsg.StringPtr("3600000")
		rr.Configs = append(rr.Configs, c)
		r.Resources = append(r.Resources, rr)
		return r
	}},
	36: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.SASLAuthBytes = []byte("\x00alice\x00secret")
		return r
	}, allowed: code(kerr.IllegalSaslState)}, // no handshake first
	37: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.TimeoutMillis, r.ValidateOnly = 10_000, true
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = fx.topic, 3
		r.Topics = append(r.Topics, rt)
		return r
	}},
	42: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = []string{"never-existed"}
		return r
	}, allowed: code(kerr.GroupIDNotFound)},
	43: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrElectLeadersRequest()
		r.TimeoutMillis = 10_000
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = fx.topic, []int32{0}
		r.Topics = append(r.Topics, rt)
		return r
	}, allowed: code(kerr.ElectionNotNeeded)},
	35: {build: func(v int16, fx *versionFixture) kmsg.Request {
		return kmsg.NewPtrDescribeLogDirsRequest() // every dir, every replica
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		found := false
		for _, d := range resp.(*kmsg.DescribeLogDirsResponse).Dirs {
			for _, dt := range d.Topics {
				found = found || dt.Topic == fx.topic && len(dt.Partitions) == 1 && dt.Partitions[0].Size > 0
			}
		}
		if !found {
			t.Errorf("no log dir holds %s with its records", fx.topic)
		}
	}},
	44: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.ValidateOnly = true
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, fx.topic
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", kmsg.StringPtr("7200000")
		rr.Configs = append(rr.Configs, c)
		r.Resources = append(r.Resources, rr)
		return r
	}},
	45: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		r.TimeoutMillis = 10_000
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = fx.topic
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Replicas = nil // cancel: none under way
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}, allowed: code(kerr.NoReassignmentInProgress)},
	46: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrListPartitionReassignmentsRequest()
		r.TimeoutMillis = 10_000
		return r
	}},
	47: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = fx.group
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = "other"
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}, allowed: code(kerr.UnknownTopicOrPartition)},
	48: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDescribeClientQuotasRequest()
		c := kmsg.NewDescribeClientQuotasRequestComponent()
		c.EntityType, c.MatchType, c.Match = "client-id", kmsg.QuotasMatchTypeExact, kmsg.StringPtr("versioned")
		r.Components = append(r.Components, c)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		if r := resp.(*kmsg.DescribeClientQuotasResponse); len(r.Entries) != 1 || len(r.Entries[0].Values) != 1 || r.Entries[0].Values[0].Value != 1<<30 {
			t.Errorf("quotas of client-id versioned: %+v", r.Entries)
		}
	}},
	49: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrAlterClientQuotasRequest()
		e := kmsg.NewAlterClientQuotasRequestEntry()
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type, ent.Name = "client-id", kmsg.StringPtr("versioned")
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value = "producer_byte_rate", 1<<30
		e.Entity, e.Ops = append(e.Entity, ent), append(e.Ops, op)
		r.Entries = append(r.Entries, e)
		return r
	}},
	50: {build: func(v int16, fx *versionFixture) kmsg.Request {
		return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	}},
	51: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = "nobody", 1
		r.Deletions = append(r.Deletions, d)
		return r
	}, allowed: code(kerr.ResourceNotFound)},
	57: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrUpdateFeaturesRequest()
		r.TimeoutMillis, r.ValidateOnly = 10_000, true
		return r
	}},
	60: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDescribeClusterRequest()
		r.EndpointType = 1
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		if r := resp.(*kmsg.DescribeClusterResponse); len(r.Brokers) != 1 || r.ControllerID != 1 {
			t.Errorf("cluster %+v", r)
		}
	}},
	61: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = fx.topic, []int32{0}
		r.Topics = append(r.Topics, rt)
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		p := resp.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
		for _, ap := range p.ActiveProducers {
			if ap.CurrentTxnStartOffset != -1 {
				t.Errorf("producer %d has an open transaction at %d; none was begun", ap.ProducerID, ap.CurrentTxnStartOffset)
			}
		}
	}},
	65: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = []string{"vtxn"}
		return r
	}, allowed: code(kerr.TransactionalIDNotFound)},
	66: {build: func(v int16, fx *versionFixture) kmsg.Request { return kmsg.NewPtrListTransactionsRequest() }},
	74: {build: func(v int16, fx *versionFixture) kmsg.Request {
		return kmsg.NewPtrListConfigResourcesRequest()
	}},
	75: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrDescribeTopicPartitionsRequest()
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = fx.topic
		r.Topics, r.ResponsePartitionLimit = append(r.Topics, rt), 100
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		r := resp.(*kmsg.DescribeTopicPartitionsResponse)
		if len(r.Topics) != 1 || r.Topics[0].Topic == nil || *r.Topics[0].Topic != fx.topic || r.Topics[0].TopicID != fx.topicID || len(r.Topics[0].Partitions) != 1 {
			t.Errorf("topic partitions %+v", r.Topics)
		}
	}},
	68: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Group, r.MemberEpoch, r.RebalanceTimeoutMillis = fmt.Sprintf("versioned-848-v%d", v), 0, 30_000
		if v >= 1 {
			r.MemberID = fmt.Sprintf("versioned-member-v%d", v) // KIP-1082: the client names itself
		}
		r.SubscribedTopicNames = []string{fx.topic}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return r
	}, check: func(t *testing.T, v int16, resp kmsg.Response, fx *versionFixture) {
		if r := resp.(*kmsg.ConsumerGroupHeartbeatResponse); r.MemberEpoch <= 0 || r.MemberID == nil || *r.MemberID == "" {
			t.Errorf("heartbeat of a joining member: epoch %d, member id %v", r.MemberEpoch, r.MemberID)
		}
	}},
	69: {build: func(v int16, fx *versionFixture) kmsg.Request {
		r := kmsg.NewPtrConsumerGroupDescribeRequest()
		r.Groups = []string{fmt.Sprintf("versioned-848-v%d", v)}
		return r
	}, allowed: code(kerr.GroupIDNotFound)},
}

// TestEveryAdvertisedVersionServed sends every API the broker advertises
// at its lowest and highest version, encoded by kmsg as a client of that
// version would (fields that exist only in old versions included), and
// checks that the answer decodes at that version, carries only the error
// codes Kafka gives that request, and, where it says something, the
// right thing (metadata of the topic, the records, the commit).
func TestEveryAdvertisedVersionServed(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	cl := tb.client()
	fx := &versionFixture{topic: "versioned", group: "versioned-g", records: 3}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, fx.topic); err != nil {
		t.Fatal(err)
	}
	for i := range fx.records {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: fx.topic, Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range md.Topics {
		if *mt.Topic == fx.topic {
			fx.topicID = mt.TopicID
		}
	}

	call := func(req kmsg.Request) (kmsg.Response, error) {
		c, err := net.DialTimeout("tcp", tb.srv.KafkaAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return ingesttest.Call(c, req, 15*time.Second)
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	resp, err := call(av)
	if err != nil {
		t.Fatal(err)
	}
	advertised := resp.(*kmsg.ApiVersionsResponse).ApiKeys
	// Order matters: AlterConfigs before DescribeConfigs, OffsetCommit
	// before OffsetFetch, AlterClientQuotas before DescribeClientQuotas,
	// CreateTopics before DeleteTopics.
	slices.SortFunc(advertised, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey - b.ApiKey) })
	order := []int16{33, 8, 49}
	for _, k := range advertised {
		if !slices.Contains(order, k.ApiKey) {
			order = append(order, k.ApiKey)
		}
	}
	byKey := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range advertised {
		byKey[k.ApiKey] = k
	}
	for _, key := range order {
		k := byKey[key]
		tc, ok := versionCases[key]
		if !ok {
			t.Errorf("api %d (%s) advertised v%d-v%d but has no case here", key, kmsg.NameForKey(key), k.MinVersion, k.MaxVersion)
			continue
		}
		for _, v := range []int16{k.MinVersion, k.MaxVersion} {
			t.Run(fmt.Sprintf("%s v%d", kmsg.NameForKey(key), v), func(t *testing.T) {
				req := tc.build(v, fx)
				req.SetVersion(v)
				resp, err := call(req)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				t.Logf("error codes %v", ingesttest.ErrorCodes(resp))
				for _, c := range ingesttest.ErrorCodes(resp) {
					if c != 0 && !slices.Contains(tc.allowed, c) {
						t.Errorf("error %v in the answer %+v", kerr.ErrorForCode(c), resp)
					}
				}
				if tc.check != nil && !t.Failed() {
					tc.check(t, v, resp, fx)
				}
			})
		}
	}
}
