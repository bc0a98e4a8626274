package ingest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// The transaction APIs' cases of TestHandlerErrors: the codes each
// answers, and what reached the coordinator.
func init() { handlerCases = append(handlerCases, txnHandlerCases...) }

// txnBatch is one transactional batch of producer 77 epoch 3.
func txnBatch() []byte {
	recs := recordbatch.AppendRecord(nil, 0, 0, nil, []byte("v"), nil)
	return recordbatch.AppendBatch(nil, recordbatch.Header{
		Attributes: recordbatch.NewAttributes(0, 0, true, false), ProducerID: 77, ProducerEpoch: 3,
		BaseSequence: 0, NumRecords: 1, BaseTimestamp: 1, MaxTimestamp: 1,
	}, recs)
}

func txnProduce(parts ...int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := produce(-1, true, parts...)().(*kmsg.ProduceRequest)
		for i := range r.Topics[0].Partitions {
			r.Topics[0].Partitions[i].Records = txnBatch()
		}
		return r
	}
}

func addPartitions(version int16, topic string, parts ...int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrAddPartitionsToTxnRequest()
		r.Version, r.TransactionalID, r.ProducerID, r.ProducerEpoch = version, "tx", 77, 3
		tt := kmsg.NewAddPartitionsToTxnRequestTopic()
		tt.Topic, tt.Partitions = topic, parts
		r.Topics = append(r.Topics, tt)
		return r
	}
}

func addPartitionsBatch(verify bool, parts ...int32) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrAddPartitionsToTxnRequest()
		r.Version = 4
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = "tx", 77, 3, verify
		tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		tt.Topic, tt.Partitions = "t", parts
		tx.Topics = append(tx.Topics, tt)
		r.Transactions = append(r.Transactions, tx)
		return r
	}
}

func initTxn(version int16) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrInitProducerIDRequest()
		id := "tx"
		r.Version, r.TransactionalID, r.TransactionTimeoutMillis, r.ProducerID, r.ProducerEpoch = version, &id, 60000, 5, 2
		return r
	}
}

func endTxn(version int16) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrEndTxnRequest()
		r.Version, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = version, "tx", 77, 3, true
		return r
	}
}

func txnOffsetCommit(version int16) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrTxnOffsetCommitRequest()
		r.Version, r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = version, "tx", "g", 77, 3
		r.Generation, r.MemberID = 4, "m"
		for _, topic := range []string{"t", "nope"} {
			tt := kmsg.NewTxnOffsetCommitRequestTopic()
			tt.Topic = topic
			p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = 0, 12, 3
			tt.Partitions = append(tt.Partitions, p)
			r.Topics = append(r.Topics, tt)
		}
		return r
	}
}

func calls(want ...string) func(*testing.T, *fake, kmsg.Response) {
	return func(t *testing.T, f *fake, _ kmsg.Response) {
		if !slices.Equal(f.txnCalls, want) {
			t.Errorf("coordinator calls %q, want %q", f.txnCalls, want)
		}
	}
}

var inTxn = func(f *fake) { f.inTxn = map[TopicPartition]bool{{"t", 0}: true} }

