package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Tier manifests. tier/<topic>/<p>/<base offset> holds one TierSegment: an
// object in the cold tier holding offsets [BaseOffset, LastOffset] of the
// partition. The partition's manifest is the set of those keys; its entries
// are one contiguous run of offsets (checked by every write: no gap, no
// overlap; removals take a prefix). Every write is fenced by the partition's leader epoch (only
// the leader tiers), and the writes that replace or remove entries also
// compare each entry's mod revision, so a merge and a retention pass that
// race cannot both apply. The object is always stored before its entry is
// written and deleted only after its entry is gone: the manifest never names
// a missing object (docs/format/parquet.md).

// TierEpoch is one leader epoch of a tiered segment and the first offset
// written in it.
type TierEpoch struct {
	Epoch       int32 `json:"epoch"`
	StartOffset int64 `json:"start_offset"`
}

// TierSegment is the value of tier/<topic>/<p>/<base offset>.
type TierSegment struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// TopicID is the topic's id (Kafka's base64 text form): objects of a
	// deleted topic with the same name are never taken for this one's.
	TopicID    string `json:"topic_id,omitempty"`
	BaseOffset int64  `json:"base_offset"`
	LastOffset int64  `json:"last_offset"`
	Records    int64  `json:"records"`
	// Object is the object key, relative to the store's prefix.
	Object string `json:"object"`
	Size   int64  `json:"size"` // object bytes
	ETag   string `json:"etag,omitempty"`
	// LogBytes is the size of the record batches in the hot log that the
	// object holds (what retention.bytes counts).
	LogBytes     int64       `json:"log_bytes"`
	MinTimestamp int64       `json:"min_timestamp"` // -1 if no record has one
	MaxTimestamp int64       `json:"max_timestamp"` // -1 if no record has one
	LeaderEpochs []TierEpoch `json:"leader_epochs,omitempty"`
	Format       int         `json:"format"`      // Parquet layout version (strata.format.version)
	UploadedAt   int64       `json:"uploaded_at"` // unix milliseconds
	Revision     int64       `json:"-"`           // etcd mod revision when read
}

func (s TierSegment) validate() error {
	if err := validTopicName(s.Topic); err != nil {
		return err
	}
	switch {
	case s.Partition < 0:
		return fmt.Errorf("meta: tier segment %s-%d: negative partition: %w", s.Topic, s.Partition, ErrInvalid)
	case s.BaseOffset < 0 || s.LastOffset < s.BaseOffset:
		return fmt.Errorf("meta: tier segment %s-%d: offsets [%d, %d]: %w", s.Topic, s.Partition, s.BaseOffset, s.LastOffset, ErrInvalid)
	case s.Object == "":
		return fmt.Errorf("meta: tier segment %s-%d/%d: no object: %w", s.Topic, s.Partition, s.BaseOffset, ErrInvalid)
	}
	return nil
}

// TierSegments reads a partition's manifest, sorted by base offset.
func (c *Client) TierSegments(ctx context.Context, topic string, partition int32) ([]TierSegment, error) {
	if err := validTopicName(topic); err != nil {
		return nil, err
	}
	resp, err := c.cli.Get(ctx, c.keys.Tier(topic, partition), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr(fmt.Sprintf("tier manifest of %s-%d", topic, partition), err)
	}
	return decodeTierSegments(resp.Kvs)
}

// decodeTierSegments decodes manifest entries, sorted by base offset.
func decodeTierSegments(kvs []*mvccpb.KeyValue) ([]TierSegment, error) {
	out := make([]TierSegment, 0, len(kvs))
	for _, kv := range kvs {
		var s TierSegment
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			return nil, fmt.Errorf("meta: decode %s: %w", kv.Key, err)
		}
		s.Revision = kv.ModRevision
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BaseOffset < out[j].BaseOffset })
	return out, nil
}

// AddTierSegment writes a new manifest entry if the partition still has
// leader epoch epoch (ErrFenced otherwise) and no entry with the same base
// offset exists (ErrConflict otherwise). It returns the entry's revision.
// The caller stores the object first.
func (c *Client) AddTierSegment(ctx context.Context, seg TierSegment, epoch int32) (int64, error) {
	return c.ReplaceTierSegments(ctx, seg.Topic, seg.Partition, epoch, nil, &seg)
}

// MaxTierSegmentsPerWrite is the most entries one ReplaceTierSegments may
// remove: each takes a comparison, beside the epoch's, the whole
// manifest's revision and the new entry's, within etcd's default of 128
// comparisons per transaction. Merges and retention passes take at most
// this many entries at a time.
const MaxTierSegmentsPerWrite = maxTxnOps - 3

