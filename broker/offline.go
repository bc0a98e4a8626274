package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
)

// A partition whose log cannot be opened (no file descriptors, a corrupt
// or unreadable file) is offline: it is reported (log line, metric,
// OfflinePartitions), answers KAFKA_STORAGE_ERROR, and is retried, while
// the broker serves every other partition. Its files are never deleted
// because they could not be read. Kafka takes the whole log dir offline;
// with one directory per broker, Strata narrows that to the partition.

type partitionKey struct {
	topic     string
	partition int32
}

// offlinePartition is a partition this broker hosts but has not opened.
type offlinePartition struct {
	topicID  [16]byte
	state    meta.PartitionState // the latest assignment, applied once it opens
	err      error
	since    time.Time
	attempts int
	opening  bool          // a retry is opening it outside the lock
	tried    chan struct{} // closed once the first attempt to open it ended (or it is no longer hosted)
}

// endTry notes that an attempt to open o ended; the first one wakes
// waitTried.
func (o *offlinePartition) endTry() {
	select {
	case <-o.tried:
	default:
		close(o.tried)
	}
}

// OfflinePartition describes one offline partition.
type OfflinePartition struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Error     string    `json:"error"`
	Since     time.Time `json:"since"`
	Attempts  int       `json:"attempts"`
}

// OfflinePartitionsPath is where OfflineHandler is mounted on the
// broker's HTTP listener.
const OfflinePartitionsPath = "/v1/partitions/offline"

// pendingLocked records a hosted partition still to be opened (by the
// next openOffline), or updates the assignment it will start with.
func (b *Broker) pendingLocked(t meta.Topic, st meta.PartitionState) *offlinePartition {
	k := partitionKey{t.Name, st.Partition}
	o, ok := b.offline[k]
	if !ok || o.topicID != t.ID {
		if ok {
			o.endTry()
		}
		o = &offlinePartition{topicID: t.ID, since: time.Now(), tried: make(chan struct{})}
		b.offline[k] = o
	}
	o.state = st
	return o
}

// markOfflineLocked records that a partition could not be opened.
func (b *Broker) markOfflineLocked(t meta.Topic, st meta.PartitionState, err error) {
	o := b.pendingLocked(t, st)
	o.err = err
	o.attempts++
	b.log.Error("partition offline: cannot open its log; serving the others and retrying",
		"topic", t.Name, "partition", st.Partition, "attempts", o.attempts, "retry_in", b.cfg.OfflineRetryInterval, "err", err)
}

// forgetOfflineLocked drops a partition this broker no longer hosts from
// the offline set. Its files, which could not be read, stay on disk.
func (b *Broker) forgetOfflineLocked(topic string, partition int32) {
	k := partitionKey{topic, partition}
	if o, ok := b.offline[k]; ok {
		delete(b.offline, k)
		o.endTry()
		if o.err != nil {
			b.log.Warn("offline partition no longer hosted; its files are left on disk as they could not be read",
				"topic", topic, "partition", partition, "dir", b.partitionDir(topic, partition))
		}
	}
}

// OfflinePartitions lists the partitions this broker hosts but could not
// open, sorted.
func (b *Broker) OfflinePartitions() []OfflinePartition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]OfflinePartition, 0, len(b.offline))
	for k, o := range b.offline {
		if o.err == nil {
			continue // not tried yet: loading, not offline
		}
		e := OfflinePartition{Topic: k.topic, Partition: k.partition, Since: o.since, Attempts: o.attempts}
		if o.err != nil {
			e.Error = o.err.Error()
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// OfflineHandler serves OfflinePartitions as JSON.
func (b *Broker) OfflineHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(b.OfflinePartitions())
	})
}

// offlineErrLocked is the error for a partition hosted here but not
// open: KAFKA_STORAGE_ERROR when it failed to open, NOT_LEADER_OR_FOLLOWER
// while it is still being opened. The latter is what Kafka's broker
// answers for a partition its metadata knows but it does not host yet;
// clients retry it without surfacing it (after refreshing metadata).
func (b *Broker) offlineErrLocked(topic string, partition int32) error {
	o, ok := b.offline[partitionKey{topic, partition}]
	switch {
	case !ok:
		return nil
	case o.err != nil:
		return fmt.Errorf("%w: %s/%d is offline on broker %d: %v", kerr.KafkaStorageError, topic, partition, b.cfg.BrokerID, o.err)
	}
	return fmt.Errorf("%w: %s/%d is still being opened on broker %d", kerr.NotLeaderForPartition, topic, partition, b.cfg.BrokerID)
}

// loadPartitions is the initial open of every partition hosted at Open,
// in the background: each is served as soon as it opened (putOnline),
// Loaded is closed once all were tried, and then what they recovered is
// flushed (flushOpened).
func (b *Broker) loadPartitions(ctx context.Context) {
	defer b.wg.Done()
	start := time.Now()
	opened := b.openPending(ctx, b.cfg.OpenWorkers)
	if ctx.Err() != nil {
		close(b.loaded)
		return
	}
	b.log.Info("partitions opened", "online", len(b.localPartitions()), "offline", len(b.OfflinePartitions()),
		"took", time.Since(start).Round(time.Millisecond))
	close(b.loaded)
	b.flushOpened(ctx, opened)
	b.log.Info("opened partitions flushed", "partitions", len(opened), "took", time.Since(start).Round(time.Millisecond))
}