var txnHandlerCases = []handlerCase{
	// 0 Produce, KIP-890 part 1
	{name: "produce/transactional without a coordinator", req: produce(-1, true, 0), want: []int16{transactionalDenied}},
	{name: "produce/transactional, partition not in the transaction", groups: true, req: txnProduce(0), want: []int16{kerr.InvalidTxnState.Code},
		check: func(t *testing.T, f *fake, _ kmsg.Response) {
			if f.appended != 0 || !slices.Equal(f.txnCalls, []string{"verify produce tx 77/3 t/0"}) {
				t.Errorf("appended %d, calls %q", f.appended, f.txnCalls)
			}
		}},
	{name: "produce/transactional, verified", groups: true, setup: inTxn, req: txnProduce(0), want: []int16{none},
		check: func(t *testing.T, f *fake, _ kmsg.Response) {
			if f.appended != 1 {
				t.Errorf("appended %d", f.appended)
			}
		}},

	// 10 FindCoordinator
	{name: "find coordinator/transactional id", groups: true, setup: func(f *fake) { f.coordinator = 2 }, req: findCoordinator(4, 1, "tx", ""),
		want: []int16{none, none, invalidRequest},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			if c := r.(*kmsg.FindCoordinatorResponse).Coordinators[0]; c.NodeID != 2 || c.Host != "b2" {
				t.Errorf("coordinator %+v, want broker 2", c)
			}
		}},

	// 22 InitProducerId
	{name: "init producer id/transactional id, coordinator", groups: true, req: initTxn(4), want: []int16{none},
		check: func(t *testing.T, f *fake, r kmsg.Response) {
			if p := r.(*kmsg.InitProducerIDResponse); p.ProducerID != 77 || p.ProducerEpoch != 3 {
				t.Errorf("answered %d/%d", p.ProducerID, p.ProducerEpoch)
			}
			calls("init tx 60000 5/2")(t, f, r)
		}},
	{name: "init producer id/v2 ignores the producer", groups: true, req: initTxn(2), want: []int16{none}, check: calls("init tx 60000 -1/-1")},
	{name: "init producer id/fenced, v4", groups: true, setup: fail("InitTxnProducer", kerr.ProducerFenced), req: initTxn(4), want: []int16{kerr.ProducerFenced.Code}},
	{name: "init producer id/fenced, v3 gets invalid epoch", groups: true, setup: fail("InitTxnProducer", kerr.ProducerFenced), req: initTxn(3), want: []int16{kerr.InvalidProducerEpoch.Code}},
	{name: "init producer id/bad timeout", groups: true, setup: fail("InitTxnProducer", kerr.InvalidTransactionTimeout), req: initTxn(4), want: []int16{kerr.InvalidTransactionTimeout.Code}},

	// 24 AddPartitionsToTxn (the first code is the v4+ top-level one)
	{name: "add partitions/no coordinator", req: addPartitions(3, "t", 0), want: []int16{none, transactionalDenied}},
	{name: "add partitions/added", groups: true, req: addPartitions(3, "t", 0, 1), want: []int16{none, none, none}, check: calls("add tx 77/3 [{t 0} {t 1}]")},
	{name: "add partitions/unknown partition: none added", groups: true, req: addPartitions(1, "t", 0, 5), want: []int16{none, kerr.OperationNotAttempted.Code, unknownTopic}, check: calls()},
	{name: "add partitions/internal topic", groups: true, req: addPartitions(1, "__consumer_offsets", 0), want: []int16{none, kerr.InvalidTopicException.Code}},
	{name: "add partitions/concurrent", groups: true, setup: fail("AddPartitionsToTxn", kerr.ConcurrentTransactions), req: addPartitions(3, "t", 0), want: []int16{none, kerr.ConcurrentTransactions.Code}},
	{name: "add partitions/fenced v1 is invalid epoch", groups: true, setup: fail("AddPartitionsToTxn", kerr.ProducerFenced), req: addPartitions(1, "t", 0), want: []int16{none, kerr.InvalidProducerEpoch.Code}},
	{name: "add partitions/v4 from a client", groups: true, req: addPartitionsBatch(true, 0), want: []int16{kerr.ClusterAuthorizationFailed.Code}, check: calls()},
	{name: "add partitions/v4 verify from a broker", groups: true, principal: brokerPrincipal(2), setup: inTxn, req: addPartitionsBatch(true, 0, 1),
		want: []int16{none, none, kerr.InvalidTxnState.Code}, check: calls("verify tx [{t 0} {t 1}]")},
	{name: "add partitions/v4 add from a broker", groups: true, principal: brokerPrincipal(2), req: addPartitionsBatch(false, 0),
		want: []int16{none, none}, check: calls("add tx 77/3 [{t 0}]")},
	{name: "add partitions/v4 verify fenced", groups: true, principal: brokerPrincipal(2), setup: fail("VerifyTxnPartitions", kerr.ProducerFenced), req: addPartitionsBatch(true, 0),
		want: []int16{none, kerr.ProducerFenced.Code}},

	// 25 AddOffsetsToTxn
	{name: "add offsets/no coordinator", req: simple(kmsg.NewPtrAddOffsetsToTxnRequest()), want: []int16{transactionalDenied}},
	{name: "add offsets/added", groups: true, req: func() kmsg.Request {
		r := kmsg.NewPtrAddOffsetsToTxnRequest()
		r.Version, r.TransactionalID, r.Group = 3, "tx", "g"
		return r
	}, want: []int16{none}, check: calls("offsets tx g")},
	{name: "add offsets/not coordinator", groups: true, setup: fail("AddOffsetsToTxn", kerr.NotCoordinator), req: simple(kmsg.NewPtrAddOffsetsToTxnRequest()), want: []int16{kerr.NotCoordinator.Code}},

	// 26 EndTxn
	{name: "end txn/no coordinator", req: endTxn(3), want: []int16{transactionalDenied}},
	{name: "end txn/commit", groups: true, req: endTxn(3), want: []int16{none}, check: calls("end tx true")},
	{name: "end txn/invalid state", groups: true, setup: fail("EndTxn", kerr.InvalidTxnState), req: endTxn(3), want: []int16{kerr.InvalidTxnState.Code}},
	{name: "end txn/fenced v1", groups: true, setup: fail("EndTxn", kerr.ProducerFenced), req: endTxn(1), want: []int16{kerr.InvalidProducerEpoch.Code}},

	// 28 TxnOffsetCommit
	{name: "txn offset commit/no coordinator", req: txnOffsetCommit(3), want: []int16{transactionalDenied, unknownTopic}},
	{name: "txn offset commit/pending", groups: true, req: txnOffsetCommit(3), want: []int16{none, unknownTopic},
		check: func(t *testing.T, f *fake, _ kmsg.Response) {
			if len(f.txnReqs) != 1 {
				t.Fatalf("requests %+v", f.txnReqs)
			}
			r := f.txnReqs[0]
			if got := fmt.Sprintf("%s %s %d/%d gen %d %s %+v", r.Group, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Generation, r.MemberID, r.Offsets); got != "g tx 77/3 gen 4 m [{Topic:t Partition:0 Offset:12 LeaderEpoch:3 Metadata: CommitTime:0001-01-01 00:00:00 +0000 UTC}]" {
				t.Errorf("request %s", got)
			}
		}},
	{name: "txn offset commit/v2 has no generation", groups: true, req: txnOffsetCommit(2), want: []int16{none, unknownTopic},
		check: func(t *testing.T, f *fake, _ kmsg.Response) {
			if r := f.txnReqs[0]; r.Generation != -1 || r.MemberID != "" {
				t.Errorf("v2 request carried generation %d member %q", r.Generation, r.MemberID)
			}
		}},
	{name: "txn offset commit/fenced member", groups: true, setup: fail("CommitTxnOffsets", kerr.FencedInstanceID), req: txnOffsetCommit(3), want: []int16{kerr.FencedInstanceID.Code, unknownTopic}},
	{name: "txn offset commit/fenced producer v2", groups: true, setup: fail("CommitTxnOffsets", kerr.ProducerFenced), req: txnOffsetCommit(2), want: []int16{kerr.InvalidProducerEpoch.Code, unknownTopic}},

	// 27 WriteTxnMarkers: the coordinator's side of the seam
	{name: "write txn markers/data partition forgets verification", groups: true, principal: brokerPrincipal(2), req: writeTxnMarkers(1, 0),
		want: []int16{none}, check: calls("forget 42 t/0")},
	{name: "write txn markers/group offsets", groups: true, principal: brokerPrincipal(2), req: func() kmsg.Request {
		r := writeTxnMarkers(1, 0)().(*kmsg.WriteTxnMarkersRequest)
		r.Markers[0].Topics[0].Topic, r.Markers[0].Topics[0].Partitions = "__consumer_offsets", []int32{17}
		return r
	}, want: []int16{none}, check: calls("complete offsets 42 true 17/50")},
	{name: "write txn markers/group offsets fail", groups: true, principal: brokerPrincipal(2), setup: fail("CompleteTxnOffsets", kerr.NotCoordinator), req: func() kmsg.Request {
		r := writeTxnMarkers(1, 0)().(*kmsg.WriteTxnMarkersRequest)
		r.Markers[0].Topics[0].Topic = "__consumer_offsets"
		return r
	}, want: []int16{kerr.NotCoordinator.Code}},

	// 65 DescribeTransactions
	{name: "describe transactions/no coordinator", req: func() kmsg.Request {
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = []string{"a"}
		return r
	}, want: []int16{transactionalDenied}},
	{name: "describe transactions/found and not", groups: true, req: func() kmsg.Request {
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = []string{"a", "unknown"}
		return r
	}, want: []int16{none, kerr.TransactionalIDNotFound.Code},
		check: func(t *testing.T, _ *fake, r kmsg.Response) {
			st := r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
			if st.State != "Ongoing" || st.ProducerID != 77 || len(st.Topics) != 2 || fmt.Sprint(st.Topics[0].Partitions) != "[0 1]" {
				t.Errorf("state %+v", st)
			}
		}},

	// 66 ListTransactions
	{name: "list transactions/no coordinator", req: simple(kmsg.NewPtrListTransactionsRequest()), want: []int16{transactionalDenied}},
	{name: "list transactions/filters", groups: true, req: func() kmsg.Request {
		r := kmsg.NewPtrListTransactionsRequest()
		r.Version, r.StateFilters, r.ProducerIDFilters, r.DurationFilterMillis = 1, []string{"Ongoing", "Bogus"}, []int64{77}, 10
		return r
	}, want: []int16{none}, check: func(t *testing.T, f *fake, r kmsg.Response) {
		resp := r.(*kmsg.ListTransactionsResponse)
		if len(resp.TransactionStates) != 1 || !slices.Equal(resp.UnknownStateFilters, []string{"Bogus"}) {
			t.Errorf("response %+v", resp)
		}
		calls("list [Ongoing] [77] 10")(t, f, r)
	}},
	{name: "list transactions/etcd down", groups: true, setup: fail("ListTransactions", kerr.CoordinatorNotAvailable), req: simple(kmsg.NewPtrListTransactionsRequest()), want: []int16{coordinatorNA}},
}
