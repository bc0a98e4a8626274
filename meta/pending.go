package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcd's default limits, which a stock etcd (and the embedded one) runs with
// and every request of this package stays within.
const (
	// maxTxnOps is etcd's default --max-txn-ops: the most comparisons, or
	// operations in either branch, one transaction may hold.
	maxTxnOps = 128
	// maxValueBytes bounds one value this package writes, well under etcd's
	// default --max-request-bytes (1.5 MiB) so that the rest of the request
	// fits beside it.
	maxValueBytes = 1 << 20
)

// Partition writes in steps. A transaction holds at most maxTxnOps
// operations and every partition takes two (its state and its fencing key),
// so a topic of more than 63 partitions cannot be created in one. Such a
// write (CreateTopic, AddPartitions) goes in steps that are each correct on
// their own:
//
//  1. The topic record is written with a "pending" plan: the partition count
//     it is heading for and every new partition's initial state. Its
//     "partitions" field keeps counting only the live partitions, 0 for a
//     topic being created, which no reader sees (Topic, Topics, WatchTopics,
//     PartitionStates all skip it).
//  2. The partitions' keys are written, 64 per transaction, each transaction
//     guarded by the record's mod revision as read: if the record changed
//     (deleted, reconfigured, already completed) the step writes nothing
//     and the writer re-reads.
//  3. The record is flipped live (partitions = the planned count, plan
//     dropped), guarded the same way.
//
// Readers see all of the new partitions or none: PartitionStates and the
// brokers ignore partitions at or above the live count. Anyone may carry out
// steps 2 and 3 from the plan, since they are derived from the record alone
// and repeat identical writes: the creator, a retried CreateTopic (which
// then answers ErrTopicExists), and the controller (CompletePendingTopics),
// which finishes a write whose creator crashed.

// fitsOneTxn reports whether n partitions and their topic record fit one
// transaction.
func fitsOneTxn(n int) bool { return 1+2*n <= maxTxnOps }

// partitionsPerTxn is how many partitions step 2 writes per transaction.
const partitionsPerTxn = maxTxnOps / 2

// pendingPartitions is the plan of a partition write in steps.
type pendingPartitions struct {
	Count   int32            // the partition count once complete
	SinceMs int64            // when the write started, Unix ms
	States  []PartitionState // initial states of partitions [Topic.Partitions, Count)
}

func newPending(count int32, states []PartitionState) *pendingPartitions {
	return &pendingPartitions{Count: count, SinceMs: time.Now().UnixMilli(), States: states}
}

func (p *pendingPartitions) count() int {
	if p == nil {
		return 0
	}
	return len(p.States)
}

// pendingJSON is the "pending" field of the topic record.
type pendingJSON struct {
	Partitions int32          `json:"partitions"`
	SinceMs    int64          `json:"since_ms"`
	States     []plannedState `json:"states"`
}

func (p *pendingPartitions) toJSON() *pendingJSON {
	if p == nil {
		return nil
	}
	j := &pendingJSON{Partitions: p.Count, SinceMs: p.SinceMs, States: make([]plannedState, len(p.States))}
	for i, ps := range p.States {
		j.States[i] = plannedState(ps)
	}
	return j
}

// fromJSON restores the plan of topic, whose live partitions are 0..from-1.
func (j *pendingJSON) fromJSON(topic string, from int32) *pendingPartitions {
	p := &pendingPartitions{Count: j.Partitions, SinceMs: j.SinceMs, States: make([]PartitionState, len(j.States))}
	for i, ps := range j.States {
		p.States[i] = PartitionState(ps)
		p.States[i].Topic, p.States[i].Partition = topic, from+int32(i)
	}
	return p
}

// plannedState is one partition of a plan. A partition in the initial
// state every new partition normally has (leader = first replica, epoch 0,
// ISR = replicas, no reassignment) is written as its replica list alone,
// [2,3,1], so that the plan of a 10,000-partition topic stays near 100 KB;
// any other state is written as the PartitionState object.
type plannedState PartitionState

func (ps plannedState) initial() bool {
	return len(ps.Replicas) > 0 && ps.Leader == ps.Replicas[0] && ps.LeaderEpoch == 0 &&
		slices.Equal(ps.ISR, ps.Replicas) && len(ps.AddingReplicas) == 0 && len(ps.RemovingReplicas) == 0
}

