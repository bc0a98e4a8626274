package ingest

import (
	"context"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleFetch serves every Fetch as a full request (fetch_session.go).
func (cc *clientConn) handleFetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if code := fetchSessionError(req); code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	// A replica fetch must come from that broker (authz.go).
	if replica := fetchReplicaID(req); replica >= 0 && !cc.mayFetchAsReplica(replica) {
		return refuseFetch(req, resp, kerr.TopicAuthorizationFailed.Code), nil
	}
	// A consumer needs Read on each topic, decided once (not at every
	// wake of a waiting fetch).
	var denied map[string]bool
	if fetchReplicaID(req) < 0 && cc.s.b.ACLs != nil {
		for _, rt := range req.Topics {
			name := rt.Topic
			if req.Version >= 13 {
				if t, ok := cc.s.b.Topics.TopicByID(rt.TopicID); ok {
					name = t.Name
				}
			}
			if cc.authTopic(kmsg.ACLOperationRead, name) != nil {
				if denied == nil {
					denied = map[string]bool{}
				}
				denied[name] = true
			}
		}
	}
	// The client's MaxBytes (up to 2 GiB) is bounded by the server's
	// fetch max bytes.
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 50 << 20
	}
	maxBytes = min(maxBytes, cc.s.cfg.FetchMaxBytes)
	// MinBytes and MaxWait as Kafka's DelayedFetch honours them: the
	// response goes once MinBytes have accumulated across the partitions
	// named, at once when a partition fails or a cold read served data
	// (Kafka's remote fetch), and otherwise when MaxWait passes. Waiting,
	// a consumer's fetch counts what arrives (fetch_wait.go) and is filled
	// again for the answer; a follower's wakes at an append and fills again.
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	for {
		total, waits, failed := cc.fillFetch(req, resp, maxBytes, denied)
		if failed || total >= int(req.MinBytes) || len(waits) == 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			return resp, nil
		}
		if fetchReplicaID(req) >= 0 || !cc.awaitMinBytes(ctx, req, resp, total, waits, deadline) {
			waitAny(ctx, waits, deadline)
		}
	}
}

// fillFetch (re)builds the response from the current logs. It returns the
// bytes gathered, the channels to wait on for more (closed at the next
// append), and whether some partition failed (Kafka answers at once then).
//
// Partitions are answered in request order within the response's byte
// budget. Reads the partition serves slowly (the cold tier: object-store
// GETs) of all the partitions named are started together first
// (Partition.FetchAhead), so one request for many cold partitions costs
// about one round trip to the store, not one per partition. Those reads
// share the response's budget in request order, each asking at most for
// what is left of it, so that a Fetch naming 1,000 cold partitions reads
// about MaxBytes, not 1,000 partition max bytes; partitions past that
// budget are read in turn, with what the earlier ones left. A read ahead
// that no longer fits the budget when its turn comes is dropped (the client
// fetches it again).
func (cc *clientConn) fillFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, maxBytes int, denied map[string]bool) (int, []<-chan struct{}, bool) {
	b := cc.s.b
	resp.Topics = resp.Topics[:0]
	// Followers name themselves (ReplicaState from v15): they read past the
	// high watermark and report their progress to the leader.
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	type job struct {
		p     Partition
		rp    *kmsg.FetchRequestTopicPartition
		err   error
		ahead PendingFetch // a slow read started before the budget is known
		// wait, taken before the read so that no append between the
		// read and the wait is missed, fires at the next append.
		wait <-chan struct{}
	}
	var jobs [][]job
	var names []string
	ahead := maxBytes // budget left for the reads started ahead
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		name := rt.Topic
		var topicErr error
		if req.Version >= 13 {
			if t, ok := b.Topics.TopicByID(rt.TopicID); ok {
				name = t.Name
			} else {
				topicErr = kerr.UnknownTopicID
			}
		}
		if denied[name] {
			topicErr = kerr.TopicAuthorizationFailed
		}
		names = append(names, name)
		js := make([]job, len(rt.Partitions))
		for pi := range rt.Partitions {
			j := &js[pi]
			j.rp, j.err = &rt.Partitions[pi], topicErr
			if j.err == nil {
				j.p, j.err = b.Partitions.Partition(name, j.rp.Partition)
			}
			if j.err == nil {
				j.wait = j.p.Wait()
			}
			if j.err == nil && replica < 0 && ahead > 0 {
				// Each read ahead may return its whole limit: together
				// they ask for no more than the response can hold.
				limit := max(min(int(j.rp.PartitionMaxBytes), ahead), 0)
				if j.ahead = j.p.FetchAhead(j.rp.FetchOffset, limit, j.rp.CurrentLeaderEpoch); j.ahead != nil {
					ahead -= limit
				}
			}
		}
		jobs = append(jobs, js)
	}

	total := 0
	failed, coldServed := false, false
	var waits []<-chan struct{}
	for ti, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = names[ti], rt.TopicID
		for _, j := range jobs[ti] {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = j.rp.Partition
			err := j.err
			if err == nil {
				limit := max(min(int(j.rp.PartitionMaxBytes), maxBytes-total), 0)
				var res FetchResult
				switch {
				case j.ahead != nil:
					res, err = j.ahead.Result()
					if total > 0 && len(res.Records) > limit {
						res.Records = nil // over budget: fetched again next time
					}
					coldServed = coldServed || len(res.Records) > 0
				case replica >= 0:
					res, err = j.p.ReplicaFetch(replica, j.rp.FetchOffset, limit, j.rp.CurrentLeaderEpoch)
				default:
					res, err = j.p.Fetch(j.rp.FetchOffset, limit, total == 0, j.rp.CurrentLeaderEpoch)
				}
				// The first batch may pass the client's limit (KIP-74),
				// never the server's: a response stays within fetch max
				// bytes.
				if serverMax := cc.s.cfg.FetchMaxBytes; total+len(res.Records) > serverMax {
					if total == 0 {
						cc.log.Warn("a batch larger than fetch max bytes cannot be served; raise --fetch-max-bytes above the topic's max.message.bytes",
							"topic", names[ti], "partition", j.rp.Partition, "offset", j.rp.FetchOffset, "bytes", len(res.Records), "fetch_max_bytes", serverMax)
					}
					res.Records = nil
				}
				if req.IsolationLevel == readCommitted && replica < 0 && err == nil {
					sp.AbortedTransactions, err = readCommittedView(j.p, j.rp.FetchOffset, &res)
				}
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
				sp.RecordBatches = res.Records
				total += len(res.Records)
				// A consumer waits for more on every partition until
				// MinBytes; a follower only on those that had nothing.
				if err == nil && (replica < 0 || len(res.Records) == 0) {
					waits = append(waits, j.wait)
				}
			}
			if sp.RecordBatches == nil {
				sp.RecordBatches = []byte{} // empty, not null: kafka-python 2.0.2 cannot parse null records
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				failed = true
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if coldServed {
		// Kafka answers a fetch that read the remote tier once that
		// read is done (DelayedRemoteFetch), whatever MinBytes says;
		// waiting here would repeat the object-store reads at every
		// append to the hot end.
		waits = nil
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
