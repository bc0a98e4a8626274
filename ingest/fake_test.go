package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
	"github.com/stratalog/strata/ingest/ingesttest"
	"github.com/stratalog/strata/quota"
)

// fake is an in-process backend for the handler tests, in the spirit of
// franz-go's kfake: one type implements every interface of backend.go,
// from a few topics and canned errors. errs["Method"] makes that method
// fail.
type fake struct {
	mu          sync.Mutex // guards what handlers change in parallel (markers)
	self        int32
	brokers     []BrokerInfo
	topics      []TopicInfo
	notLeader   map[TopicPartition]bool // partitions led elsewhere
	errs        map[string]error
	coordinator int32 // CoordinatorFor's answer
	controller  int32 // the elected controller; -1: none yet
	autoCreate  bool  // EnsureTopic creates a topic of one partition
	appended    int   // Append calls
	markers     []fakeMarker
	replicated  int // ReplicaFetch calls
	// fetchBytes, when set, is how many record bytes a read returns for
	// its maxBytes and minOneBatch.
	fetchBytes func(maxBytes int, minOneBatch bool) int
	// cold makes every consumer read a FetchAhead (a cold-tier read);
	// aheadBytes adds up the bytes those reads returned.
	cold       bool
	aheadBytes int
	// wake, when set, is what Wait returns (a fetch waiting for
	// MinBytes); otherwise Wait never fires.
	wake chan struct{}
	// inTxn are the partitions the fake coordinator has in the open
	// transaction; txnCalls lists the transaction calls made, by name.
	inTxn    map[TopicPartition]bool
	txnCalls []string
	txnReqs  []group.TxnCommitRequest
	// quotas are the stored client quotas (QuotaAdmin); enforcer, when
	// set, throttles.
	quotas   map[string]quota.Values
	enforcer *quota.Manager
}

func newFake() *fake {
	return &fake{
		self:    1,
		brokers: []BrokerInfo{{ID: 1, Host: "b1", Port: 9092}, {ID: 2, Host: "b2", Port: 9092, Rack: "r2"}},
		topics: []TopicInfo{{Name: "t", ID: [16]byte{7}, ReplicationFactor: 2, Partitions: []PartitionInfo{
			{Partition: 0, Leader: 1, LeaderEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{1, 2}},
			{Partition: 1, Leader: 9, LeaderEpoch: 1, Replicas: []int32{9, 1}, ISR: []int32{9}},
		}}},
		notLeader:   map[TopicPartition]bool{{"t", 1}: true},
		errs:        map[string]error{},
		coordinator: 1,
	}
}

// errPanic, as a canned error, makes the method panic instead.
var errPanic = errors.New("panic")

func (f *fake) err(method string) error {
	if err := f.errs[method]; err == errPanic {
		panic(method + " failed unexpectedly")
	} else {
		return err
	}
}

func (f *fake) backend(groups bool) Backend {
	b := Backend{Cluster: f, Topics: f, Partitions: f, TopicAdmin: f, Configs: f, Replicas: f, ProducerIDs: f, Authorizer: f, LogDirs: f, QuotaAdmin: f}
	if f.enforcer != nil {
		b.Quotas = f.enforcer
	}
	if groups {
		b.GroupPlacement, b.Members, b.Offsets, b.GroupAdmin, b.Consumers = f, f, f, f, f
		b.Transactions, b.TxnVerifier, b.TxnOffsets = f, f, f
	}
	return b
}

// LogDirs is one dir holding both partitions of t and one of u, or an
// offline dir when errs["LogDirs"] is set.
func (f *fake) LogDirs() []LogDir {
	d := LogDir{Path: "/data/logs", Err: f.err("LogDirs"), TotalBytes: 1000, UsableBytes: 400, Replicas: []ReplicaDir{
		{Topic: "u", Partition: 0, Size: 7}, {Topic: "t", Partition: 1, Size: 20, OffsetLag: 3}, {Topic: "t", Partition: 0, Size: 10},
	}}
	if d.Err != nil {
		d.Replicas = nil
	}
	return []LogDir{d}
}