// ReplaceTierSegments removes the entries old (each compared on its
// Revision, as read by TierSegments) and adds add (if not nil; its key must
// be free or one of old's), in one transaction fenced by the leader epoch.
// A merge replaces several entries with one; retention removes entries
// with add == nil. ErrFenced if the epoch moved, ErrConflict if an entry
// changed since it was read. It returns the revision of the write.
func (c *Client) ReplaceTierSegments(ctx context.Context, topic string, partition int32, epoch int32, old []TierSegment, add *TierSegment) (int64, error) {
	if err := validTopicName(topic); err != nil {
		return 0, err
	}
	if len(old) > MaxTierSegmentsPerWrite {
		return 0, fmt.Errorf("meta: tier manifest of %s-%d: %d entries in one write, at most %d: %w", topic, partition, len(old), MaxTierSegmentsPerWrite, ErrInvalid)
	}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	addKey := ""
	if add != nil {
		if add.Topic != topic || add.Partition != partition {
			return 0, fmt.Errorf("meta: tier segment of %s-%d written as %s-%d: %w", add.Topic, add.Partition, topic, partition, ErrInvalid)
		}
		if err := add.validate(); err != nil {
			return 0, err
		}
		addKey = c.keys.TierSegment(topic, partition, add.BaseOffset)
	}
	reused := false
	for _, s := range old {
		if s.Topic != topic || s.Partition != partition {
			return 0, fmt.Errorf("meta: tier segment of %s-%d removed as %s-%d: %w", s.Topic, s.Partition, topic, partition, ErrInvalid)
		}
		if s.Revision == 0 {
			return 0, fmt.Errorf("meta: tier segment %s-%d/%d: no revision (read it with TierSegments): %w", topic, partition, s.BaseOffset, ErrInvalid)
		}
		k := c.keys.TierSegment(topic, partition, s.BaseOffset)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", s.Revision))
		if k == addKey {
			reused = true // overwritten below; etcd refuses a delete and a put of one key in a txn
			continue
		}
		ops = append(ops, clientv3.OpDelete(k))
	}
	// The result must stay one contiguous run; the check holds at the
	// revision read, and the transaction requires that no entry changed
	// or appeared since.
	prefix := c.keys.Tier(topic, partition)
	resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, etcdErr(fmt.Sprintf("tier manifest of %s-%d", topic, partition), err)
	}
	cur, err := decodeTierSegments(resp.Kvs)
	if err != nil {
		return 0, err
	}
	if err := checkTierChain(topic, partition, cur, old, add); err != nil {
		return 0, err
	}
	cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(prefix), "<", resp.Header.Revision+1).WithPrefix())
	if add != nil {
		if !reused {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(addKey), "=", 0))
		}
		a := *add
		if a.UploadedAt == 0 {
			a.UploadedAt = time.Now().UnixMilli()
		}
		val, err := json.Marshal(a)
		if err != nil {
			return 0, err
		}
		ops = append(ops, clientv3.OpPut(addKey, string(val)))
	}
	if len(ops) == 0 {
		return 0, nil
	}
	return c.fencedTxn(ctx, "tier manifest write", topic, partition, epoch, cmps, ops)
}

// checkTierChain refuses (ErrInvalid) a manifest change that would leave
// its entries other than one contiguous run of offsets: add (if any) must
// start right after the entry before it and end right before the one
// after it, overlapping none; removals without add must be a prefix.
// Entries of old no longer in cur, or an entry already at add's key, are
// left to the transaction's revision checks (ErrConflict).
func checkTierChain(topic string, partition int32, cur, old []TierSegment, add *TierSegment) error {
	gone := map[int64]bool{}
	for _, s := range old {
		gone[s.BaseOffset] = true
	}
	var rest []TierSegment
	firstGone := int64(-1)
	for _, s := range cur {
		switch {
		case gone[s.BaseOffset]:
			if firstGone < 0 || s.BaseOffset < firstGone {
				firstGone = s.BaseOffset
			}
		case add != nil && s.BaseOffset == add.BaseOffset:
		default:
			rest = append(rest, s)
		}
	}
	if add == nil {
		if firstGone >= 0 && len(rest) > 0 && rest[0].BaseOffset < firstGone {
			return fmt.Errorf("meta: tier manifest of %s-%d: removing entries from %d would leave a hole after [%d, %d]: only a prefix may go: %w",
				topic, partition, firstGone, rest[0].BaseOffset, rest[0].LastOffset, ErrInvalid)
		}
		return nil
	}
	i := sort.Search(len(rest), func(i int) bool { return rest[i].BaseOffset > add.BaseOffset })
	if i > 0 && rest[i-1].LastOffset+1 != add.BaseOffset {
		return fmt.Errorf("meta: tier manifest of %s-%d: entry [%d, %d] does not start where [%d, %d] ends (a gap or an overlap): %w",
			topic, partition, add.BaseOffset, add.LastOffset, rest[i-1].BaseOffset, rest[i-1].LastOffset, ErrInvalid)
	}
	if i < len(rest) && rest[i].BaseOffset != add.LastOffset+1 {
		return fmt.Errorf("meta: tier manifest of %s-%d: entry [%d, %d] does not end where [%d, %d] starts (a gap or an overlap): %w",
			topic, partition, add.BaseOffset, add.LastOffset, rest[i].BaseOffset, rest[i].LastOffset, ErrInvalid)
	}
	return nil
}

// TierChange says that the manifest of one partition changed. Reset means
// that changes may have been missed (the watch was (re)established): every
// cached manifest is stale.
type TierChange struct {
	Topic     string
	Partition int32
	Reset     bool
}

// WatchTier reports every change to any tier manifest of the cluster. It
// starts with a Reset, and sends another after each re-established watch.
// The channel is closed when ctx ends or the client is closed.
func (c *Client) WatchTier(ctx context.Context) <-chan TierChange {
	ch := make(chan TierChange, 64)
	send := func(tc TierChange) bool {
		select {
		case ch <- tc:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(ch)
		// Only the count is listed: a Reset makes every cache re-read.
		c.watchLoop(ctx, c.keys.AllTier(), true,
			func(*clientv3.GetResponse) bool { return send(TierChange{Reset: true}) },
			func(ev *clientv3.Event) bool {
				topic, p, ok := c.keys.parseTierSegment(string(ev.Kv.Key))
				return !ok || send(TierChange{Topic: topic, Partition: p})
			})
	}()
	return ch
}
