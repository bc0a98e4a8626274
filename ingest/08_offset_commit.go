package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/group"
)

// OffsetCommit v0-v9: v0 has no generation or member (a simple commit),
// v1 a per-partition commit timestamp, v2-v4 an explicit retention, v6+ the
// leader epoch, v7+ the instance id, v9+ GROUP_ID_NOT_FOUND for a commit
// of a generation to a group that does not exist (ILLEGAL_GENERATION
// before). The valid partitions of one request
// are written in one etcd transaction. (v10 names topics by id: not
// offered.)
func (cc *clientConn) handleOffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) (*kmsg.OffsetCommitResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := group.CommitRequest{Group: req.Group, Generation: -1, InstanceID: deref(req.InstanceID)}
	if req.Version >= 1 {
		cr.Generation, cr.MemberID = req.Generation, req.MemberID
	}
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis > 0 {
		cr.Retention = time.Duration(req.RetentionTimeMillis) * time.Millisecond
	}
	// errs[topic][partition] is the answer; index maps cr.Offsets back.
	errs := make([][]error, len(req.Topics))
	type pos struct{ t, p int }
	var index []pos
	// Read on the group, then Read on each topic.
	groupErr := cc.authGroup(kmsg.ACLOperationRead, req.Group)
	for ti, rt := range req.Topics {
		errs[ti] = make([]error, len(rt.Partitions))
		n := cc.partitionCount(rt.Topic)
		authErr := groupErr
		if authErr == nil {
			authErr = cc.authTopic(kmsg.ACLOperationRead, rt.Topic)
		}
		for pi, rp := range rt.Partitions {
			if authErr != nil {
				errs[ti][pi] = authErr
				continue
			}
			if rp.Partition < 0 || rp.Partition >= n {
				errs[ti][pi] = unknownPartition(rt.Topic, rp.Partition)
				continue
			}
			o := group.CommitOffset{
				Topic: rt.Topic, Partition: rp.Partition, Offset: rp.Offset,
				LeaderEpoch: -1, Metadata: deref(rp.Metadata),
			}
			if req.Version >= 6 {
				o.LeaderEpoch = rp.LeaderEpoch
			}
			if req.Version == 1 && rp.Timestamp >= 0 {
				o.CommitTime = time.UnixMilli(rp.Timestamp)
			}
			cr.Offsets = append(cr.Offsets, o)
			index = append(index, pos{ti, pi})
		}
	}
	if len(cr.Offsets) > 0 {
		gs, err := groupPart(cc.s.b.Offsets)
		var results []error
		if err == nil {
			results = gs.CommitOffsets(ctx, cr)
		}
		for i, at := range index {
			e := err
			if e == nil {
				e = results[i]
			}
			if req.Version < 9 && errors.Is(e, kerr.GroupIDNotFound) {
				// Before v9 a commit to a group that does not exist is
				// from a generation that is gone (Kafka keeps the old code).
				e = fmt.Errorf("%w: %v", kerr.IllegalGeneration, e)
			}
			errs[at.t][at.p] = e
		}
	}
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = errorCode(errs[ti][pi])
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
