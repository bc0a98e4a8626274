package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Consumer groups. Two kinds of keys per group (docs/etcd-keys.md, docs/groups.md):
//
//	groups/<escaped group>/state                     GroupState, written at each generation change
//	groups/<escaped group>/offsets/<topic>/<p>       GroupOffset, one per committed partition
//
// Only the group's coordinator writes them. Every write is one transaction
// guarded by the mod revision of the state key as the coordinator last saw it
// (0: the key does not exist). The coordinator learns that revision when it
// loads the group and from each state write of its own; a write by anybody
// else (another broker that took the group over) changes it, so the stale
// coordinator's next write fails with ErrConflict and nothing lands. Offset
// commits do not touch the state key, so they never conflict with each other.
// A write of more offsets than one transaction holds goes in several
// (below).

// GroupMember is one member of a group as of its last persisted generation.
type GroupMember struct {
	MemberID           string `json:"member_id"`
	InstanceID         string `json:"instance_id,omitempty"` // group.instance.id of a static member
	ClientID           string `json:"client_id"`
	ClientHost         string `json:"client_host"`
	SessionTimeoutMs   int32  `json:"session_timeout_ms"`
	RebalanceTimeoutMs int32  `json:"rebalance_timeout_ms"`
	// Metadata is the member's metadata for the group's protocol (for
	// consumers: its subscription), Assignment what the leader assigned it.
	// Both are opaque bytes, base64 in JSON.
	Metadata   []byte `json:"metadata,omitempty"`
	Assignment []byte `json:"assignment,omitempty"`
}

// GroupState is the value of groups/<group>/state: the group as of its last
// generation change. A group with members is Stable, one without Empty.
type GroupState struct {
	Group        string        `json:"group"`
	State        string        `json:"state"` // "Stable" or "Empty"
	ProtocolType string        `json:"protocol_type,omitempty"`
	Protocol     string        `json:"protocol,omitempty"`
	Generation   int32         `json:"generation"`
	Leader       string        `json:"leader,omitempty"`
	StateTimeMs  int64         `json:"state_time_ms"` // when the group entered State (Empty: empty since), Unix ms
	Members      []GroupMember `json:"members,omitempty"`
	// Consumer is set for a group of the KIP-848 consumer protocol
	// (ConsumerGroupHeartbeat); such a group has no classic Members.
	Consumer *ConsumerGroupState `json:"consumer,omitempty"`
	Revision int64               `json:"-"` // etcd mod revision when read
}

// ConsumerGroupState is what a KIP-848 consumer group needs to survive a
// coordinator failover: the epochs, every member with its epoch, its
// subscription and the partitions it owns, and the target assignment.
// It is rewritten whenever one of them changes (not on plain heartbeats).
type ConsumerGroupState struct {
	GroupEpoch      int32 `json:"group_epoch"`
	AssignmentEpoch int32 `json:"assignment_epoch"`
	// Assignor is the server-side assignor of the target assignment.
	Assignor string `json:"assignor,omitempty"`
	// SubscribedTopics is the partition count of every topic some member
	// subscribes to, as of the group epoch: a change bumps the epoch.
	SubscribedTopics map[string]int32      `json:"subscribed_topics,omitempty"`
	Members          []ConsumerGroupMember `json:"members,omitempty"`
}

// ConsumerGroupMember is one member of a KIP-848 consumer group.
// Partitions are by topic name, sorted.
type ConsumerGroupMember struct {
	MemberID           string   `json:"member_id"`
	InstanceID         string   `json:"instance_id,omitempty"`
	RackID             string   `json:"rack_id,omitempty"`
	ClientID           string   `json:"client_id"`
	ClientHost         string   `json:"client_host"`
	RebalanceTimeoutMs int32    `json:"rebalance_timeout_ms"`
	SubscribedTopics   []string `json:"subscribed_topics,omitempty"`
	SubscribedRegex    string   `json:"subscribed_regex,omitempty"`
	ServerAssignor     string   `json:"server_assignor,omitempty"`
	// State is the reconciliation state: "stable", "unrevoked_partitions"
	// or "unreleased_partitions".
	State string `json:"state"`
	// Left marks a static member that left with epoch -2: it keeps its
	// assignment for the session timeout, for its instance to take over.
	Left                bool               `json:"left,omitempty"`
	MemberEpoch         int32              `json:"member_epoch"`
	PreviousMemberEpoch int32              `json:"previous_member_epoch"`
	Assigned            map[string][]int32 `json:"assigned,omitempty"`
	PendingRevocation   map[string][]int32 `json:"pending_revocation,omitempty"`
	Target              map[string][]int32 `json:"target,omitempty"`
}

