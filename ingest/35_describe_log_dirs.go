package ingest

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs v0-v5: every log directory of this broker with the
// replicas it holds (all of them when the request names no topics, else
// those named), their local sizes and offset lags, and (v4+) the volume's
// total and usable bytes. No replica is ever a future one (Strata has no
// AlterReplicaLogDirs) nor a directory cordoned (v5). Kafka checks
// DESCRIBE on the cluster: without it v3+ answer
// CLUSTER_AUTHORIZATION_FAILED, older versions an empty list.
func (cc *clientConn) handleDescribeLogDirs(_ context.Context, req *kmsg.DescribeLogDirsRequest) (*kmsg.DescribeLogDirsResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if err := cc.authCluster(kmsg.ACLOperationDescribe); err != nil {
		if req.Version >= 3 {
			resp.ErrorCode = errorCode(err)
		}
		return resp, nil
	}
	if cc.s.b.LogDirs == nil {
		return resp, nil
	}
	var want map[TopicPartition]bool // nil: every replica
	if req.Topics != nil {
		want = map[TopicPartition]bool{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				want[TopicPartition{rt.Topic, p}] = true
			}
		}
	}
	for _, d := range cc.s.b.LogDirs.LogDirs() {
		rd := kmsg.NewDescribeLogDirsResponseDir()
		rd.Dir, rd.ErrorCode = d.Path, errorCode(d.Err)
		rd.TotalBytes, rd.UsableBytes = d.TotalBytes, d.UsableBytes
		byTopic := map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
		for _, r := range d.Replicas {
			if want != nil && !want[TopicPartition{r.Topic, r.Partition}] {
				continue
			}
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition, rp.Size, rp.OffsetLag = r.Partition, r.Size, r.OffsetLag
			byTopic[r.Topic] = append(byTopic[r.Topic], rp)
		}
		names := make([]string, 0, len(byTopic))
		for name := range byTopic {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			rt := kmsg.NewDescribeLogDirsResponseDirTopic()
			rt.Topic, rt.Partitions = name, byTopic[name]
			sort.Slice(rt.Partitions, func(i, j int) bool { return rt.Partitions[i].Partition < rt.Partitions[j].Partition })
			rd.Topics = append(rd.Topics, rt)
		}
		resp.Dirs = append(resp.Dirs, rd)
	}
	return resp, nil
}