func (f *fake) ID() int32             { return f.self }
func (f *fake) ClusterID() string     { return "fake-cluster" }
func (f *fake) ControllerID() int32   { return f.controller }
func (f *fake) Brokers() []BrokerInfo { return f.brokers }
func (f *fake) Topics() []TopicInfo   { return f.topics }

func (f *fake) Topic(name string) (TopicInfo, bool) {
	for _, t := range f.topics {
		if t.Name == name {
			return t, true
		}
	}
	return TopicInfo{}, false
}

func (f *fake) TopicByID(id [16]byte) (TopicInfo, bool) {
	for _, t := range f.topics {
		if t.ID == id {
			return t, true
		}
	}
	return TopicInfo{}, false
}

func (f *fake) Partition(topic string, partition int32) (Partition, error) {
	t, ok := f.Topic(topic)
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, unknownPartition(topic, partition)
	}
	if f.notLeader[TopicPartition{topic, partition}] {
		return nil, fmt.Errorf("%w: %s/%d", kerr.NotLeaderForPartition, topic, partition)
	}
	return fakePartition{f}, nil
}

func (f *fake) EnsureTopic(_ context.Context, name string) (TopicInfo, error) {
	if err := f.err("EnsureTopic"); err != nil {
		return TopicInfo{}, err
	}
	if t, ok := f.Topic(name); ok {
		return t, nil
	}
	if f.autoCreate {
		t := TopicInfo{Name: name, ID: [16]byte{byte(len(f.topics) + 10)}, ReplicationFactor: 1, Partitions: []PartitionInfo{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}}
		f.topics = append(f.topics, t)
		return t, nil
	}
	return TopicInfo{}, kerr.UnknownTopicOrPartition
}

func (f *fake) CreateTopic(_ context.Context, req CreateTopicRequest) (TopicInfo, error) {
	if err := f.err("CreateTopic"); err != nil {
		return TopicInfo{}, err
	}
	return TopicInfo{Name: req.Name, ID: [16]byte{9}, ReplicationFactor: 1, Partitions: make([]PartitionInfo, req.Partitions)}, nil
}

func (f *fake) DeleteTopic(context.Context, string) error { return f.err("DeleteTopic") }

func (f *fake) CreatePartitions(context.Context, string, int32, [][]int32, bool) error {
	return f.err("CreatePartitions")
}

func (f *fake) DescribeTopicConfigs(name string) ([]ConfigEntry, error) {
	if _, ok := f.Topic(name); !ok {
		return nil, unknownPartition(name, -1)
	}
	return []ConfigEntry{{Name: "retention.ms", Value: "1", Type: int8(kmsg.ConfigTypeLong)}}, nil
}

func (f *fake) BrokerConfigs() []ConfigEntry {
	return []ConfigEntry{{Name: "broker.id", Value: "1", ReadOnly: true}}
}

func (f *fake) AlterTopicConfigs(context.Context, string, []ConfigChange, bool, bool) error {
	return f.err("AlterTopicConfigs")
}

func (f *fake) AlterBrokerConfigs(context.Context, string, []ConfigChange, bool, bool) error {
	return f.err("AlterBrokerConfigs")
}

func (f *fake) BrokerDefaultConfigs() []ConfigEntry {
	return []ConfigEntry{{Name: "log.retention.ms", Value: "1000", Source: int8(kmsg.ConfigSourceDynamicDefaultBrokerConfig)}}
}

func (f *fake) BrokerLoggers() []ConfigEntry {
	return []ConfigEntry{{Name: "root", Value: "INFO", Source: int8(kmsg.ConfigSourceDefaultConfig)}}
}

func (f *fake) AlterBrokerLoggers([]ConfigChange, bool) error { return f.err("AlterBrokerLoggers") }

