package ingest

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one Kafka API this server implements, with the versions it
// accepts. ApiVersions is derived from this table.
type api struct {
	min, max int16
	handle   func(context.Context, *clientConn, kmsg.Request) (kmsg.Response, error)
}

// typed adapts a handler written against concrete kmsg types.
func typed[Req kmsg.Request, Resp kmsg.Response](fn func(*clientConn, context.Context, Req) (Resp, error)) func(context.Context, *clientConn, kmsg.Request) (kmsg.Response, error) {
	return func(ctx context.Context, cc *clientConn, r kmsg.Request) (kmsg.Response, error) {
		req, ok := r.(Req)
		if !ok {
			return nil, fmt.Errorf("request type %T", r)
		}
		resp, err := fn(cc, ctx, req)
		if err != nil {
			return nil, err
		}
		// A nil *Resp inside the interface would not compare to nil.
		if any(resp) == any(*new(Resp)) {
			return nil, nil
		}
		return resp, nil
	}
}

const apiVersionsKey = 18

// apis lists every implemented API key with its version range. The ranges
// cover what librdkafka 2.x, franz-go, sarama, kafka-python 2.x and the
// Java client 3.x negotiate; older versions that need the pre-0.11
// message format (Produce < 3, Fetch < 4) are not offered.
var apis map[int16]api

func init() {
	apis = map[int16]api{
		0:  {3, 11, typed((*clientConn).handleProduce)},
		1:  {4, 16, typed((*clientConn).handleFetch)},
		2:  {0, 8, typed((*clientConn).handleListOffsets)},
		3:  {0, 12, typed((*clientConn).handleMetadata)},
		8:  {0, 9, typed((*clientConn).handleOffsetCommit)},
		9:  {0, 9, typed((*clientConn).handleOffsetFetch)},
		10: {0, 4, typed((*clientConn).handleFindCoordinator)},
		11: {0, 9, typed((*clientConn).handleJoinGroup)},
		12: {0, 4, typed((*clientConn).handleHeartbeat)},
		13: {0, 5, typed((*clientConn).handleLeaveGroup)},
		14: {0, 5, typed((*clientConn).handleSyncGroup)},
		15: {0, 5, typed((*clientConn).handleDescribeGroups)},
		16: {0, 5, typed((*clientConn).handleListGroups)},
		17: {0, 1, typed((*clientConn).handleSaslHandshake)},
		18: {0, 3, typed((*clientConn).handleApiVersions)},
		19: {0, 7, typed((*clientConn).handleCreateTopics)},
		20: {0, 6, typed((*clientConn).handleDeleteTopics)},
		21: {0, 2, typed((*clientConn).handleDeleteRecords)},
		22: {0, 4, typed((*clientConn).handleInitProducerID)},
		23: {0, 4, typed((*clientConn).handleOffsetForLeaderEpoch)},
		24: {0, 5, typed((*clientConn).handleAddPartitionsToTxn)},
		25: {0, 3, typed((*clientConn).handleAddOffsetsToTxn)},
		26: {0, 3, typed((*clientConn).handleEndTxn)},
		27: {0, 1, typed((*clientConn).handleWriteTxnMarkers)},
		28: {0, 3, typed((*clientConn).handleTxnOffsetCommit)},
		29: {0, 3, typed((*clientConn).handleDescribeAcls)},
		30: {0, 3, typed((*clientConn).handleCreateAcls)},
		31: {0, 3, typed((*clientConn).handleDeleteAcls)},
		32: {0, 4, typed((*clientConn).handleDescribeConfigs)},
		33: {0, 2, typed((*clientConn).handleAlterConfigs)},
		35: {0, 5, typed((*clientConn).handleDescribeLogDirs)},
		36: {0, 2, typed((*clientConn).handleSaslAuthenticate)},
		37: {0, 3, typed((*clientConn).handleCreatePartitions)},
		42: {0, 2, typed((*clientConn).handleDeleteGroups)},
		43: {0, 2, typed((*clientConn).handleElectLeaders)},
		44: {0, 1, typed((*clientConn).handleIncrementalAlterConfigs)},
		45: {0, 0, typed((*clientConn).handleAlterPartitionReassignments)},
		46: {0, 0, typed((*clientConn).handleListPartitionReassignments)},
		47: {0, 0, typed((*clientConn).handleOffsetDelete)},
		48: {0, 1, typed((*clientConn).handleDescribeClientQuotas)},
		49: {0, 1, typed((*clientConn).handleAlterClientQuotas)},
		50: {0, 0, typed((*clientConn).handleDescribeUserScramCredentials)},
		51: {0, 0, typed((*clientConn).handleAlterUserScramCredentials)},
		57: {0, 2, typed((*clientConn).handleUpdateFeatures)},
		60: {0, 1, typed((*clientConn).handleDescribeCluster)},
		61: {0, 0, typed((*clientConn).handleDescribeProducers)},
		65: {0, 0, typed((*clientConn).handleDescribeTransactions)},
		66: {0, 1, typed((*clientConn).handleListTransactions)},
		68: {0, 1, typed((*clientConn).handleConsumerGroupHeartbeat)},
		69: {0, 1, typed((*clientConn).handleConsumerGroupDescribe)},
		74: {0, 1, typed((*clientConn).handleListConfigResources)},
		75: {0, 0, typed((*clientConn).handleDescribeTopicPartitions)},
	}
}

// supportedKeys returns the implemented keys in order.
func supportedKeys() []int16 {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
