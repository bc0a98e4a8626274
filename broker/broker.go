package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
)

// Config is what a Broker needs to know about itself.
type Config struct {
	BrokerID int32
	// LogLevel, if set, is the level of the broker's logger: the dynamic
	// broker config log.level and the BROKER_LOGGER root logger change it
	// (brokerconfig.go); its value at Open is the static one.
	LogLevel *slog.LevelVar
	LogDir   string // partition directories live here: <LogDir>/<topic>-<partition>
	// QuarantineDir receives partition directories that do not match etcd
	// (default <LogDir>/../quarantine); nothing in it is deleted by the broker.
	QuarantineDir            string
	AutoCreateTopics         bool
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	RetentionCheckInterval   time.Duration
	// ReplicaLagMax is Kafka's replica.lag.time.max.ms: a follower not
	// caught up for this long leaves the ISR.
	ReplicaLagMax time.Duration
	// ControllerTTL is the lease of the controller election: how long a
	// dead controller keeps the role.
	ControllerTTL time.Duration
	Logger        *slog.Logger
	// OfflineRetryInterval is how often partitions that failed to open are
	// tried again.
	OfflineRetryInterval time.Duration
	// MaxOpenFiles caps the idle open segment files of all partitions
	// (hotlog.FileCache); 0: hotlog.DefaultMaxOpenFiles.
	MaxOpenFiles int
	// OpenWorkers bounds how many partitions are opened (and recovered) at
	// once; 0: four per CPU.
	OpenWorkers int
	// Cold is the cold tier (package tiering); nil: no remote storage, local
	// retention alone decides.
	Cold ColdReader
	// ClusterSecret is the cluster's inter-broker secret
	// (meta.Client.ClusterSecret): the follower authenticates to its
	// leaders with the credential derived from it (credential.go).
	// Required.
	ClusterSecret []byte
	// PeerTLS, when the inter-broker listener speaks TLS, is how a
	// follower dials its leaders (the CA that signs broker certificates,
	// and this broker's certificate for mutual TLS); nil: plaintext.
	PeerTLS *tls.Config
	// SyncFile replaces the fsync of segment files (hotlog.Config.SyncFile);
	// nil: the real one. A fault-injection seam for tests.
	SyncFile func(*os.File) error
	// The log cleaner of compacted topics (cleaner.go): how often it
	// looks for a partition to clean (Kafka's log.cleaner.backoff.ms),
	// its dedupe buffer (log.cleaner.dedupe.buffer.size; 0: 128 MiB) and
	// I/O cap (log.cleaner.io.max.bytes.per.second; 0: unlimited).
	CleanerBackoff           time.Duration
	CleanerDedupeBufferBytes int64
	CleanerIOBytesPerSecond  float64
}

func (c *Config) setDefaults() {
	if c.QuarantineDir == "" {
		c.QuarantineDir = filepath.Join(filepath.Dir(filepath.Clean(c.LogDir)), "quarantine")
	}
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = 1
	}
	if c.DefaultReplicationFactor <= 0 {
		c.DefaultReplicationFactor = 1
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = 30 * time.Second
	}
	if c.ControllerTTL <= 0 {
		c.ControllerTTL = 10 * time.Second
	}
	if c.ReplicaLagMax <= 0 {
		c.ReplicaLagMax = 30 * time.Second
	}
	if c.MaxOpenFiles <= 0 {
		c.MaxOpenFiles = hotlog.DefaultMaxOpenFiles
	}
	if c.OfflineRetryInterval <= 0 {
		c.OfflineRetryInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CleanerBackoff <= 0 {
		c.CleanerBackoff = DefaultCleanerBackoff
	}
}

// TopicInfo is a topic as the metadata layer sees it.
type TopicInfo struct {
	Name              string
	ID                [16]byte
	ReplicationFactor int16
	Partitions        []meta.PartitionState
	Configs           map[string]string
}

