package ingest

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/ingest/ingesttest"
)

// fakeACLs is the ACL authorizer over bindings in memory (auth's
// decisions, no etcd).
type fakeACLs struct{ a *auth.Authorizer }

func newFakeACLs(bs ...auth.Binding) *fakeACLs {
	a := &auth.Authorizer{Super: func(p string) bool { return p == "User:admin" }}
	a.Set(bs)
	return &fakeACLs{a}
}

func (f *fakeACLs) Authorize(principal, host string, op auth.Operation, rt auth.ResourceType, name string) bool {
	return f.a.Authorize(principal, host, op, rt, name)
}
func (f *fakeACLs) DescribeACLs(flt auth.Filter) []auth.Binding { return f.a.Bindings(flt) }
func (f *fakeACLs) CreateACLs(_ context.Context, bs []auth.Binding) error {
	f.a.Set(append(f.a.Bindings(auth.Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}), bs...))
	return nil
}
func (f *fakeACLs) DeleteACLs(_ context.Context, flt auth.Filter) ([]auth.Binding, error) {
	all := f.a.Bindings(auth.Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny})
	var keep, gone []auth.Binding
	for _, b := range all {
		if flt.Matches(b) {
			gone = append(gone, b)
		} else {
			keep = append(keep, b)
		}
	}
	f.a.Set(keep)
	return gone, nil
}

const alice = "User:alice"

func allow(rt auth.ResourceType, name string, pattern kmsg.ACLResourcePatternType, op auth.Operation) auth.Binding {
	return auth.Binding{ResourceType: rt, ResourceName: name, PatternType: pattern, Principal: alice, Host: "*",
		Operation: op, Permission: kmsg.ACLPermissionTypeAllow}
}

func deny(b auth.Binding) auth.Binding {
	b.Permission = kmsg.ACLPermissionTypeDeny
	return b
}

var (
	lit = kmsg.ACLResourcePatternTypeLiteral
	pre = kmsg.ACLResourcePatternTypePrefixed

	groupAuthFailed   = kerr.GroupAuthorizationFailed.Code
	clusterAuthFailed = kerr.ClusterAuthorizationFailed.Code
)

func metadataOf(topics ...string) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		r.Version = 9
		if topics != nil {
			r.Topics = []kmsg.MetadataRequestTopic{}
		}
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
}

func topicNames(r kmsg.Response) []string {
	var out []string
	for _, t := range r.(*kmsg.MetadataResponse).Topics {
		if t.Topic != nil {
			out = append(out, *t.Topic)
		}
	}
	return out
}

