package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Topic is the value of topics/<name>. In JSON the ID is Kafka's textual form
// of a UUID: 22 characters of unpadded URL-safe base64 (what kafka-topics
// --describe prints as TopicId).
type Topic struct {
	Name              string            `json:"name"`
	ID                [16]byte          `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"` // only explicitly set topic configs (Kafka names)
	Revision          int64             `json:"-"`                 // etcd mod revision when read

	// pending is a partition write in progress (pending.go): while it is
	// set, Partitions counts only the partitions that are live.
	pending *pendingPartitions
}

type topicJSON struct {
	Name              string            `json:"name"`
	ID                string            `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
	Pending           *pendingJSON      `json:"pending,omitempty"`
}

// MarshalJSON writes the ID as unpadded URL-safe base64.
func (t Topic) MarshalJSON() ([]byte, error) {
	return json.Marshal(topicJSON{
		Name: t.Name, ID: encodeID(t.ID), Partitions: t.Partitions,
		ReplicationFactor: t.ReplicationFactor, Configs: t.Configs,
		Pending: t.pending.toJSON(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *Topic) UnmarshalJSON(b []byte) error {
	var j topicJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	id, err := decodeID(j.ID)
	if err != nil {
		return err
	}
	*t = Topic{Name: j.Name, ID: id, Partitions: j.Partitions, ReplicationFactor: j.ReplicationFactor, Configs: j.Configs}
	if j.Pending != nil {
		if want := int(j.Pending.Partitions) - int(j.Partitions); want < 1 || len(j.Pending.States) != want {
			return fmt.Errorf("plan of %d partition states for partitions %d..%d", len(j.Pending.States), j.Partitions, j.Pending.Partitions-1)
		}
		t.pending = j.Pending.fromJSON(j.Name, j.Partitions)
	}
	return nil
}

// creating reports whether the topic is still being created: none of its
// partitions is live yet, so no reader may see it.
func (t Topic) creating() bool { return t.pending != nil && t.Partitions == 0 }

// PartitionState is the value of partitions/<topic>/<p>. Leader -1 means no
// leader. Its LeaderEpoch is mirrored in epochs/<topic>/<p> (the fencing key).
type PartitionState struct {
	Topic       string  `json:"topic"`
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	// An ongoing reassignment (KIP-455): Replicas is the union of the old
	// and the target set while Adding catch up; then Removing leave.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
	Revision         int64   `json:"-"` // etcd mod revision when read
}

// NewTopicID returns a random UUIDv4, never all-zero.
func NewTopicID() [16]byte { return newUUID() }

// validTopicName is Kafka's rule: 1..249 characters of [a-zA-Z0-9._-], not "."
// or "..". It also guarantees a name never breaks the key layout.
func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("meta: topic name %q: %w", name, ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return fmt.Errorf("meta: topic name %q: illegal character %q: %w", name, ch, ErrInvalid)
		}
	}
	return nil
}

// checkParts checks that parts are exactly partitions [from, to) of topic
// (Topic may be left empty; it is filled in) and returns them in partition
// order.
func checkParts(topic string, from, to int32, parts []PartitionState) ([]PartitionState, error) {
	if int(to-from) != len(parts) {
		return nil, fmt.Errorf("meta: topic %s: %d partition states for partitions %d..%d: %w", topic, len(parts), from, to-1, ErrInvalid)
	}
	out := make([]PartitionState, to-from)
	seen := make([]bool, to-from)
	for _, ps := range parts {
		if ps.Topic == "" {
			ps.Topic = topic
		}
		if ps.Topic != topic {
			return nil, fmt.Errorf("meta: topic %s: partition state names topic %q: %w", topic, ps.Topic, ErrInvalid)
		}
		if ps.Partition < from || ps.Partition >= to || seen[ps.Partition-from] {
			return nil, fmt.Errorf("meta: topic %s: partition %d unexpected or repeated (want %d..%d once each): %w", topic, ps.Partition, from, to-1, ErrInvalid)
		}
		seen[ps.Partition-from] = true
		if ps.LeaderEpoch < 0 {
			return nil, fmt.Errorf("meta: %s-%d: negative leader epoch: %w", topic, ps.Partition, ErrInvalid)
		}
		out[ps.Partition-from] = ps
	}
	return out, nil
}

// partitionOps returns the puts of the states' partition and fencing keys:
// two operations per partition.
func (c *Client) partitionOps(parts []PartitionState) ([]clientv3.Op, error) {
	ops := make([]clientv3.Op, 0, 2*len(parts))
	for _, ps := range parts {
		val, err := json.Marshal(ps)
		if err != nil {
			return nil, err
		}
		ops = append(ops,
			clientv3.OpPut(c.keys.Partition(ps.Topic, ps.Partition), string(val)),
			clientv3.OpPut(c.keys.Epoch(ps.Topic, ps.Partition), strconv.FormatInt(int64(ps.LeaderEpoch), 10)))
	}
	return ops, nil
}

// CreateTopic writes the topic and all its partition states (with their
// fencing keys), if the topic does not exist yet (ErrTopicExists
// otherwise). parts must hold partitions 0..t.Partitions-1 once each. A zero
// t.ID is replaced by NewTopicID().
//
// A topic whose keys fit one transaction (up to 63 partitions, within
// etcd's default of 128 operations) is written in one. A larger one is
// written in steps (pending.go): first the topic record holding the whole
// plan, invisible to readers, then the partitions, then the record flipped
// live. Readers never see part of a topic; a creation cut short is
// completed by the next CreateTopic of the same name (which then answers
// ErrTopicExists) or by the controller (CompletePendingTopics).
func (c *Client) CreateTopic(ctx context.Context, t Topic, parts []PartitionState) error {
	if err := validTopicName(t.Name); err != nil {
		return err
	}
	if t.Partitions < 1 {
		return fmt.Errorf("meta: create topic %s: %d partitions: %w", t.Name, t.Partitions, ErrInvalid)
	}
	if t.ID == ([16]byte{}) {
		t.ID = NewTopicID()
	}
	t.pending = nil
	ps, err := checkParts(t.Name, 0, t.Partitions, parts)
	if err != nil {
		return err
	}
	key := c.keys.Topic(t.Name)
	absent := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	if !fitsOneTxn(len(ps)) {
		t.Partitions, t.pending = 0, newPending(t.Partitions, ps)
	}
	val, err := encodeTopic(t)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(key, string(val))}
	if t.pending == nil {
		pops, err := c.partitionOps(ps)
		if err != nil {
			return err
		}
		ops = append(ops, pops...)
	}
	resp, err := c.cli.Txn(ctx).If(absent).Then(ops...).Commit()
	if err != nil {
		return etcdErr("create topic "+t.Name, err)
	}
	if !resp.Succeeded {
		return c.topicExists(ctx, t.Name)
	}
	if t.pending == nil {
		return nil
	}
	if err := c.pendingStep(0); err != nil {
		return err
	}
	if _, err := c.completePending(ctx, t.Name); err != nil {
		return fmt.Errorf("meta: create topic %s: %w", t.Name, err)
	}
	return nil
}

// topicExists is CreateTopic's answer when the topic key is taken:
// ErrTopicExists, after completing the creation if it was cut short (so
// that the topic a retry is told about really exists).
func (c *Client) topicExists(ctx context.Context, name string) error {
	t, err := c.rawTopic(ctx, name)
	if err == nil && t.creating() {
		_, err = c.completePending(ctx, name)
	}
	if err != nil && !errors.Is(err, ErrTopicNotFound) {
		return fmt.Errorf("meta: create topic %s: exists but being created; completing it: %w", name, err)
	}
	return fmt.Errorf("meta: create topic %s: %w", name, ErrTopicExists)
}

// encodeTopic is the topic record's value, refused (ErrInvalid) when it
// would not fit one etcd request.
func encodeTopic(t Topic) ([]byte, error) {
	val, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	if len(val) > maxValueBytes {
		return nil, fmt.Errorf("meta: topic %s: record of %d bytes (plan of %d partitions) exceeds %d: %w", t.Name, len(val), t.pending.count(), maxValueBytes, ErrInvalid)
	}
	return val, nil
}

func decodeTopic(key []byte, val []byte, rev int64) (Topic, error) {
	var t Topic
	if err := json.Unmarshal(val, &t); err != nil {
		return Topic{}, fmt.Errorf("meta: decode %s: %w", key, err)
	}
	t.Revision = rev
	return t, nil
}

// Topic reads one topic; ErrTopicNotFound if it does not exist or is still
// being created.
func (c *Client) Topic(ctx context.Context, name string) (Topic, error) {
	t, err := c.rawTopic(ctx, name)
	if err == nil && t.creating() {
		return Topic{}, fmt.Errorf("meta: topic %s is being created: %w", name, ErrTopicNotFound)
	}
	return t, err
}

// rawTopic reads the topic record, whatever its state.
func (c *Client) rawTopic(ctx context.Context, name string) (Topic, error) {
	if err := validTopicName(name); err != nil {
		return Topic{}, fmt.Errorf("meta: topic %q: %w", name, ErrTopicNotFound)
	}
	resp, err := c.cli.Get(ctx, c.keys.Topic(name))
	if err != nil {
		return Topic{}, etcdErr("get topic "+name, err)
	}
	if len(resp.Kvs) == 0 {
		return Topic{}, fmt.Errorf("meta: topic %s: %w", name, ErrTopicNotFound)
	}
	kv := resp.Kvs[0]
	return decodeTopic(kv.Key, kv.Value, kv.ModRevision)
}

// Topics lists every topic, sorted by name; topics still being created are
// left out.
func (c *Client) Topics(ctx context.Context) ([]Topic, error) {
	all, err := c.allTopics(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, t := range all {
		if !t.creating() {
			out = append(out, t)
		}
	}
	return out, nil
}

// allTopics lists every topic record, sorted by name.
func (c *Client) allTopics(ctx context.Context) ([]Topic, error) {
	resp, err := c.cli.Get(ctx, c.keys.Topics(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("list topics", err)
	}
	out := make([]Topic, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		t, err := decodeTopic(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteTopic deletes, in one transaction, topics/<t> and the prefixes
// partitions/<t>/, epochs/<t>/, tier/<t>/ and log-start/<t>/ (the manifest goes with the topic;
// its objects are orphans for the tiering sweeper). ErrTopicNotFound if the
// topic does not exist. A topic still being created is deleted too (its
// creation then stops at its next step). Committed group offsets are not
// touched.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	if err := validTopicName(name); err != nil {
		return fmt.Errorf("meta: delete topic %q: %w", name, ErrTopicNotFound)
	}
	key := c.keys.Topic(name)
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(
			clientv3.OpDelete(key),
			clientv3.OpDelete(c.keys.Partitions(name), clientv3.WithPrefix()),
			clientv3.OpDelete(c.keys.Epochs(name), clientv3.WithPrefix()),
			clientv3.OpDelete(c.keys.TierTopic(name), clientv3.WithPrefix()),
			clientv3.OpDelete(c.keys.LogStarts(name), clientv3.WithPrefix()),
			clientv3.OpDelete(c.keys.IcebergTable(name)),
		).
		Commit()
	if err != nil {
		return etcdErr("delete topic "+name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("meta: delete topic %s: %w", name, ErrTopicNotFound)
	}
	return nil
}

// UpdateTopic reads the topic, applies fn to it and writes it back if the
// topic did not change in between (compare on its mod revision). On a lost
// race it re-reads and calls fn again — fn may run several times and must only
// change the Topic it is given — up to a few times, then ErrConflict. An error
// from fn is returned as is. fn may change Configs and ReplicationFactor; it
// must not change Name, ID or Partitions (use AddPartitions).
func (c *Client) UpdateTopic(ctx context.Context, name string, fn func(*Topic) error) (Topic, error) {
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		if attempt > 0 {
			if err := casBackoff(ctx, attempt); err != nil {
				return Topic{}, err
			}
		}
		old, err := c.Topic(ctx, name)
		if err != nil {
			return Topic{}, err
		}
		t := old
		t.Configs = maps.Clone(old.Configs)
		if err := fn(&t); err != nil {
			return Topic{}, err
		}
		if t.Name != old.Name || t.ID != old.ID || t.Partitions != old.Partitions {
			return Topic{}, fmt.Errorf("meta: update topic %s: name, id and partition count cannot change here: %w", name, ErrInvalid)
		}
		if len(t.Configs) == 0 {
			t.Configs = nil
		}
		if t, ok, err := c.casTopic(ctx, "update topic", t, old.Revision); err != nil || ok {
			return t, err
		}
	}
	return Topic{}, fmt.Errorf("meta: update topic %s: %w", name, ErrConflict)
}

// casTopic writes the topic record t if its mod revision is still rev, and
// returns t with its new revision; ok is false (and nothing written) when
// the record changed.
func (c *Client) casTopic(ctx context.Context, what string, t Topic, rev int64) (_ Topic, ok bool, _ error) {
	val, err := encodeTopic(t)
	if err != nil {
		return Topic{}, false, err
	}
	key := c.keys.Topic(t.Name)
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(val))).
		Commit()
	if err != nil {
		return Topic{}, false, etcdErr(what+" "+t.Name, err)
	}
	if !resp.Succeeded {
		return Topic{}, false, nil
	}
	t.Revision = resp.Header.Revision
	return t, true, nil
}

// AddPartitions raises the topic's partition count to newCount and writes the
// new partitions' states (parts: exactly partitions old count..newCount-1),
// in one transaction that applies only if the topic did not change since it
// was read; more partitions than one transaction holds are written in steps
// like a large CreateTopic, the new ones invisible until all are written. An
// earlier AddPartitions cut short is completed first. A concurrent config
// change makes it retry; a concurrent partition change makes parts wrong
// (ErrInvalid). ErrConflict after a few lost races.
func (c *Client) AddPartitions(ctx context.Context, name string, newCount int32, parts []PartitionState) error {
	key := c.keys.Topic(name)
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		if attempt > 0 {
			if err := casBackoff(ctx, attempt); err != nil {
				return err
			}
		}
		t, err := c.Topic(ctx, name)
		if err != nil {
			return err
		}
		if t.pending != nil {
			if _, err := c.completePending(ctx, name); err != nil {
				return fmt.Errorf("meta: add partitions to %s: complete the previous addition: %w", name, err)
			}
			continue
		}
		if newCount <= t.Partitions {
			return fmt.Errorf("meta: add partitions to %s: has %d, asked for %d: %w", name, t.Partitions, newCount, ErrInvalid)
		}
		ps, err := checkParts(name, t.Partitions, newCount, parts)
		if err != nil {
			return err
		}
		rev := t.Revision
		var ops []clientv3.Op
		if fitsOneTxn(len(ps)) {
			t.Partitions = newCount
			if ops, err = c.partitionOps(ps); err != nil {
				return err
			}
		} else {
			t.pending = newPending(newCount, ps)
		}
		val, err := encodeTopic(t)
		if err != nil {
			return err
		}
		ops = append([]clientv3.Op{clientv3.OpPut(key, string(val))}, ops...)
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(ops...).
			Commit()
		if err != nil {
			return etcdErr("add partitions to "+name, err)
		}
		if !resp.Succeeded {
			continue
		}
		if t.pending == nil {
			return nil
		}
		if err := c.pendingStep(0); err != nil {
			return err
		}
		if _, err := c.completePending(ctx, name); err != nil {
			return fmt.Errorf("meta: add partitions to %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("meta: add partitions to %s: %w", name, ErrConflict)
}

// PartitionStates reads every live partition state of a topic, sorted by
// partition; ErrTopicNotFound if the topic does not exist or is still being
// created. Partitions of an AddPartitions in progress are left out.
func (c *Client) PartitionStates(ctx context.Context, topic string) ([]PartitionState, error) {
	if err := validTopicName(topic); err != nil {
		return nil, fmt.Errorf("meta: topic %q: %w", topic, ErrTopicNotFound)
	}
	key := c.keys.Topic(topic)
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpGet(key), clientv3.OpGet(c.keys.Partitions(topic), clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return nil, etcdErr("partition states of "+topic, err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("meta: topic %s: %w", topic, ErrTopicNotFound)
	}
	tkv := resp.Responses[0].GetResponseRange().GetKvs()[0]
	t, err := decodeTopic(tkv.Key, tkv.Value, tkv.ModRevision)
	if err != nil {
		return nil, err
	}
	if t.creating() {
		return nil, fmt.Errorf("meta: topic %s is being created: %w", topic, ErrTopicNotFound)
	}
	kvs := resp.Responses[1].GetResponseRange().GetKvs()
	out := make([]PartitionState, 0, len(kvs))
	for _, kv := range kvs {
		var ps PartitionState
		if err := json.Unmarshal(kv.Value, &ps); err != nil {
			return nil, fmt.Errorf("meta: decode %s: %w", kv.Key, err)
		}
		if ps.Partition >= t.Partitions {
			continue // written by an AddPartitions in progress
		}
		ps.Revision = kv.ModRevision
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}
