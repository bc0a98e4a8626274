package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

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
	opening  bool // a retry is opening it outside the lock
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
		o = &offlinePartition{topicID: t.ID, since: time.Now()}
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

// offlineErrLocked is the error for a partition that is offline here.
func (b *Broker) offlineErrLocked(topic string, partition int32) error {
	if o, ok := b.offline[partitionKey{topic, partition}]; ok && o.err != nil {
		return fmt.Errorf("%w: %s/%d is offline on broker %d: %v", kerr.KafkaStorageError, topic, partition, b.cfg.BrokerID, o.err)
	}
	return nil
}

// openOffline tries to open every offline partition (those not already
// being opened) with up to workers at once, outside the broker lock, and
// puts each one in service as soon as it opened. At start-up every
// hosted partition begins offline, so this is also the parallel initial
// load.
func (b *Broker) openOffline(ctx context.Context, workers int) {
	type job struct {
		k     partitionKey
		t     meta.Topic
		cfg   TopicConfig
		state meta.PartitionState
	}
	if b.LogDirError() != nil {
		return // nothing opens again before a restart (logdir.go)
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
	for range min(workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				p, err := openPartition(b, j.t, j.state, j.cfg)
				b.putOnline(j.k, j.t, p, err)
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
}

// putOnline takes the result of opening an offline partition: in service
// with the latest assignment, or still offline with the error. A
// partition no longer hosted meanwhile (topic deleted, replica moved) is
// closed, its files left for the next decision made from etcd.
func (b *Broker) putOnline(k partitionKey, t meta.Topic, p *Partition, err error) {
	var after afterUnlock
	defer after.run(b) // deferred first: runs after the unlock
	b.mu.Lock()
	defer b.mu.Unlock()
	o, wanted := b.offline[k]
	cur, ok := b.topics[k.topic]
	wanted = wanted && ok && cur.meta.ID == t.ID && o.topicID == t.ID
	if wanted {
		o.opening = false
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
	}
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