func (f *fake) Reassign(context.Context, string, int32, []int32) error { return f.err("Reassign") }

func (f *fake) Reassignments(context.Context, []string) ([]Reassignment, error) {
	return nil, f.err("Reassignments")
}

func (f *fake) ElectLeader(context.Context, string, int32, bool) error { return f.err("ElectLeader") }

func (f *fake) NewProducerID(context.Context) (int64, error) {
	if err := f.err("NewProducerID"); err != nil {
		return -1, err
	}
	return 1000, nil
}

func (f *fake) CoordinatorFor(string) int32 { return f.coordinator }

// brokerPrincipal is how broker id authenticates to the fake.
func brokerPrincipal(id int32) string { return fmt.Sprintf("User:broker-%d", id) }

func (f *fake) AuthorizeReplica(principal string, replicaID int32) bool {
	return principal == brokerPrincipal(replicaID)
}

func (f *fake) AuthorizeBroker(principal string) bool {
	return strings.HasPrefix(principal, "User:broker-")
}

func (f *fake) TxnCoordinatorFor(string) int32 { return f.coordinator }

func (f *fake) InitTxnProducer(_ context.Context, id string, timeoutMs int32, pid int64, epoch int16) (int64, int16, error) {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("init %s %d %d/%d", id, timeoutMs, pid, epoch))
	if err := f.err("InitTxnProducer"); err != nil {
		return -1, -1, err
	}
	return 77, 3, nil
}

func (f *fake) AddPartitionsToTxn(_ context.Context, p TxnProducer, parts []TopicPartition) error {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("add %s %d/%d %v", p.TransactionalID, p.ProducerID, p.Epoch, parts))
	return f.err("AddPartitionsToTxn")
}

func (f *fake) VerifyTxnPartitions(_ context.Context, p TxnProducer, parts []TopicPartition) ([]error, error) {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("verify %s %v", p.TransactionalID, parts))
	if err := f.err("VerifyTxnPartitions"); err != nil {
		return nil, err
	}
	errs := make([]error, len(parts))
	for i, tp := range parts {
		if !f.inTxn[tp] {
			errs[i] = kerr.InvalidTxnState
		}
	}
	return errs, nil
}

func (f *fake) AddOffsetsToTxn(_ context.Context, p TxnProducer, g string) error {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("offsets %s %s", p.TransactionalID, g))
	return f.err("AddOffsetsToTxn")
}

func (f *fake) EndTxn(_ context.Context, p TxnProducer, commit bool) error {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("end %s %v", p.TransactionalID, commit))
	return f.err("EndTxn")
}

func (f *fake) DescribeTransactions(_ context.Context, ids []string) []TxnDescription {
	out := make([]TxnDescription, len(ids))
	for i, id := range ids {
		out[i] = TxnDescription{TransactionalID: id, State: "Ongoing", TimeoutMs: 1000, StartMs: 5, ProducerID: 77, ProducerEpoch: 3,
			Partitions: []TopicPartition{{"t", 1}, {"t", 0}, {"u", 0}}}
		if id == "unknown" {
			out[i] = TxnDescription{TransactionalID: id, Err: kerr.TransactionalIDNotFound}
		}
	}
	return out
}

func (f *fake) ListTransactions(_ context.Context, states []string, pids []int64, dur int64) ([]TxnListing, error) {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("list %v %v %d", states, pids, dur))
	if err := f.err("ListTransactions"); err != nil {
		return nil, err
	}
	return []TxnListing{{TransactionalID: "a", ProducerID: 77, State: "Ongoing"}}, nil
}

func (f *fake) VerifyTxnProduce(_ context.Context, p TxnProducer, topic string, partition int32) error {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("verify produce %s %d/%d %s/%d", p.TransactionalID, p.ProducerID, p.Epoch, topic, partition))
	if !f.inTxn[TopicPartition{topic, partition}] {
		return kerr.InvalidTxnState
	}
	return nil
}

