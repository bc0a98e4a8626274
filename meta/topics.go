package meta

import (
	"context"
	"encoding/json"
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
}

type topicJSON struct {
	Name              string            `json:"name"`
	ID                string            `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
}

// MarshalJSON writes the ID as unpadded URL-safe base64.
func (t Topic) MarshalJSON() ([]byte, error) {
	return json.Marshal(topicJSON{
		Name: t.Name, ID: encodeID(t.ID), Partitions: t.Partitions,
		ReplicationFactor: t.ReplicationFactor, Configs: t.Configs,
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
	return nil
}

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

// partitionOps checks that parts are exactly partitions [from, to) of topic
// (Topic may be left empty; it is filled in) and returns the puts of their
// state and fencing keys.
func (c *Client) partitionOps(topic string, from, to int32, parts []PartitionState) ([]clientv3.Op, error) {
	if int(to-from) != len(parts) {
		return nil, fmt.Errorf("meta: topic %s: %d partition states for partitions %d..%d: %w", topic, len(parts), from, to-1, ErrInvalid)
	}
	seen := make([]bool, to-from)
	ops := make([]clientv3.Op, 0, 2*len(parts))
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
		val, err := json.Marshal(ps)
		if err != nil {
			return nil, err
		}
		ops = append(ops,
			clientv3.OpPut(c.keys.Partition(topic, ps.Partition), string(val)),
			clientv3.OpPut(c.keys.Epoch(topic, ps.Partition), strconv.FormatInt(int64(ps.LeaderEpoch), 10)))
	}
	return ops, nil
}

// CreateTopic writes the topic and all its partition states (with their
// fencing keys) in one transaction, if the topic does not exist yet
// (ErrTopicExists otherwise). parts must hold partitions 0..t.Partitions-1
// once each. A zero t.ID is replaced by NewTopicID().
//
// One transaction writes 1 + 2×partitions keys; the embedded etcd allows 4096
// operations per transaction, an external one --max-txn-ops (default 128).
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
	ops, err := c.partitionOps(t.Name, 0, t.Partitions, parts)
	if err != nil {
		return err
	}
	val, err := json.Marshal(t)
	if err != nil {
		return err
	}
	key := c.keys.Topic(t.Name)
	ops = append([]clientv3.Op{clientv3.OpPut(key, string(val))}, ops...)
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(ops...).
		Commit()
	if err != nil {
		return etcdErr("create topic "+t.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("meta: create topic %s: %w", t.Name, ErrTopicExists)
	}
	return nil
}

func decodeTopic(key []byte, val []byte, rev int64) (Topic, error) {
	var t Topic
	if err := json.Unmarshal(val, &t); err != nil {
		return Topic{}, fmt.Errorf("meta: decode %s: %w", key, err)
	}
	t.Revision = rev
	return t, nil
}

// Topic reads one topic; ErrTopicNotFound if it does not exist.
func (c *Client) Topic(ctx context.Context, name string) (Topic, error) {
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

// Topics lists every topic, sorted by name.
func (c *Client) Topics(ctx context.Context) ([]Topic, error) {
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
// partitions/<t>/, epochs/<t>/ and tier/<t>/ (the manifest goes with the topic;
// its objects are orphans for the tiering sweeper). ErrTopicNotFound if the
// topic does not exist. Committed group offsets are not touched.
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
	key := c.keys.Topic(name)
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
		val, err := json.Marshal(t)
		if err != nil {
			return Topic{}, err
		}
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", old.Revision)).
			Then(clientv3.OpPut(key, string(val))).
			Commit()
		if err != nil {
			return Topic{}, etcdErr("update topic "+name, err)
		}
		if resp.Succeeded {
			t.Revision = resp.Header.Revision
			return t, nil
		}
	}
	return Topic{}, fmt.Errorf("meta: update topic %s: %w", name, ErrConflict)
}

// AddPartitions raises the topic's partition count to newCount and writes the
// new partitions' states (parts: exactly partitions old count..newCount-1), in
// one transaction that applies only if the topic did not change since it was
// read. A concurrent config change makes it retry; a concurrent partition
// change makes parts wrong (ErrInvalid). ErrConflict after a few lost races.
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
		if newCount <= t.Partitions {
			return fmt.Errorf("meta: add partitions to %s: has %d, asked for %d: %w", name, t.Partitions, newCount, ErrInvalid)
		}
		ops, err := c.partitionOps(name, t.Partitions, newCount, parts)
		if err != nil {
			return err
		}
		rev := t.Revision
		t.Partitions = newCount
		val, err := json.Marshal(t)
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
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("meta: add partitions to %s: %w", name, ErrConflict)
}

// PartitionStates reads every partition state of a topic, sorted by
// partition; ErrTopicNotFound if the topic does not exist.
func (c *Client) PartitionStates(ctx context.Context, topic string) ([]PartitionState, error) {
	if err := validTopicName(topic); err != nil {
		return nil, fmt.Errorf("meta: topic %q: %w", topic, ErrTopicNotFound)
	}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(c.keys.Topic(topic)), ">", 0)).
		Then(clientv3.OpGet(c.keys.Partitions(topic), clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return nil, etcdErr("partition states of "+topic, err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("meta: topic %s: %w", topic, ErrTopicNotFound)
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	out := make([]PartitionState, 0, len(kvs))
	for _, kv := range kvs {
		var ps PartitionState
		if err := json.Unmarshal(kv.Value, &ps); err != nil {
			return nil, fmt.Errorf("meta: decode %s: %w", kv.Key, err)
		}
		ps.Revision = kv.ModRevision
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}
