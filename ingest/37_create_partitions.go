package ingest

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleCreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) (*kmsg.CreatePartitionsResponse, error) {
	ctx, cancel := cc.bounded(ctx, req.TimeoutMillis)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var assignment [][]int32
		for _, a := range rt.Assignment {
			assignment = append(assignment, a.Replicas)
		}
		err := cc.authTopic(kmsg.ACLOperationAlter, rt.Topic)
		if err == nil {
			err = errInternalTopic(rt.Topic)
		}
		if rt.Topic != offsetsTopicName && !errors.Is(err, kerr.TopicAuthorizationFailed) {
			err = nil
			if info, ok := cc.s.b.Topics.Topic(rt.Topic); ok && !req.ValidateOnly {
				err = cc.spendMutations(resp, req.Version >= 3, int(rt.Count)-len(info.Partitions))
			}
			if err == nil {
				err = cc.s.b.TopicAdmin.CreatePartitions(ctx, rt.Topic, rt.Count, assignment, req.ValidateOnly)
			}
		}
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