func (f *fake) ForgetTxnProduce(pid int64, topic string, partition int32) {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("forget %d %s/%d", pid, topic, partition))
}

func (f *fake) CompleteTxnOffsets(_ context.Context, pid int64, commit bool, partition, partitions int32) error {
	f.txnCalls = append(f.txnCalls, fmt.Sprintf("complete offsets %d %v %d/%d", pid, commit, partition, partitions))
	return f.err("CompleteTxnOffsets")
}

func (f *fake) CommitTxnOffsets(_ context.Context, req group.TxnCommitRequest) []error {
	f.txnReqs = append(f.txnReqs, req)
	errs := make([]error, len(req.Offsets))
	for i := range errs {
		errs[i] = f.err("CommitTxnOffsets")
	}
	return errs
}

func (f *fake) Join(_ context.Context, req group.JoinRequest) group.JoinResult {
	return group.JoinResult{Err: f.err("Join"), MemberID: req.MemberID, Generation: -1}
}

func (f *fake) Sync(context.Context, group.SyncRequest) group.SyncResult {
	return group.SyncResult{Err: f.err("Sync")}
}

func (f *fake) Heartbeat(context.Context, group.HeartbeatRequest) error { return f.err("Heartbeat") }

func (f *fake) Leave(_ context.Context, _ string, members []group.LeaveMember) ([]error, error) {
	if err := f.err("Leave"); err != nil {
		return nil, err
	}
	errs := make([]error, len(members))
	for i := range errs {
		errs[i] = f.err("LeaveMember")
	}
	return errs, nil
}

func (f *fake) CommitOffsets(_ context.Context, req group.CommitRequest) []error {
	errs := make([]error, len(req.Offsets))
	for i := range errs {
		errs[i] = f.err("CommitOffsets")
	}
	return errs
}

func (f *fake) FetchOffsets(_ context.Context, _ string, parts []TopicPartition, _ bool) ([]group.FetchedOffset, error) {
	if err := f.err("FetchOffsets"); err != nil {
		return nil, err
	}
	var out []group.FetchedOffset
	for _, tp := range parts {
		out = append(out, group.FetchedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: -1, LeaderEpoch: -1})
	}
	return out, nil
}

func (f *fake) DeleteOffsets(_ context.Context, _ string, parts []TopicPartition) ([]error, error) {
	if err := f.err("DeleteOffsets"); err != nil {
		return nil, err
	}
	return make([]error, len(parts)), nil
}

func (f *fake) ListGroups(context.Context, []string, []string) ([]group.Listing, error) {
	return nil, f.err("ListGroups")
}

func (f *fake) DescribeGroup(_ context.Context, id string) (group.Description, error) {
	return group.Description{Group: id, State: "Dead"}, f.err("DescribeGroup")
}

func (f *fake) DeleteGroup(context.Context, string) error { return f.err("DeleteGroup") }

// fakePartition answers from its fake's canned errors; reads return no
// records at high watermark 10.
type fakePartition struct{ f *fake }

func (p fakePartition) Append(context.Context, []byte, int16) (AppendResult, error) {
	p.f.appended++
	return AppendResult{BaseOffset: 5, LogAppendTime: -1}, p.f.err("Append")
}

func (p fakePartition) Fetch(_ int64, maxBytes int, minOneBatch bool, _ int32) (FetchResult, error) {
	return FetchResult{HighWatermark: 10, LastStableOffset: 10, Records: p.records(maxBytes, minOneBatch)}, p.f.err("Fetch")
}

func (p fakePartition) records(maxBytes int, minOneBatch bool) []byte {
	if p.f.fetchBytes == nil {
		return nil
	}
	return make([]byte, p.f.fetchBytes(maxBytes, minOneBatch))
}

func (p fakePartition) FetchAhead(offset int64, maxBytes int, epoch int32) PendingFetch {
	if !p.f.cold {
		return nil
	}
	res, err := p.Fetch(offset, maxBytes, true, epoch)
	p.f.aheadBytes += len(res.Records)
	return fakePending{res, err}
}