// GroupOffset is the value of groups/<group>/offsets/<topic>/<p>: a committed
// offset.
type GroupOffset struct {
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"`
	Offset       int64  `json:"offset"`
	LeaderEpoch  int32  `json:"leader_epoch"` // -1: unknown
	Metadata     string `json:"metadata,omitempty"`
	CommitTimeMs int64  `json:"commit_time_ms"`           // Unix ms
	ExpireTimeMs int64  `json:"expire_time_ms,omitempty"` // explicit expiry (OffsetCommit v1-v4), 0: none
	Revision     int64  `json:"-"`                        // etcd mod revision when read
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// GroupData is everything stored for one group.
type GroupData struct {
	Group string
	// State is nil when the group never completed a generation (only
	// offsets were committed, by a consumer that manages its own partitions).
	State *GroupState
	// StateRevision is the mod revision of the state key, 0 when absent: the
	// value to pass as stateRevision to the writes below.
	StateRevision int64
	Offsets       []GroupOffset // sorted by topic, then partition
	// TxnOffsets are the pending offsets of open transactions
	// (TxnOffsetCommit), by producer id.
	TxnOffsets []GroupTxnOffsets
}

// GroupTxnOffsets is the value of groups/<group>/txn/<producer id>: the
// offsets a transactional producer committed in its open transaction,
// visible only once its commit marker reaches the group (KIP-98).
type GroupTxnOffsets struct {
	ProducerID      int64         `json:"producer_id"`
	ProducerEpoch   int16         `json:"producer_epoch"`
	TransactionalID string        `json:"transactional_id"`
	Offsets         []GroupOffset `json:"offsets"`
	Revision        int64         `json:"-"`
}

// Empty reports whether nothing is stored for the group.
func (d GroupData) Empty() bool {
	return d.State == nil && len(d.Offsets) == 0 && len(d.TxnOffsets) == 0
}

// LoadGroup reads a group's state and committed offsets in one range read.
// A group with nothing stored comes back Empty(), not as an error.
func (c *Client) LoadGroup(ctx context.Context, group string) (GroupData, error) {
	resp, err := c.cli.Get(ctx, c.keys.Group(group), clientv3.WithPrefix())
	if err != nil {
		return GroupData{}, etcdErr(fmt.Sprintf("load group %q", group), err)
	}
	all, err := c.decodeGroups(resp.Kvs)
	if err != nil {
		return GroupData{}, err
	}
	for _, d := range all {
		if d.Group == group {
			return d, nil
		}
	}
	return GroupData{Group: group}, nil
}

// AllGroups reads every group (state and offsets) in one range read, sorted
// by group id.
func (c *Client) AllGroups(ctx context.Context) ([]GroupData, error) {
	resp, err := c.cli.Get(ctx, c.keys.Groups(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("list groups", err)
	}
	return c.decodeGroups(resp.Kvs)
}

// decodeGroups turns the keys under groups/ into GroupData, one per group.
// Undecodable keys are logged and skipped: one bad value must not hide every
// other group.
func (c *Client) decodeGroups(kvs []*mvccpb.KeyValue) ([]GroupData, error) {
	byName := map[string]*GroupData{}
	var names []string
	for _, kv := range kvs {
		key := string(kv.Key)
		name, sub, err := c.keys.parseGroupKey(key)
		if err != nil {
			c.log.Error("meta: skipping unexpected group key", "key", key, "err", err)
			continue
		}
		d := byName[name]
		if d == nil {
			d = &GroupData{Group: name}
			byName[name] = d
			names = append(names, name)
		}
		switch {
		case sub == "state":
			var st GroupState
			if err := json.Unmarshal(kv.Value, &st); err != nil {
				c.log.Error("meta: skipping undecodable group state", "key", key, "err", err)
				continue
			}
			st.Group = name
			st.Revision = kv.ModRevision
			d.State = &st
			d.StateRevision = st.Revision
		case strings.HasPrefix(sub, "offsets/"):
			topic, p, ok := parseGroupOffset(sub)
			if !ok {
				c.log.Error("meta: skipping unexpected group offset key", "key", key)
				continue
			}
			var o GroupOffset
			if err := json.Unmarshal(kv.Value, &o); err != nil {
				c.log.Error("meta: skipping undecodable group offset", "key", key, "err", err)
				continue
			}
			o.Topic, o.Partition, o.Revision = topic, p, kv.ModRevision
			d.Offsets = append(d.Offsets, o)
		case strings.HasPrefix(sub, "txn/"):
			pid, err := strconv.ParseInt(strings.TrimPrefix(sub, "txn/"), 10, 64)
			var t GroupTxnOffsets
			if err == nil {
				err = json.Unmarshal(kv.Value, &t)
			}
			if err != nil || pid < 0 {
				c.log.Error("meta: skipping undecodable pending transactional offsets", "key", key, "err", err)
				continue
			}
			t.ProducerID, t.Revision = pid, kv.ModRevision
			d.TxnOffsets = append(d.TxnOffsets, t)
		default:
			c.log.Error("meta: skipping unexpected group key", "key", key)
		}
	}
	sort.Strings(names)
	out := make([]GroupData, 0, len(names))
	for _, n := range names {
		d := byName[n]
		sort.Slice(d.Offsets, func(i, j int) bool {
			a, b := d.Offsets[i], d.Offsets[j]
			return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
		})
		out = append(out, *d)
	}
	return out, nil
}

// stateGuard is the comparison every group write carries: the state key's
// mod revision is still the one the writer knows (0: absent).
func (c *Client) stateGuard(group string, stateRevision int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(c.keys.GroupState(group)), "=", stateRevision)
}

// groupTxn runs ops if the group's state key still has mod revision
// stateRevision. It returns the revision of the transaction, or an error
// wrapping ErrConflict (with the current revision in the message) when the
// state changed.
func (c *Client) groupTxn(ctx context.Context, what, group string, stateRevision int64, ops []clientv3.Op) (int64, error) {
	if stateRevision < 0 {
		return 0, fmt.Errorf("meta: %s of group %q: negative state revision: %w", what, group, ErrInvalid)
	}
	sk := c.keys.GroupState(group)
	resp, err := c.cli.Txn(ctx).If(c.stateGuard(group, stateRevision)).Then(ops...).Else(clientv3.OpGet(sk, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return 0, etcdErr(fmt.Sprintf("%s of group %q", what, group), err)
	}
	if !resp.Succeeded {
		var cur int64
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			cur = kvs[0].ModRevision
		}
		return 0, fmt.Errorf("meta: %s of group %q: group state at revision %d, expected %d: %w", what, group, cur, stateRevision, ErrConflict)
	}
	return resp.Header.Revision, nil
}

// SaveGroupState writes st (the group's state after a generation change) if
// the state key still has mod revision stateRevision (0: it must not exist),
// and returns the new revision. A different revision means somebody else
// wrote the group: ErrConflict, nothing written.
func (c *Client) SaveGroupState(ctx context.Context, st GroupState, stateRevision int64) (int64, error) {
	val, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	return c.groupTxn(ctx, "save state", st.Group, stateRevision, []clientv3.Op{clientv3.OpPut(c.keys.GroupState(st.Group), string(val))})
}

// Writes of many offsets go in transactions of at most maxTxnOps operations,
// one after the other, each guarded on its own; the offsets of one
// partition are independent of the others', so each transaction is a
// correct commit (or deletion) of its part. They return how many were
// written before the first failure, so the caller knows exactly which
// partitions' commits stand.

// CommitGroupOffsets writes offsets, guarded like SaveGroupState, in order
// and in transactions of up to 128. It returns the mod revision of each
// offset written: revs[i] for offsets[i]; when err is not nil, offsets from
// len(revs) on were not written. Topic names must be valid Kafka names.
func (c *Client) CommitGroupOffsets(ctx context.Context, group string, stateRevision int64, offsets []GroupOffset) (revs []int64, err error) {
	ops := make([]clientv3.Op, 0, len(offsets))
	for _, o := range offsets {
		if err := validTopicName(o.Topic); err != nil {
			return nil, err
		}
		if o.Partition < 0 {
			return nil, fmt.Errorf("meta: commit %s-%d for group %q: negative partition: %w", o.Topic, o.Partition, group, ErrInvalid)
		}
		val, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		ops = append(ops, clientv3.OpPut(c.keys.GroupOffset(group, o.Topic, o.Partition), string(val)))
	}
	revs = make([]int64, 0, len(offsets))
	for chunk := range slices.Chunk(ops, maxTxnOps) {
		rev, err := c.groupTxn(ctx, "commit offsets", group, stateRevision, chunk)
		if err != nil {
			return revs, err
		}
		for range chunk {
			revs = append(revs, rev)
		}
	}
	return revs, nil
}

// DeleteGroupOffsets deletes the committed offsets of parts, guarded like
// SaveGroupState, in transactions of up to 128, and returns how many of
// parts it got through (all of them unless err is not nil). Offsets that do
// not exist are ignored.
func (c *Client) DeleteGroupOffsets(ctx context.Context, group string, stateRevision int64, parts []TopicPartition) (int, error) {
	ops := make([]clientv3.Op, 0, len(parts))
	for _, tp := range parts {
		if err := validTopicName(tp.Topic); err != nil {
			return 0, err
		}
		ops = append(ops, clientv3.OpDelete(c.keys.GroupOffset(group, tp.Topic, tp.Partition)))
	}
	n := 0
	for chunk := range slices.Chunk(ops, maxTxnOps) {
		if _, err := c.groupTxn(ctx, "delete offsets", group, stateRevision, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}

// ExpireGroupOffsets deletes the given offsets if the group's state key
// still has mod revision stateRevision and each offset key still has the
// mod revision in its Revision field (so a commit that landed after the
// caller decided to expire it survives), in transactions of up to 127
// offsets, and returns how many it deleted: offsets[:n]. A mismatch in a
// transaction is ErrConflict and nothing of that transaction (or after it)
// is deleted.
func (c *Client) ExpireGroupOffsets(ctx context.Context, group string, stateRevision int64, offsets []GroupOffset) (int, error) {
	if stateRevision < 0 {
		return 0, fmt.Errorf("meta: expire offsets of group %q: negative state revision: %w", group, ErrInvalid)
	}
	for _, o := range offsets {
		if err := validTopicName(o.Topic); err != nil {
			return 0, err
		}
	}
	n := 0
	// One comparison per offset plus the state guard.
	for chunk := range slices.Chunk(offsets, maxTxnOps-1) {
		cmps := []clientv3.Cmp{c.stateGuard(group, stateRevision)}
		ops := make([]clientv3.Op, 0, len(chunk))
		for _, o := range chunk {
			k := c.keys.GroupOffset(group, o.Topic, o.Partition)
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", o.Revision))
			ops = append(ops, clientv3.OpDelete(k))
		}
		resp, err := c.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return n, etcdErr(fmt.Sprintf("expire offsets of group %q", group), err)
		}
		if !resp.Succeeded {
			return n, fmt.Errorf("meta: expire offsets of group %q: group state or an offset changed: %w", group, ErrConflict)
		}
		n += len(chunk)
	}
	return n, nil
}

// DeleteGroup deletes the group's state and all its offsets in one
// transaction, guarded like SaveGroupState.
func (c *Client) DeleteGroup(ctx context.Context, group string, stateRevision int64) error {
	_, err := c.groupTxn(ctx, "delete", group, stateRevision, []clientv3.Op{clientv3.OpDelete(c.keys.Group(group), clientv3.WithPrefix())})
	return err
}

// SaveGroupTxnOffsets writes the pending offsets of producer t.ProducerID
// (all of them: the value replaces the last), guarded like
// SaveGroupState, and returns the revision written.
func (c *Client) SaveGroupTxnOffsets(ctx context.Context, group string, stateRevision int64, t GroupTxnOffsets) (int64, error) {
	if t.ProducerID < 0 {
		return 0, fmt.Errorf("meta: pending offsets of group %q: negative producer id: %w", group, ErrInvalid)
	}
	for _, o := range t.Offsets {
		if err := validTopicName(o.Topic); err != nil {
			return 0, err
		}
	}
	val, err := json.Marshal(t)
	if err != nil {
		return 0, err
	}
	return c.groupTxn(ctx, "save pending transactional offsets", group, stateRevision,
		[]clientv3.Op{clientv3.OpPut(c.keys.GroupTxnOffsets(group, t.ProducerID), string(val))})
}

// CompleteGroupTxnOffsets ends producer pid's pending offsets in the
// group: on commit they are written as committed offsets (in
// transactions of up to 127, the last of which also deletes the pending
// key, so a retry after a partial failure writes the same offsets again
// and nothing is lost), on abort the pending key is deleted. Guarded like
// SaveGroupState. It returns the revision of the last transaction.
func (c *Client) CompleteGroupTxnOffsets(ctx context.Context, group string, stateRevision int64, pid int64, commit bool, offsets []GroupOffset) (int64, error) {
	del := clientv3.OpDelete(c.keys.GroupTxnOffsets(group, pid))
	var ops []clientv3.Op
	if commit {
		for _, o := range offsets {
			if err := validTopicName(o.Topic); err != nil {
				return 0, err
			}
			val, err := json.Marshal(o)
			if err != nil {
				return 0, err
			}
			ops = append(ops, clientv3.OpPut(c.keys.GroupOffset(group, o.Topic, o.Partition), string(val)))
		}
	}
	chunks := slices.Collect(slices.Chunk(ops, maxTxnOps-1))
	if len(chunks) == 0 {
		chunks = [][]clientv3.Op{nil}
	}
	var rev int64
	for i, chunk := range chunks {
		if i == len(chunks)-1 {
			chunk = append(chunk, del)
		}
		var err error
		if rev, err = c.groupTxn(ctx, "complete pending transactional offsets", group, stateRevision, chunk); err != nil {
			return 0, err
		}
	}
	return rev, nil
}
