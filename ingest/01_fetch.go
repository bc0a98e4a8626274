package ingest

import (
	"context"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/broker"
)

// Fetch sessions (KIP-227) are refused the way the KIP allows: a request
// that asks for a new session gets session id 0, which tells the client
// to keep sending full fetch requests.
func (cc *clientConn) handleFetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 7 {
		switch {
		case req.SessionID != 0:
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return resp, nil
		case req.SessionEpoch > 0:
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return resp, nil
		}
	}
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 50 << 20
	}
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	for {
		total, waits, failed := cc.fillFetch(req, resp, maxBytes)
		if failed || total >= int(req.MinBytes) || len(waits) == 0 || !time.Now().Before(deadline) {
			return resp, nil
		}
		if !waitAny(ctx, waits, deadline) {
			if ctx.Err() != nil {
				return resp, nil
			}
		}
	}
}

// fillFetch (re)builds the response from the current logs. It returns the
// bytes gathered, the channels to wait on for more, and whether some
// partition failed (Kafka answers at once then).
func (cc *clientConn) fillFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, maxBytes int) (int, []<-chan struct{}, bool) {
	c := cc.s.cluster
	resp.Topics = resp.Topics[:0]
	// Followers name themselves (ReplicaState from v15): they read past the
	// high watermark and report their progress to the leader.
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	total := 0
	failed := false
	var waits []<-chan struct{}
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var topicErr error
		if req.Version >= 13 {
			if t, ok := c.TopicByID(rt.TopicID); ok {
				st.Topic = t.Name
			} else {
				topicErr = kerr.UnknownTopicID
			}
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			err := topicErr
			var p *broker.Partition
			if err == nil {
				p, err = c.Partition(st.Topic, rp.Partition)
			}
			if err == nil {
				limit := min(int(rp.PartitionMaxBytes), maxBytes-total)
				var res broker.FetchResult
				if replica >= 0 {
					res, err = p.ReplicaFetch(replica, rp.FetchOffset, max(limit, 0), rp.CurrentLeaderEpoch)
				} else {
					res, err = p.Fetch(rp.FetchOffset, max(limit, 0), total == 0, rp.CurrentLeaderEpoch)
				}
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
				sp.RecordBatches = res.Records
				if sp.RecordBatches == nil {
					sp.RecordBatches = []byte{} // empty, not null: kafka-python 2.0.2 cannot parse null records
				}
				total += len(res.Records)
				if err == nil && len(res.Records) == 0 {
					waits = append(waits, p.Wait())
				}
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				failed = true
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return total, waits, failed
}

// waitAny blocks until one channel closes, the deadline passes or ctx
// ends; it reports whether a channel fired.
func waitAny(ctx context.Context, chans []<-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	for _, ch := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}