// flushOpened makes what the partitions recovered at open durable
// (hotlog.Open leaves that to the first flush), one partition after
// another: on one disk, fsyncs one at a time finish sooner than thousands
// at once, and the opens they would slow down are done. A partition that
// received an acks=all append meanwhile was flushed by it.
func (b *Broker) flushOpened(ctx context.Context, ps []*Partition) {
	for _, p := range ps {
		if ctx.Err() != nil {
			return
		}
		end := p.log.LogEndOffset()
		if p.log.FlushedOffset() >= end {
			continue
		}
		if err := p.log.FlushUpTo(end); err != nil && !errors.Is(err, hotlog.ErrClosed) {
			p.b.metrics.flushErrors.Inc()
			b.log.Error("cannot fsync what the partition recovered at open", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
}

// Loaded is closed once every partition this broker hosted when it
// opened was tried: each is then in service or offline (and retried).
// Partitions assigned later are opened as their assignment arrives.
func (b *Broker) Loaded() <-chan struct{} { return b.loaded }

// Loading counts the hosted partitions not yet tried since they were
// assigned (at start-up, those still to open).
func (b *Broker) Loading() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, o := range b.offline {
		if o.err == nil {
			n++
		}
	}
	return n
}

// openOffline opens the offline partitions (openPending) and then
// flushes what they recovered (flushOpened).
func (b *Broker) openOffline(ctx context.Context, workers int) {
	b.flushOpened(ctx, b.openPending(ctx, workers))
}

// openPending tries to open every offline partition (those not already
// being opened) with up to workers at once, outside the broker lock, and
// puts each one in service as soon as it opened; it returns those. At
// start-up every hosted partition begins offline, so this is also the
// parallel initial load.
func (b *Broker) openPending(ctx context.Context, workers int) []*Partition {
	type job struct {
		k     partitionKey
		t     meta.Topic
		cfg   TopicConfig
		state meta.PartitionState
	}
	if b.LogDirError() != nil {
		return nil // nothing opens again before a restart (logdir.go)
	}
	var jobs []job
	b.mu.Lock()
	for k, o := range b.offline {
		cur, ok := b.topics[k.topic]
		if o.opening || !ok || cur.meta.ID != o.topicID {
			continue
		}
		o.opening = true
		jobs = append(jobs, job{k, cur.meta, cur.cfg, o.state})
	}
	b.mu.Unlock()
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0)
	}
	ch := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var opened []*Partition
	for range min(workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				p, err := openPartition(b, j.t, j.state, j.cfg)
				if b.putOnline(j.k, j.t, p, err) {
					mu.Lock()
					opened = append(opened, p)
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
			b.mu.Lock()
			if o, ok := b.offline[j.k]; ok {
				o.opening = false
			}
			b.mu.Unlock()
		}
	}
	close(ch)
	wg.Wait()
	return opened
}

// putOnline takes the result of opening an offline partition: in service
// with the latest assignment, or still offline with the error. A
// partition no longer hosted meanwhile (topic deleted, replica moved) is
// closed, its files left for the next decision made from etcd. It
// reports whether p went into service.
func (b *Broker) putOnline(k partitionKey, t meta.Topic, p *Partition, err error) bool {
	var after afterUnlock
	defer after.run(b) // deferred first: runs after the unlock
	b.mu.Lock()
	defer b.mu.Unlock()
	o, wanted := b.offline[k]
	cur, ok := b.topics[k.topic]
	wanted = wanted && ok && cur.meta.ID == t.ID && o.topicID == t.ID
	if wanted {
		o.opening = false
		after.tried = append(after.tried, o) // once its state is applied
	}
	if dirErr := b.LogDirError(); dirErr != nil && err == nil {
		// Opened while the log dir went offline: it stays offline.
		after.closes = append(after.closes, p)
		p, err = nil, dirErr
	}
	switch {
	case err != nil && wanted:
		b.markOfflineLocked(cur.meta, o.state, err)
		b.metrics.openErrors.Inc()
	case err != nil:
	case !wanted:
		// Deleting here would race with the decision that dropped it;
		// the next assignment from etcd decides.
		after.closes = append(after.closes, p)
	default:
		delete(b.offline, k)
		if o.attempts > 0 {
			b.log.Info("partition back online", "topic", k.topic, "partition", k.partition, "after_attempts", o.attempts)
		}
		cur.local[k.partition] = p
		after.states = append(after.states, stateUpdate{p, o.state})
		return true
	}
	return false
}

// waitTried returns once every partition of topic hosted here and not
// yet open has been tried once: opened or offline. A caller that applied
// a topic (CreateTopic) waits so, because the open it asked for may be
// running in another goroutine (the topic watch saw the topic first).
func (b *Broker) waitTried(ctx context.Context, topic string) error {
	b.mu.RLock()
	var tried []chan struct{}
	for k, o := range b.offline {
		if k.topic == topic {
			tried = append(tried, o.tried)
		}
	}
	b.mu.RUnlock()
	for _, c := range tried {
		select {
		case <-c:
		case <-ctx.Done():
			return fmt.Errorf("broker: partitions of %s still opening: %w", topic, ctx.Err())
		}
	}
	return nil
}

// retryOfflineLoop retries offline partitions every interval.
func (b *Broker) retryOfflineLoop(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.OfflineRetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.openOffline(ctx, 0)
		}
	}
}