type topicState struct {
	meta   meta.Topic
	cfg    TopicConfig
	states []meta.PartitionState
	local  map[int32]*Partition
}

// Broker hosts partitions and mirrors topic metadata from etcd.
type Broker struct {
	cfg       Config
	meta      *meta.Client
	log       *slog.Logger
	clusterID string
	metrics   *metrics
	files     *hotlog.FileCache // the segment files of every partition

	mu      sync.RWMutex
	topics  map[string]*topicState
	byID    map[[16]byte]string
	offline map[partitionKey]*offlinePartition // hosted but not open: loading, or failed to open
	loaded  chan struct{}                      // closed when every partition hosted at Open was tried
	// deleting are the topics whose dropped logs are being removed from
	// disk (topicdelete.go), each with a channel closed when that is done.
	deleting map[string][]chan struct{}

	pids         producerIDs
	peers        peerPool // inter-broker requests other than replica fetches (txn_client.go)
	controllerID atomic.Int32
	fenced       atomic.Bool
	brokers      atomic.Pointer[[]meta.BrokerInfo]
	metaErr      atomic.Pointer[error] // last etcd error seen by background loops, nil when healthy
	coldReads    chan struct{}         // bounds the cold-tier fetches running at once, broker-wide

	// The log dir goes offline at the first failed fsync (logdir.go).
	logDirErr  atomic.Pointer[error]
	logDirOnce sync.Once
	logDirDown chan struct{}

	cleanerMaxLagMs atomic.Int64 // the longest compaction lag the cleaner last measured

	// Dynamic broker configs (brokerconfig.go): as read from etcd, the
	// root logger's override (BROKER_LOGGER, this process only), and the
	// level the process started with.
	dynamic        atomic.Pointer[meta.DynamicBrokerConfigs]
	loggerOverride atomic.Pointer[slog.Level]
	staticLevel    slog.Level

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open loads every topic from etcd and starts opening (and recovering)
// the partitions this broker hosts, in parallel and in the background:
// it returns before they are open, and each one is served as soon as it
// is (until then it answers NOT_LEADER_OR_FOLLOWER, which clients retry).
// Loaded says when every partition was tried. Open also starts the
// background loops: topic watch, broker list refresh, flush, retention
// and the retry of offline partitions. A partition that cannot be opened
// does not fail Open: it stays offline and is retried.
func Open(ctx context.Context, cfg Config, mc *meta.Client, reg Registerer) (*Broker, error) {
	cfg.setDefaults()
	if len(cfg.ClusterSecret) == 0 {
		return nil, errors.New("broker: no cluster secret: followers could not authenticate to their leaders")
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: create log dir: %w", err)
	}
	clusterID, err := mc.ClusterID(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: cluster id: %w", err)
	}
	b := &Broker{
		cfg:       cfg,
		meta:      mc,
		log:       cfg.Logger,
		clusterID: clusterID,
		topics:    map[string]*topicState{},
		byID:      map[[16]byte]string{},
		coldReads: make(chan struct{}, coldReadConcurrency),
		pids:      producerIDs{lock: make(chan struct{}, 1)},
		offline:   map[partitionKey]*offlinePartition{},
		deleting:  map[string][]chan struct{}{},
		loaded:    make(chan struct{}),
		files:     hotlog.NewFileCache(cfg.MaxOpenFiles),
	}
	b.logDirDown = make(chan struct{})
	b.metrics = newMetrics(reg, b)
	if cfg.LogLevel != nil {
		b.staticLevel = cfg.LogLevel.Level()
	}
	dyn, err := mc.AllBrokerConfigs(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: dynamic broker configs: %w", err)
	}
	b.setDynamicConfigs(dyn)
	if err := b.refreshBrokers(ctx); err != nil {
		return nil, err
	}
	topics, err := mc.Topics(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: list topics: %w", err)
	}
	for _, t := range topics {
		if err := b.applyTopicState(ctx, t); err != nil {
			b.closePartitions()
			return nil, err
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.controllerID.Store(-1)
	b.wg.Add(9)
	go b.watchBrokerConfigs(bg)
	go b.loadPartitions(bg)
	go b.retryOfflineLoop(bg)
	go b.runController(bg)
	go b.watchTopics(bg)
	go b.watchPartitions(bg)
	go b.refreshBrokersLoop(bg)
	go b.maintenanceLoop(bg)
	go b.cleanerLoop(bg)
	return b, nil
}

// Close stops the background loops and closes every partition log cleanly.
func (b *Broker) Close() error {
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
	b.peers.close()
	return b.closePartitions()
}

func (b *Broker) closePartitions() error {
	var closing []*Partition
	b.mu.Lock()
	for _, t := range b.topics {
		for _, p := range t.local {
			closing = append(closing, p)
		}
		t.local = map[int32]*Partition{}
	}
	b.mu.Unlock()
	var errs []error
	for _, p := range closing {
		errs = append(errs, p.close())
	}
	return errors.Join(errs...)
}

// afterUnlock is the work a b.mu critical section decides but must not do
// under the lock, because it waits on the disk or the network: deleting or
// closing a partition's log, and applying an assignment (which may stop a
// fetcher in the middle of a request). No section of b.mu does I/O; it
// fills one of these and the caller runs it once the lock is released.
type afterUnlock struct {
	deletes []*Partition
	// deleted are closed once deletes are done (topicdelete.go).
	deleted []topicDeletion
	closes  []*Partition
	states  []stateUpdate
	// tried are opens whose first try ends once the states above are
	// applied: a waiter (CreateTopic) then finds the partition led.
	tried []*offlinePartition
}

type stateUpdate struct {
	p  *Partition
	st meta.PartitionState
}

// run does the work, outside b.mu. An assignment applied late is safe:
// applyState ignores one older than what the partition already has.
func (w *afterUnlock) run(b *Broker) {
	for _, u := range w.states {
		u.p.applyState(u.st)
	}
	for _, p := range w.deletes {
		if err := p.delete(); err != nil {
			b.log.Error("cannot delete partition log", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
	b.endDeletions(w.deleted)
	for _, p := range w.closes {
		if err := p.close(); err != nil {
			b.log.Warn("cannot close partition no longer hosted", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
	for _, o := range w.tried {
		o.endTry()
	}
}

// ID is this broker's id.
func (b *Broker) ID() int32 { return b.cfg.BrokerID }

// ClusterID is the cluster id stored in etcd.
func (b *Broker) ClusterID() string { return b.clusterID }

// ControllerID is the broker holding the controller election (-1 while
// unknown). Admin requests are answered by any broker: they are etcd
// transactions, fenced where they need to be.
func (b *Broker) ControllerID() int32 { return b.controllerID.Load() }

// SetFenced stops (true) or resumes (false) appends on every partition.
// The process fences its broker while its etcd registration is lost: the
// controller may already have moved leadership away.
func (b *Broker) SetFenced(fenced bool) {
	if b.fenced.Swap(fenced) != fenced {
		b.log.Warn("broker fencing changed", "fenced", fenced)
	}
}

// Brokers returns the live brokers, as last read from etcd.
func (b *Broker) Brokers() []meta.BrokerInfo {
	if p := b.brokers.Load(); p != nil {
		return *p
	}
	return nil
}

// MetadataError reports the last failure talking to etcd from a
// background loop; nil when the last attempt worked.
func (b *Broker) MetadataError() error {
	if p := b.metaErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (b *Broker) noteMetaErr(err error) {
	if err == nil {
		b.metaErr.Store(nil)
		return
	}
	b.metaErr.Store(&err)
}

func (b *Broker) refreshBrokers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := b.meta.Brokers(ctx)
	b.noteMetaErr(err)
	if err != nil {
		return fmt.Errorf("broker: list brokers: %w", err)
	}
	b.brokers.Store(&list)
	b.refreshController(ctx)
	return nil
}

// refreshBrokersLoop keeps the broker list current: it is read again on
// every registration or expiry the watch reports, so that every broker
// sees a new or dead peer within milliseconds, and the coordinators placed
// by hashing over the list (groups, transactional ids) agree on their
// owners; a poll every 2 s backs the watch up while it is broken.
func (b *Broker) refreshBrokersLoop(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	events := b.meta.WatchBrokers(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil // the client closed; the poll goes on until ctx ends
				continue
			}
			drain(events) // one read for a burst (the watch's first listing)
		case <-t.C:
		}
		if err := b.refreshBrokers(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("cannot refresh broker list from etcd", "err", err)
		}
	}
}

// drain takes what is queued on ch without waiting.
func drain[E any](ch <-chan E) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

func (b *Broker) watchTopics(ctx context.Context) {
	defer b.wg.Done()
	for ev := range b.meta.WatchTopics(ctx) {
		if ev.Deleted {
			b.removeTopic(ev.Topic.Name, ev.Topic.ID)
			continue
		}
		if err := b.applyTopic(ctx, ev.Topic); err != nil && ctx.Err() == nil {
			b.log.Error("cannot apply topic change", "topic", ev.Topic.Name, "err", err)
		}
	}
}

// applyTopic makes the local view match t: configs, partition states, and
// the set of partition logs this broker hosts (new ones opened in
// parallel, outside the broker lock).
func (b *Broker) applyTopic(ctx context.Context, t meta.Topic) error {
	if err := b.applyTopicState(ctx, t); err != nil {
		return err
	}
	b.openOffline(ctx, b.cfg.OpenWorkers)
	return nil
}

// applyTopicState is applyTopic without opening the new partitions: they
// are left pending for openOffline.
func (b *Broker) applyTopicState(ctx context.Context, t meta.Topic) error {
	if err := b.awaitDeletion(ctx, t.Name); err != nil {
		return err
	}
	states, err := b.meta.PartitionStates(ctx, t.Name)
	b.noteMetaErr(err)
	if err != nil {
		return fmt.Errorf("broker: partition states of %s: %w", t.Name, err)
	}
	var after afterUnlock
	defer after.run(b) // deferred first: runs after the unlock
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.topics[t.Name]
	if ok && cur.meta.ID != t.ID {
		b.dropTopicLocked(t.Name, &after)
		ok = false
	}
	if ok && cur.meta.Revision > t.Revision {
		return nil // an older event than what we already applied
	}
	if !ok {
		cur = &topicState{local: map[int32]*Partition{}}
		b.topics[t.Name] = cur
		b.byID[t.ID] = t.Name
	}
	cur.meta = t
	cur.cfg = b.resolveTopic(t.Configs)
	cur.states = states
	for _, st := range states {
		b.applyPartitionLocked(cur, st, &after)
	}
	return nil
}

// applyPartitionLocked reconfigures or closes one partition, or leaves it
// pending for openOffline, so that this broker hosts it exactly when it is
// one of its replicas. It reports whether a partition became pending (was
// not already) and so is left to open. Deleting a local copy and applying
// the assignment are left to after.
func (b *Broker) applyPartitionLocked(cur *topicState, st meta.PartitionState, after *afterUnlock) bool {
	if int(st.Partition) < len(cur.states) {
		cur.states[st.Partition] = st
	}
	p, open := cur.local[st.Partition]
	if !slices.Contains(st.Replicas, b.cfg.BrokerID) {
		b.forgetOfflineLocked(cur.meta.Name, st.Partition)
		if open {
			b.log.Info("no longer a replica, deleting the local copy", "topic", cur.meta.Name, "partition", st.Partition)
			after.deletes = append(after.deletes, p)
			delete(cur.local, st.Partition)
		}
		return false
	}
	if !open {
		// Already pending: the open under way (the start-up load) or
		// the retry takes the new assignment. Asking for another open
		// pass per partition event would cost a pass over every pending
		// partition for each of them while thousands load.
		prev := b.offline[partitionKey{cur.meta.Name, st.Partition}]
		return b.pendingLocked(cur.meta, st) != prev
	}
	p.setConfig(cur.cfg)
	after.states = append(after.states, stateUpdate{p, st})
	return false
}

// watchPartitions follows leadership and ISR changes of every partition.
func (b *Broker) watchPartitions(ctx context.Context) {
	defer b.wg.Done()
	for ev := range b.meta.WatchPartitions(ctx) {
		if ev.Deleted {
			continue // topic deletion is handled by the topic watch
		}
		var after afterUnlock
		b.mu.Lock()
		cur, ok := b.topics[ev.State.Topic]
		// A partition at or above the topic's count belongs to an
		// AddPartitions still being written (meta/pending.go): it goes
		// live with the topic's next event.
		toOpen := ok && ev.State.Partition < cur.meta.Partitions && b.applyPartitionLocked(cur, ev.State, &after)
		b.mu.Unlock()
		after.run(b)
		if toOpen {
			b.openOffline(ctx, b.cfg.OpenWorkers)
		}
	}
}

// brokerAddr is the advertised address of a live broker.
func (b *Broker) brokerAddr(id int32) (string, bool) {
	for _, br := range b.Brokers() {
		if br.ID == id {
			return net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))), true
		}
	}
	return "", false
}

func (b *Broker) removeTopic(name string, id [16]byte) {
	var after afterUnlock
	b.mu.Lock()
	if cur, ok := b.topics[name]; ok && cur.meta.ID == id {
		b.dropTopicLocked(name, &after)
	}
	b.mu.Unlock()
	after.run(b)
}

// dropTopicLocked forgets a topic; its local logs are deleted by after.
func (b *Broker) dropTopicLocked(name string, after *afterUnlock) {
	cur := b.topics[name]
	for _, st := range cur.states {
		b.forgetOfflineLocked(name, st.Partition)
	}
	for _, p := range cur.local {
		after.deletes = append(after.deletes, p)
	}
	if len(cur.local) > 0 {
		after.deleted = append(after.deleted, b.beginDeletionLocked(name))
	}
	delete(b.byID, cur.meta.ID)
	delete(b.topics, name)
}

// Topics returns every topic, sorted by name.
func (b *Broker) Topics() []TopicInfo {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]TopicInfo, 0, len(b.topics))
	for _, t := range b.topics {
		out = append(out, t.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (t *topicState) info() TopicInfo {
	return TopicInfo{
		Name:              t.meta.Name,
		ID:                t.meta.ID,
		ReplicationFactor: t.meta.ReplicationFactor,
		Partitions:        append([]meta.PartitionState(nil), t.states...),
		Configs:           t.meta.Configs,
	}
}

// Topic returns one topic by name.
func (b *Broker) Topic(name string) (TopicInfo, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[name]
	if !ok {
		return TopicInfo{}, false
	}
	return t.info(), true
}

// TopicByID returns one topic by its id.
func (b *Broker) TopicByID(id [16]byte) (TopicInfo, bool) {
	b.mu.RLock()
	name, ok := b.byID[id]
	b.mu.RUnlock()
	if !ok {
		return TopicInfo{}, false
	}
	return b.Topic(name)
}

// Partition returns a partition this broker leads. Errors carry
// UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER_OR_FOLLOWER.
func (b *Broker) Partition(topic string, partition int32) (*Partition, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[topic]
	if !ok || partition < 0 || partition >= int32(len(t.states)) {
		return nil, fmt.Errorf("%w: %s/%d", kerr.UnknownTopicOrPartition, topic, partition)
	}
	p, ok := t.local[partition]
	if !ok {
		if err := b.offlineErrLocked(topic, partition); err != nil {
			return nil, err
		}
	}
	if !ok || !p.isLeader() {
		return nil, fmt.Errorf("%w: %s/%d is led by broker %d", kerr.NotLeaderForPartition, topic, partition, t.states[partition].Leader)
	}
	return p, nil
}

// LocalPartitions returns every partition this broker hosts a replica
// of, led or followed (DescribeLogDirs).
func (b *Broker) LocalPartitions() []*Partition { return b.localPartitions() }

func (b *Broker) localPartitions() []*Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []*Partition
	for _, t := range b.topics {
		for _, p := range t.local {
			out = append(out, p)
		}
	}
	return out
}

// placement spreads partition leaders over the live brokers, starting at
// a broker chosen by the topic name so that topics do not all start on
// the same broker.
func (b *Broker) placement(name string, from, to int32, rf int16) ([]meta.PartitionState, error) {
	// Placement needs the live brokers now, not as of the last refresh.
	if err := b.refreshBrokers(context.Background()); err != nil {
		return nil, err
	}
	live := b.Brokers()
	if len(live) == 0 {
		live = []meta.BrokerInfo{{ID: b.cfg.BrokerID}}
	}
	if int(rf) > len(live) {
		return nil, fmt.Errorf("%w: replication factor %d larger than available brokers %d", kerr.InvalidReplicationFactor, rf, len(live))
	}
	ring := rackAlternating(live)
	h := fnv.New32a()
	h.Write([]byte(name))
	start := int(h.Sum32() % uint32(len(ring)))
	var out []meta.PartitionState
	for p := from; p < to; p++ {
		// Leaders rotate over the ring; followers are the next brokers on
		// it, which alternates racks when there are several.
		replicas := make([]int32, 0, rf)
		for r := 0; r < int(rf); r++ {
			replicas = append(replicas, ring[(start+int(p)+r)%len(ring)].ID)
		}
		out = append(out, meta.PartitionState{
			Topic: name, Partition: p, Leader: replicas[0], LeaderEpoch: 0,
			Replicas: replicas, ISR: slices.Clone(replicas),
		})
	}
	return out, nil
}

// rackAlternating orders brokers so that consecutive entries are on
// different racks whenever possible (Kafka's rack-aware assignment).
func rackAlternating(brokers []meta.BrokerInfo) []meta.BrokerInfo {
	byRack := map[string][]meta.BrokerInfo{}
	var racks []string
	for _, br := range brokers {
		if _, ok := byRack[br.Rack]; !ok {
			racks = append(racks, br.Rack)
		}
		byRack[br.Rack] = append(byRack[br.Rack], br)
	}
	sort.Strings(racks)
	var out []meta.BrokerInfo
	for len(out) < len(brokers) {
		for _, r := range racks {
			if list := byRack[r]; len(list) > 0 {
				out = append(out, list[0])
				byRack[r] = list[1:]
			}
		}
	}
	return out
}

// ValidateTopicName applies Kafka's rules for topic names.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name %q is not allowed", kerr.InvalidTopicException, name)
	case len(name) > 249:
		return fmt.Errorf("%w: topic name longer than 249 characters", kerr.InvalidTopicException)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%w: topic name %q has characters other than ASCII alphanumerics, '.', '_' and '-'", kerr.InvalidTopicException, name)
		}
	}
	return nil
}

// CreateTopicRequest asks for a new topic. Partitions and
// ReplicationFactor of -1 take the broker defaults.
type CreateTopicRequest struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Assignment        map[int32][]int32 // optional manual replica assignment
	Configs           map[string]string
	ValidateOnly      bool
}