// TestACLs: each API checks the operation Kafka checks, on the resource
// type Kafka checks, with literal and prefixed patterns, deny over allow,
// and super users; a principal without Describe never sees a topic's name.
func TestACLs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		principal string
		acls      []auth.Binding
		groups    bool
		req       func() kmsg.Request
		want      []int16
		check     func(*testing.T, kmsg.Response)
	}{
		{name: "produce/no ACL", req: produce(-1, false, 0), want: []int16{topicAuthFailed}},
		{name: "produce/literal write", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationWrite)}, req: produce(-1, false, 0), want: []int16{none}},
		{name: "produce/prefixed write", acls: []auth.Binding{allow(auth.Topic, "", pre, kmsg.ACLOperationWrite)}, req: produce(-1, false, 0), want: []int16{none}},
		{name: "produce/wildcard literal", acls: []auth.Binding{allow(auth.Topic, "*", lit, kmsg.ACLOperationAll)}, req: produce(-1, false, 0), want: []int16{none}},
		{name: "produce/read is not write", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationRead)}, req: produce(-1, false, 0), want: []int16{topicAuthFailed}},
		{name: "produce/deny over allow", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationWrite), deny(allow(auth.Topic, "t", pre, kmsg.ACLOperationWrite))},
			req: produce(-1, false, 0), want: []int16{topicAuthFailed}},
		{name: "produce/super user", principal: "User:admin", req: produce(-1, false, 0), want: []int16{none}},
		{name: "produce/transactional id", req: produce(-1, true, 0), want: []int16{kerr.TransactionalIDAuthorizationFailed.Code}},
		{name: "fetch/no read", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationWrite)}, req: fetch(12, nil, 0), want: []int16{none, topicAuthFailed}},
		{name: "fetch/read", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationRead)}, req: fetch(12, nil, 0), want: []int16{none, none}},
		{name: "list offsets/describe implied by read", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationRead)}, req: func() kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "t"
			rt.Partitions = append(rt.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}, want: []int16{none}},
		{name: "list offsets/no describe", req: func() kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "t"
			rt.Partitions = append(rt.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}, want: []int16{topicAuthFailed}},
		{name: "delete records/no delete", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationWrite)}, req: deleteRecords(2, []int32{0}, []int64{3}), want: []int16{topicAuthFailed}},
		{name: "delete records/delete", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationDelete)}, req: deleteRecords(2, []int32{0}, []int64{3}), want: []int16{none}},
		{name: "describe log dirs/v3 without cluster describe", req: describeLogDirs(3, nil), want: []int16{clusterAuthFailed}},
		{name: "describe log dirs/v1 without cluster describe lists nothing", req: describeLogDirs(1, nil), want: []int16{none},
			check: func(t *testing.T, r kmsg.Response) {
				if dirs := r.(*kmsg.DescribeLogDirsResponse).Dirs; len(dirs) != 0 {
					t.Errorf("%d dirs listed without Describe on the cluster", len(dirs))
				}
			}},
		{name: "describe log dirs/cluster describe", acls: []auth.Binding{allow(auth.Cluster, "kafka-cluster", lit, kmsg.ACLOperationDescribe)}, req: describeLogDirs(4, nil), want: []int16{none, none}},
		{name: "describe topic partitions/named, denied", req: simple(describeTopicPartitions([]string{"t"}, 10, "", 0)), want: []int16{topicAuthFailed}},
		{name: "describe topic partitions/listing hides t", req: simple(describeTopicPartitions(nil, 10, "", 0)), want: nil},
		{name: "list config resources/no cluster describe configs", req: listConfigResources(1), want: []int16{clusterAuthFailed}},
		{name: "update features/no cluster alter", req: updateFeatures(1, "group.version=0"), want: []int16{clusterAuthFailed}},
		{name: "metadata/every topic hides t", req: metadataOf(), want: []int16{none}, check: func(t *testing.T, r kmsg.Response) {
			if names := topicNames(r); len(names) != 0 {
				t.Errorf("topics %v shown without Describe", names)
			}
		}},
		{name: "metadata/t named, denied", req: metadataOf("t"), want: []int16{topicAuthFailed, none}, check: func(t *testing.T, r kmsg.Response) {
			if p := r.(*kmsg.MetadataResponse).Topics[0].Partitions; len(p) != 0 {
				t.Errorf("partitions of a denied topic shown: %v", p)
			}
		}},
		{name: "metadata/unknown topic not created without Create", acls: []auth.Binding{allow(auth.Topic, "n", lit, kmsg.ACLOperationDescribe)},
			req: metadataOf("new"), want: []int16{topicAuthFailed, none}},
		{name: "metadata/describe and authorized operations", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				r := metadataOf()().(*kmsg.MetadataRequest)
				r.IncludeTopicAuthorizedOperations = true
				return r
			}, want: []int16{none, none, kerr.LeaderNotAvailable.Code, none}, check: func(t *testing.T, r kmsg.Response) {
				mt := r.(*kmsg.MetadataResponse).Topics[0]
				if want := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationDescribe); mt.AuthorizedOperations != want {
					t.Errorf("authorized operations %b, want %b", mt.AuthorizedOperations, want)
				}
			}},
		{name: "create topics/no create", req: func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "new", 1, 1
			r.Topics = append(r.Topics, rt)
			return r
		}, want: []int16{topicAuthFailed}},
		{name: "create topics/create on the cluster", acls: []auth.Binding{allow(auth.Cluster, auth.ClusterName, lit, kmsg.ACLOperationCreate)}, req: func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "new", 1, 1
			r.Topics = append(r.Topics, rt)
			return r
		}, want: []int16{none}},
		{name: "delete topics/no delete", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationWrite)}, req: func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.Version, r.TopicNames = 3, []string{"t"}
			return r
		}, want: []int16{topicAuthFailed}},
		{name: "offset commit/no group read", groups: true, acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationRead)},
			req: offsetCommit(0), want: []int16{groupAuthFailed}},
		{name: "offset commit/group, no topic read", groups: true, acls: []auth.Binding{allow(auth.Group, "g", lit, kmsg.ACLOperationRead)},
			req: offsetCommit(0), want: []int16{topicAuthFailed}},
		{name: "offset commit/both", groups: true, acls: []auth.Binding{allow(auth.Group, "g", lit, kmsg.ACLOperationRead), allow(auth.Topic, "t", lit, kmsg.ACLOperationRead)},
			req: offsetCommit(0), want: []int16{none}},
		{name: "offset fetch/no group describe", groups: true, req: offsetFetch(7), want: []int16{groupAuthFailed, groupAuthFailed, groupAuthFailed}},
		{name: "find coordinator/group", groups: true, req: findCoordinator(3, 0, "g"), want: []int16{groupAuthFailed}},
		{name: "find coordinator/group prefixed", groups: true, acls: []auth.Binding{allow(auth.Group, "", pre, kmsg.ACLOperationDescribe)},
			req: findCoordinator(3, 0, "g"), want: []int16{none}},
		{name: "delete groups/no delete", groups: true, acls: []auth.Binding{allow(auth.Group, "g", lit, kmsg.ACLOperationRead)}, req: deleteGroups(), want: []int16{groupAuthFailed}},
		{name: "describe configs/topic and broker", req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			for _, typ := range []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker} {
				rr := kmsg.NewDescribeConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = typ, "t"
				if typ == kmsg.ConfigResourceTypeBroker {
					rr.ResourceName = "1"
				}
				r.Resources = append(r.Resources, rr)
			}
			return r
		}, want: []int16{topicAuthFailed, clusterAuthFailed}},
		{name: "elect leaders/cluster alter", req: func() kmsg.Request {
			r := kmsg.NewPtrElectLeadersRequest()
			r.Version = 1
			return r
		}, want: []int16{clusterAuthFailed}},
		{name: "elect leaders v0/per partition", req: func() kmsg.Request {
			r := kmsg.NewPtrElectLeadersRequest()
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = "t", []int32{0, 1}
			r.Topics = append(r.Topics, rt)
			return r
		}, want: []int16{none, clusterAuthFailed, clusterAuthFailed}},
		{name: "init producer id/idempotent without write", req: func() kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() }, want: []int16{clusterAuthFailed}},
		{name: "init producer id/write on a topic suffices", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationWrite)},
			req: func() kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() }, want: []int16{none}},
		{name: "describe cluster/no describe", req: func() kmsg.Request { return kmsg.NewPtrDescribeClusterRequest() }, want: []int16{clusterAuthFailed}},
		{name: "create acls/not an admin", req: func() kmsg.Request {
			r := kmsg.NewPtrCreateACLsRequest()
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = auth.Topic, "t", lit
			c.Principal, c.Host, c.Operation, c.PermissionType = alice, "*", kmsg.ACLOperationAll, kmsg.ACLPermissionTypeAllow
			r.Creations = append(r.Creations, c)
			return r
		}, want: []int16{clusterAuthFailed}},
		{name: "create acls/MATCH is not a binding", principal: "User:admin", req: func() kmsg.Request {
			r := kmsg.NewPtrCreateACLsRequest()
			r.Version = 3
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = auth.Topic, "t", kmsg.ACLResourcePatternTypeMatch
			c.Principal, c.Host, c.Operation, c.PermissionType = alice, "*", kmsg.ACLOperationAll, kmsg.ACLPermissionTypeAllow
			r.Creations = append(r.Creations, c)
			return r
		}, want: []int16{invalidRequest}},
		{name: "describe acls/admin", principal: "User:admin", acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationRead), allow(auth.Topic, "t", pre, kmsg.ACLOperationWrite)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeACLsRequest()
				r.Version = 3
				r.ResourceType, r.ResourceName, r.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.StringPtr("t"), kmsg.ACLResourcePatternTypeMatch
				r.Operation, r.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				return r
			}, want: []int16{none}, check: func(t *testing.T, r kmsg.Response) {
				if n := len(r.(*kmsg.DescribeACLsResponse).Resources); n != 2 {
					t.Errorf("MATCH t: %d resources, want the literal and the prefix", n)
				}
			}},
		{name: "init producer id/transactional without write", groups: true, req: initTxn(4), want: []int16{kerr.TransactionalIDAuthorizationFailed.Code}},
		{name: "init producer id/transactional with write", groups: true, acls: []auth.Binding{allow(auth.TransactionalID, "tx", lit, kmsg.ACLOperationWrite)}, req: initTxn(4), want: []int16{none}},
		{name: "find coordinator/transactional id", groups: true, req: findCoordinator(3, 1, "tx"), want: []int16{kerr.TransactionalIDAuthorizationFailed.Code}},
		{name: "add partitions/no write on the id", groups: true, acls: []auth.Binding{allow(auth.Topic, "t", lit, kmsg.ACLOperationWrite)}, req: addPartitions(3, "t", 0),
			want: []int16{none, kerr.TransactionalIDAuthorizationFailed.Code}},
		{name: "add partitions/no write on the topic", groups: true, acls: []auth.Binding{allow(auth.TransactionalID, "tx", lit, kmsg.ACLOperationWrite)}, req: addPartitions(3, "t", 0),
			want: []int16{none, topicAuthFailed}},
		{name: "add partitions/both", groups: true, acls: []auth.Binding{allow(auth.TransactionalID, "tx", lit, kmsg.ACLOperationWrite), allow(auth.Topic, "t", lit, kmsg.ACLOperationWrite)},
			req: addPartitions(3, "t", 0), want: []int16{none, none}},
		{name: "end txn/no write on the id", groups: true, req: endTxn(3), want: []int16{kerr.TransactionalIDAuthorizationFailed.Code}},
		{name: "txn offset commit/no group read", groups: true, acls: []auth.Binding{allow(auth.TransactionalID, "tx", lit, kmsg.ACLOperationWrite), allow(auth.Topic, "t", lit, kmsg.ACLOperationRead)},
			req: txnOffsetCommit(3), want: []int16{groupAuthFailed, topicAuthFailed}},
		{name: "describe transactions/no describe", groups: true, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeTransactionsRequest()
			r.TransactionalIDs = []string{"a", "b"}
			return r
		}, acls: []auth.Binding{allow(auth.TransactionalID, "b", lit, kmsg.ACLOperationDescribe)}, want: []int16{kerr.TransactionalIDAuthorizationFailed.Code, none}},
		{name: "alter scram/not an admin", req: func() kmsg.Request {
			r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
			d.Name, d.Mechanism = "bob", 2
			r.Deletions = append(r.Deletions, d)
			return r
		}, want: []int16{clusterAuthFailed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			b := f.backend(tc.groups)
			b.ACLs = newFakeACLs(tc.acls...)
			s := NewServer(Config{AdvertisedHost: "b1", AdvertisedPort: 9092, Logger: quiet}, b)
			defer s.Close()
			principal := tc.principal
			if principal == "" {
				principal = alice
			}
			resp, err := exchangeAs(t, s, principal, tc.req())
			if err != nil {
				t.Fatalf("connection closed: %v", err)
			}
			if got := ingesttest.ErrorCodes(resp); !slices.Equal(got, tc.want) {
				t.Fatalf("error codes %v, want %v", names(got), names(tc.want))
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
			if f.appended != 0 && len(tc.want) > 0 && tc.want[len(tc.want)-1] == topicAuthFailed {
				t.Errorf("a denied produce reached the partition")
			}
		})
	}
}
