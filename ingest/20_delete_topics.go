package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleDeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) (*kmsg.DeleteTopicsResponse, error) {
	ctx, cancel := cc.bounded(ctx, req.TimeoutMillis)
	defer cancel()
	topics := cc.s.b.Topics
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	}
	for _, t := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = t.name, t.id
		var err error
		switch {
		case t.name != nil && *t.name == offsetsTopicName, t.name == nil && t.id == offsetsTopicID:
			name := offsetsTopicName
			st.Topic, st.TopicID = &name, offsetsTopicID
			err = errInternalTopic(name)
		case t.name != nil:
			if info, ok := topics.Topic(*t.name); ok {
				st.TopicID = info.ID
			}
			if err = cc.authTopic(kmsg.ACLOperationDelete, *t.name); err == nil {
				err = cc.deleteTopic(ctx, resp, req.Version, *t.name)
			}
		default:
			info, ok := topics.TopicByID(t.id)
			if !ok {
				err = kerr.UnknownTopicID
				break
			}
			if err = cc.authTopic(kmsg.ACLOperationDelete, info.Name); err != nil {
				break // the name stays hidden
			}
			name := info.Name
			st.Topic = &name
			err = cc.deleteTopic(ctx, resp, req.Version, name)
		}
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteTopic deletes a topic once the controller mutation quota allows
// its partitions to go (strict from v5, KIP-599).
func (cc *clientConn) deleteTopic(ctx context.Context, resp *kmsg.DeleteTopicsResponse, version int16, name string) error {
	if info, ok := cc.s.b.Topics.Topic(name); ok {
		if err := cc.spendMutations(resp, version >= 5, len(info.Partitions)); err != nil {
			return err
		}
	}
	return cc.s.b.TopicAdmin.DeleteTopic(ctx, name)
}