// fakePending is a FetchAhead that has finished.
type fakePending struct {
	res FetchResult
	err error
}

func (p fakePending) Result() (FetchResult, error) { return p.res, p.err }

func (p fakePartition) ReplicaFetch(_ int32, _ int64, maxBytes int, _ int32) (FetchResult, error) {
	p.f.replicated++
	return FetchResult{HighWatermark: 10, Records: p.records(maxBytes, true)}, p.f.err("ReplicaFetch")
}

func (p fakePartition) ListOffset(int64, int32) (int64, int64, int32, error) {
	return 10, -1, 3, p.f.err("ListOffset")
}

func (p fakePartition) EndOffsetForEpoch(int32, int32) (int32, int64, error) {
	return 3, 10, p.f.err("EndOffsetForEpoch")
}

func (p fakePartition) DeleteRecords(_ context.Context, offset int64) (int64, error) {
	if offset == -1 {
		offset = 10
	}
	if offset > 10 {
		return -1, kerr.OffsetOutOfRange
	}
	return offset, p.f.err("DeleteRecords")
}

// fakeMarker is one WriteTxnMarker call.
type fakeMarker struct {
	producerID       int64
	epoch            int16
	coordinatorEpoch int32
	commit           bool
}

func (p fakePartition) WriteTxnMarker(_ context.Context, pid int64, epoch int16, coordinatorEpoch int32, commit bool) error {
	if err := p.f.err("WriteTxnMarker"); err != nil {
		return err
	}
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	p.f.markers = append(p.f.markers, fakeMarker{pid, epoch, coordinatorEpoch, commit})
	return nil
}

func (p fakePartition) Wait() <-chan struct{} {
	if p.f.wake != nil {
		return p.f.wake
	}
	return make(chan struct{})
}

// exchange sends req through the server's frame path (decode, dispatch,
// handler, framing) without a network, on an anonymous connection, and
// decodes the answer. A nil response with a nil error means no response
// was sent (acks=0); an error means the server closes the connection
// (after sending the response, if there is one).
func exchange(t *testing.T, s *Server, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	return exchangeAs(t, s, Anonymous, req)
}

// exchangeAs is exchange on a connection authenticated as principal
// (unless Anonymous).
func exchangeAs(t *testing.T, s *Server, principal string, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, req, 42)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cc := &clientConn{s: s, conn: a, log: s.log, principal: principal}
	if principal != Anonymous {
		cc.sasl = saslDone
	}
	out, err := cc.handleFrame(context.Background(), frame[4:])
	if err == nil {
		err = cc.closeAfter
	}
	if out == nil {
		return nil, err
	}
	version := req.GetVersion()
	if a := apis[req.Key()]; req.Key() == apiVersionsKey && (version < a.min || version > a.max) {
		version = 0 // KIP-511
	}
	resp, derr := ingesttest.Decode(req, out, version)
	if derr != nil {
		t.Fatal(derr)
	}
	return resp, err
}

func (f *fake) ConsumerHeartbeat(_ context.Context, req group.ConsumerHeartbeatRequest) group.ConsumerHeartbeatResult {
	return group.ConsumerHeartbeatResult{Err: f.err("ConsumerHeartbeat"), MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
}

func (f *fake) DescribeConsumerGroup(_ context.Context, id string) (group.ConsumerDescription, error) {
	return group.ConsumerDescription{Group: id}, f.err("DescribeConsumerGroup")
}

func (f *fake) CheckFetchMember(context.Context, string, string, int32) error {
	return f.err("CheckFetchMember")
}

func (p fakePartition) LastStableOffset() int64 { return 10 }

func (p fakePartition) AbortedTransactions(int64, int64) ([]AbortedTxn, error) {
	return nil, p.f.err("AbortedTransactions")
}

func (p fakePartition) Producers() ([]ProducerState, error) {
	return nil, p.f.err("Producers")
}