// CreateTopic validates and creates a topic in etcd and opens its local
// partitions.
func (b *Broker) CreateTopic(ctx context.Context, req CreateTopicRequest) (TopicInfo, error) {
	if err := ValidateTopicName(req.Name); err != nil {
		return TopicInfo{}, err
	}
	if len(req.Assignment) > 0 {
		if req.Partitions != -1 || req.ReplicationFactor != -1 {
			return TopicInfo{}, fmt.Errorf("%w: both replica assignment and partition count / replication factor given", kerr.InvalidRequest)
		}
		req.Partitions = int32(len(req.Assignment))
		req.ReplicationFactor = int16(len(req.Assignment[0]))
	}
	if req.Partitions == -1 {
		req.Partitions = b.cfg.DefaultPartitions
	}
	if req.ReplicationFactor == -1 {
		req.ReplicationFactor = b.cfg.DefaultReplicationFactor
	}
	if req.Partitions <= 0 {
		return TopicInfo{}, fmt.Errorf("%w: number of partitions must be larger than 0", kerr.InvalidPartitions)
	}
	if req.ReplicationFactor <= 0 {
		return TopicInfo{}, fmt.Errorf("%w: replication factor must be larger than 0", kerr.InvalidReplicationFactor)
	}
	if err := ValidateTopicConfigs(req.Configs); err != nil {
		return TopicInfo{}, err
	}
	states, err := b.placement(req.Name, 0, req.Partitions, req.ReplicationFactor)
	if err != nil {
		return TopicInfo{}, err
	}
	if len(req.Assignment) > 0 {
		if states, err = b.manualPlacement(req.Name, 0, req.Assignment); err != nil {
			return TopicInfo{}, err
		}
	}
	t := meta.Topic{
		Name: req.Name, ID: meta.NewTopicID(), Partitions: req.Partitions,
		ReplicationFactor: req.ReplicationFactor, Configs: req.Configs,
	}
	if req.ValidateOnly {
		if _, exists := b.Topic(req.Name); exists {
			return TopicInfo{}, fmt.Errorf("%w: %s", kerr.TopicAlreadyExists, req.Name)
		}
		return TopicInfo{Name: t.Name, ID: t.ID, ReplicationFactor: t.ReplicationFactor, Partitions: states, Configs: t.Configs}, nil
	}
	if err := b.meta.CreateTopic(ctx, t, states); err != nil {
		if errors.Is(err, meta.ErrTopicExists) {
			return TopicInfo{}, fmt.Errorf("%w: %s", kerr.TopicAlreadyExists, req.Name)
		}
		return TopicInfo{}, fmt.Errorf("create topic %s: %w", req.Name, err)
	}
	b.log.Info("created topic", "topic", req.Name, "partitions", req.Partitions)
	if err := b.reloadTopic(ctx, req.Name); err != nil {
		return TopicInfo{}, err
	}
	info, _ := b.Topic(req.Name)
	return info, nil
}