func (ps plannedState) MarshalJSON() ([]byte, error) {
	if ps.initial() {
		return json.Marshal(ps.Replicas)
	}
	return json.Marshal(PartitionState(ps))
}

func (ps *plannedState) UnmarshalJSON(b []byte) error {
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		return json.Unmarshal(b, (*PartitionState)(ps))
	}
	var replicas []int32
	if err := json.Unmarshal(b, &replicas); err != nil {
		return err
	}
	if len(replicas) == 0 {
		return errors.New("planned partition without replicas")
	}
	*ps = plannedState{Leader: replicas[0], Replicas: replicas, ISR: slices.Clone(replicas)}
	return nil
}

// pendingStep, when set (by tests), runs after each step of a write in
// steps (0: the plan written, n: n transactions of partitions written); an
// error stops the write there, as a crash would.
func (c *Client) pendingStep(step int) error {
	if c.stepHook == nil {
		return nil
	}
	return c.stepHook(step)
}

// completePending carries out steps 2 and 3 for the topic's plan and
// returns the topic as it is then (live). A topic without a plan is
// returned as is.
func (c *Client) completePending(ctx context.Context, name string) (Topic, error) {
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		if attempt > 0 {
			if err := casBackoff(ctx, attempt); err != nil {
				return Topic{}, err
			}
		}
		t, err := c.rawTopic(ctx, name)
		if err != nil {
			return Topic{}, err
		}
		if t.pending == nil {
			return t, nil
		}
		written, err := c.writePlanned(ctx, t)
		if err != nil {
			return Topic{}, err
		}
		if !written {
			continue // the record changed: read it again
		}
		live := t
		live.Partitions, live.pending = t.pending.Count, nil
		if live, ok, err := c.casTopic(ctx, "complete partitions of", live, t.Revision); err != nil || ok {
			return live, err
		}
	}
	return Topic{}, fmt.Errorf("meta: complete partitions of %s: %w", name, ErrConflict)
}

// writePlanned is step 2: it writes the planned partitions that have no
// key yet, in transactions guarded by the record's mod revision t.Revision.
// It reports false when the record changed meanwhile. Keys already there
// were written from this same plan (no other writer touches partitions at
// or above the live count, and a deleted topic takes its keys along).
func (c *Client) writePlanned(ctx context.Context, t Topic) (bool, error) {
	from, to := t.Partitions, t.pending.Count
	resp, err := c.cli.Get(ctx, c.keys.Partition(t.Name, from),
		clientv3.WithRange(c.keys.Partition(t.Name, to)), clientv3.WithKeysOnly())
	if err != nil {
		return false, etcdErr("list planned partitions of "+t.Name, err)
	}
	have := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		have[string(kv.Key)] = true
	}
	var missing []PartitionState
	for _, ps := range t.pending.States {
		if !have[c.keys.Partition(t.Name, ps.Partition)] {
			missing = append(missing, ps)
		}
	}
	guard := clientv3.Compare(clientv3.ModRevision(c.keys.Topic(t.Name)), "=", t.Revision)
	step := 0
	for chunk := range slices.Chunk(missing, partitionsPerTxn) {
		ops, err := c.partitionOps(chunk)
		if err != nil {
			return false, err
		}
		resp, err := c.cli.Txn(ctx).If(guard).Then(ops...).Commit()
		if err != nil {
			return false, etcdErr(fmt.Sprintf("write partitions %d.. of %s", chunk[0].Partition, t.Name), err)
		}
		if !resp.Succeeded {
			return false, nil
		}
		step++
		if err := c.pendingStep(step); err != nil {
			return false, err
		}
	}
	return true, nil
}

// CompletePendingTopics completes every partition write in steps that
// started at least olderThan ago (a creator that crashed, or lost etcd,
// half-way) and returns the names of the topics it completed. The
// controller calls it; the grace keeps it from doing again what a live
// creator is doing, though doing so would be harmless.
func (c *Client) CompletePendingTopics(ctx context.Context, olderThan time.Duration) ([]string, error) {
	all, err := c.allTopics(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := time.Now().Add(-olderThan).UnixMilli()
	var done []string
	var errs []error
	for _, t := range all {
		if t.pending == nil || t.pending.SinceMs > cutoff {
			continue
		}
		if _, err := c.completePending(ctx, t.Name); err != nil && !errors.Is(err, ErrTopicNotFound) {
			errs = append(errs, err)
			continue
		}
		done = append(done, t.Name)
	}
	return done, errors.Join(errs...)
}