func (b *Broker) manualPlacement(name string, from int32, assignment map[int32][]int32) ([]meta.PartitionState, error) {
	live := map[int32]bool{}
	for _, br := range b.Brokers() {
		live[br.ID] = true
	}
	var out []meta.PartitionState
	for i := int32(0); i < int32(len(assignment)); i++ {
		replicas, ok := assignment[i]
		if !ok {
			return nil, fmt.Errorf("%w: no assignment for partition %d", kerr.InvalidReplicaAssignment, from+i)
		}
		if len(replicas) == 0 {
			return nil, fmt.Errorf("%w: no replicas for partition %d", kerr.InvalidReplicaAssignment, from+i)
		}
		seen := map[int32]bool{}
		for _, r := range replicas {
			if !live[r] {
				return nil, fmt.Errorf("%w: broker %d is not alive", kerr.InvalidReplicaAssignment, r)
			}
			if seen[r] {
				return nil, fmt.Errorf("%w: broker %d named twice for partition %d", kerr.InvalidReplicaAssignment, r, from+i)
			}
			seen[r] = true
		}
		out = append(out, meta.PartitionState{Topic: name, Partition: from + i, Leader: replicas[0], Replicas: replicas, ISR: slices.Clone(replicas)})
	}
	return out, nil
}

func (b *Broker) reloadTopic(ctx context.Context, name string) error {
	t, err := b.meta.Topic(ctx, name)
	if err != nil {
		return fmt.Errorf("reload topic %s: %w", name, err)
	}
	if err := b.applyTopic(ctx, t); err != nil {
		return err
	}
	return b.waitTried(ctx, name)
}

// EnsureTopic returns the topic, creating it with the defaults when
// auto-creation is on.
func (b *Broker) EnsureTopic(ctx context.Context, name string) (TopicInfo, error) {
	if t, ok := b.Topic(name); ok {
		return t, nil
	}
	if !b.cfg.AutoCreateTopics {
		return TopicInfo{}, fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, name)
	}
	t, err := b.CreateTopic(ctx, CreateTopicRequest{Name: name, Partitions: -1, ReplicationFactor: -1})
	if errors.Is(err, kerr.TopicAlreadyExists) {
		if err := b.reloadTopic(ctx, name); err != nil {
			return TopicInfo{}, err
		}
		t, _ = b.Topic(name)
		return t, nil
	}
	return t, err
}

// DeleteTopic removes a topic from etcd and deletes its local logs.
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	if err := b.meta.DeleteTopic(ctx, name); err != nil {
		if errors.Is(err, meta.ErrTopicNotFound) {
			return fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, name)
		}
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	var after afterUnlock
	b.mu.Lock()
	if _, ok := b.topics[name]; ok {
		b.dropTopicLocked(name, &after)
	}
	b.mu.Unlock()
	after.run(b)
	// The topic watch may have dropped it first and still be removing
	// its files: the answer waits for them to be gone.
	if err := b.awaitDeletion(ctx, name); err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	b.log.Info("deleted topic", "topic", name)
	return nil
}

// CreatePartitions grows a topic to count partitions.
func (b *Broker) CreatePartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error {
	t, ok := b.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, name)
	}
	cur := int32(len(t.Partitions))
	if count <= cur {
		return fmt.Errorf("%w: topic %s has %d partitions, cannot go to %d", kerr.InvalidPartitions, name, cur, count)
	}
	states, err := b.placement(name, cur, count, t.ReplicationFactor)
	if err != nil {
		return err
	}
	if len(assignment) > 0 {
		if len(assignment) != int(count-cur) {
			return fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(assignment), count-cur)
		}
		m := map[int32][]int32{}
		for i, a := range assignment {
			m[int32(i)] = a
		}
		if states, err = b.manualPlacement(name, cur, m); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	if err := b.meta.AddPartitions(ctx, name, count, states); err != nil {
		if errors.Is(err, meta.ErrTopicNotFound) {
			return fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, name)
		}
		return fmt.Errorf("create partitions %s: %w", name, err)
	}
	return b.reloadTopic(ctx, name)
}

// DescribeTopicConfigs lists every topic config with its value and source.
func (b *Broker) DescribeTopicConfigs(name string) ([]ConfigEntry, error) {
	t, ok := b.Topic(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, name)
	}
	return b.describeTopic(t.Configs), nil
}

// AlterTopicConfigs applies config changes; replace drops every explicit
// config not named (the legacy AlterConfigs semantics).
func (b *Broker) AlterTopicConfigs(ctx context.Context, name string, changes []ConfigChange, replace, validateOnly bool) error {
	t, ok := b.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, name)
	}
	if validateOnly {
		_, err := applyConfigChanges(t.Configs, changes, replace)
		return err
	}
	updated, err := b.meta.UpdateTopic(ctx, name, func(mt *meta.Topic) error {
		next, err := applyConfigChanges(mt.Configs, changes, replace)
		if err != nil {
			return err
		}
		mt.Configs = next
		return nil
	})
	if err != nil {
		if errors.Is(err, meta.ErrTopicNotFound) {
			return fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, name)
		}
		return err
	}
	return b.applyTopic(ctx, updated)
}

func (b *Broker) partitionDir(topic string, partition int32) string {
	return filepath.Join(b.cfg.LogDir, fmt.Sprintf("%s-%d", topic, partition))
}
