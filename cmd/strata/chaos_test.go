package main

// The randomized fault run (`make chaos`): three broker processes sharing a
// real MinIO as their cold tier, an idempotent acks=all producer and a
// read_committed consumer, while a driver picks faults at random from a
// seed: SIGKILL (each broker's embedded etcd member dies with it), SIGKILL
// followed by torn writes to the files a power loss leaves un-fsynced,
// SIGSTOP past and within the broker lease, MinIO killed and restarted,
// preferred-leader elections, and (where network namespaces can be made,
// as root) a broker's link cut and healed. Then every acknowledged record must be read
// exactly once at its offset (from the hot and the cold tier), nothing a
// consumer saw may have changed, replicas must be identical below the high
// watermark, the Parquet objects the manifest names must hold each
// tiered offset exactly once with the produced value, and DuckDB reading
// the bucket's listing must find every tiered record (-tags chaosduckdb).
// etcd runs as its own cluster whose members the driver kills and
// restarts (STRATA_CHAOS_ETCD=external, the default), or embedded in the
// brokers (embedded).
//
// STRATA_CHAOS=<duration> runs it (skipped otherwise); STRATA_CHAOS_SEED
// replays a run; STRATA_CHAOS_REPORT=<file> writes the counts as JSON.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/objstoretest"
)

// chaosReport is what a run found, in the spirit of a Jepsen history
// summary: what was attempted and acknowledged, what was lost or doubled,
// and which faults were injected.
type chaosReport struct {
	Seed            uint64         `json:"seed"`
	Etcd            string         `json:"etcd"` // external (own cluster, faults of its own) or embedded
	Duration        string         `json:"duration"`
	Attempted       int            `json:"attempted"`
	Acknowledged    int            `json:"acknowledged"`
	Stored          int            `json:"stored"`
	Lost            int            `json:"lost"`
	Duplicated      int            `json:"duplicated"`
	Misplaced       int            `json:"misplaced"`
	ConsumedChanged int            `json:"consumed_then_changed"`
	ConsumerRead    int            `json:"consumer_read"`
	ColdObjects     int            `json:"cold_objects"`
	ColdRows        int            `json:"cold_rows"`
	ColdBad         int            `json:"cold_rows_wrong"`
	Listing         *listingReport `json:"duckdb_listing,omitempty"`
	Faults          map[string]int `json:"faults"`
}

// listingReport is the DuckDB view of the bucket listing: objects and rows
// read, offsets found in two objects, tiered records missing, rows wrong.
type listingReport struct {
	Objects int `json:"objects"`
	Rows    int `json:"rows"`
	Doubled int `json:"doubled"`
	Missing int `json:"missing"`
	Wrong   int `json:"wrong"`
}

func TestChaos(t *testing.T) {
	spec := os.Getenv("STRATA_CHAOS")
	if spec == "" {
		t.Skip("randomized fault run: set STRATA_CHAOS=<duration> (make chaos)")
	}
	runFor, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatalf("STRATA_CHAOS=%q: %v", spec, err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STRATA_CHAOS_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("STRATA_CHAOS_SEED=%q: %v", s, err)
		}
	}
	t.Logf("chaos seed %d (STRATA_CHAOS_SEED=%d replays the same fault schedule)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5354524154410000))
	report := chaosReport{Seed: seed, Duration: runFor.String(), Faults: map[string]int{}}

	// Brokers run in network namespaces where this machine allows it, so
	// that links can be cut; MinIO then listens on the lab's bridge.
	lab, why := tryNetLab(t, 3)
	minioHost := "127.0.0.1"
	if lab != nil {
		minioHost = lab.bridgeIP()
	} else {
		t.Logf("no network namespaces (%s): brokers on loopback, no link cuts", why)
	}
	m := objstoretest.StartMinIOOn(t, minioHost)
	bucket := m.Bucket(t, 0)
	t.Setenv("AWS_ACCESS_KEY_ID", objstoretest.MinIOAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", objstoretest.MinIOSecretKey)
	const prefix = "chaos"
	store, err := objstore.Prefixed(bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}

	bin := clientsBuildStrata(t)
	// etcd runs either as its own three-member cluster, which the driver
	// kills and restarts apart from the brokers (the default, as
	// compose.yaml deploys it), or embedded in the brokers
	// (STRATA_CHAOS_ETCD=embedded), each member dying with its broker.
	var etcdClients, etcdArgs, members []string
	var etcd *etcdCluster
	switch mode := os.Getenv("STRATA_CHAOS_ETCD"); mode {
	case "", "external":
		etcd = startEtcdCluster(t, minioHost, 3)
		etcdClients = etcd.endpoints()
		etcdArgs = []string{"--etcd-endpoints", strings.Join(etcdClients, ",")}
		report.Etcd = "external"
	case "embedded":
		for i := 1; i <= 3; i++ {
			if lab != nil {
				members = append(members, fmt.Sprintf("%d=http://%s:2380", i, lab.ip(i)))
				etcdClients = append(etcdClients, fmt.Sprintf("http://%s:2379", lab.ip(i)))
				continue
			}
			members = append(members, fmt.Sprintf("%d=http://%s", i, clientsFreeAddr(t)))
			etcdClients = append(etcdClients, "http://"+clientsFreeAddr(t))
		}
		report.Etcd = "embedded"
	default:
		t.Fatalf("STRATA_CHAOS_ETCD=%q: want external or embedded", mode)
	}
	var procs []*brokerProc
	var seeds []string
	for i := 1; i <= 3; i++ {
		args := etcdArgs
		if etcd == nil {
			args = []string{"--etcd-initial-cluster", strings.Join(members, ","), "--etcd-listen-client", etcdClients[i-1]}
		}
		p := newBrokerProc(t, bin, append(append([]string{
			"--broker-id", strconv.Itoa(i)}, args...),
			"--object-store", "s3://"+objstoretest.BucketURLName(bucket)+"/"+prefix,
			"--s3-endpoint", m.Endpoint(),
			"--broker-ttl", "3s", "--replica-lag-max", "4s",
			"--retention-check-interval", "1s",
		)...)
		if lab != nil {
			p.wrap = []string{"ip", "netns", "exec", lab.ns(i)}
			p.addr, p.metrics = lab.ip(i)+":9092", lab.ip(i)+":9644"
		}
		procs = append(procs, p)
		seeds = append(seeds, p.addr)
	}
	startAll(procs)

	ctx, cancel := context.WithTimeout(context.Background(), runFor+10*time.Minute)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	const topic, partitions = "chaos", 6
	resp, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{
		"min.insync.replicas":           kadm.StringPtr("2"),
		"segment.bytes":                 kadm.StringPtr("262144"),
		"local.retention.bytes":         kadm.StringPtr("262144"),
		"strata.tier.max.lag.ms":        kadm.StringPtr("5000"),
		"strata.tier.target.file.bytes": kadm.StringPtr("1048576"),
	}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}

	load := startIdempotentLoad(ctx, t, seeds, topic)
	watcher := startCommittedWatcher(ctx, t, seeds, topic)

	deadline := time.Now().Add(runFor)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		victim := rng.IntN(3)
		p := procs[victim]
		// The first six are the faults of every run, in the order older
		// seeds were drawn with, so that an embedded-etcd run without
		// network namespaces replays them.
		faults := []string{"sigkill", "sigkill_torn", "sigstop", "minio_restart", "preferred_election", "quiet"}
		if lab != nil {
			faults = append(faults, "link_cut")
		}
		if etcd != nil {
			faults = append(faults, "etcd_restart", "etcd_quorum_loss")
		}
		switch fault := faults[rng.IntN(len(faults))]; fault {
		case "sigkill", "sigkill_torn":
			down := time.Duration(500+rng.IntN(5000)) * time.Millisecond
			t.Logf("fault: SIGKILL broker %d, down %v", victim+1, down)
			p.kill(syscall.SIGKILL)
			report.Faults["sigkill"]++
			if fault == "sigkill_torn" {
				torn := tearUnsyncedFiles(t, rng, p.dataDir)
				t.Logf("fault: torn files on broker %d: %s", victim+1, strings.Join(torn, ", "))
				report.Faults["torn_files"] += len(torn)
			}
			time.Sleep(down)
			p.start()
		case "sigstop":
			pause := time.Duration(500+rng.IntN(7000)) * time.Millisecond
			t.Logf("fault: SIGSTOP broker %d for %v", victim+1, pause)
			_ = p.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(pause)
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			report.Faults["sigstop"]++
		case "minio_restart":
			down := time.Duration(1000+rng.IntN(6000)) * time.Millisecond
			t.Logf("fault: MinIO down for %v", down)
			m.Stop()
			time.Sleep(down)
			m.Start()
			report.Faults["minio_restart"]++
		case "preferred_election":
			t.Logf("fault: preferred leader election")
			ectx, ecancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := adm.ElectLeaders(ectx, kadm.ElectPreferredReplica, nil)
			ecancel()
			if err != nil {
				t.Logf("preferred election: %v", err)
			}
			report.Faults["preferred_election"]++
		case "etcd_restart":
			// One member of three: the cluster keeps its quorum, and
			// the brokers' clients move to the other members.
			m := etcd.members[rng.IntN(len(etcd.members))]
			down := time.Duration(1000+rng.IntN(6000)) * time.Millisecond
			t.Logf("fault: SIGKILL etcd member %s, down %v", m.name, down)
			etcd.kill(m)
			time.Sleep(down)
			etcd.restart(m)
			report.Faults["etcd_restart"]++
		case "etcd_quorum_loss":
			// Two members of three: no etcd writes or linearizable
			// reads until one returns, so no leases are renewed, no ISR
			// change or election commits, no tier manifest moves; past
			// the broker lease (3 s) the brokers fence themselves.
			first := rng.IntN(len(etcd.members))
			a, b := etcd.members[first], etcd.members[(first+1+rng.IntN(len(etcd.members)-1))%len(etcd.members)]
			down := time.Duration(500+rng.IntN(5000)) * time.Millisecond
			t.Logf("fault: etcd quorum lost (members %s and %s killed) for %v", a.name, b.name, down)
			etcd.kill(a)
			etcd.kill(b)
			time.Sleep(down)
			etcd.restart(a)
			etcd.restart(b)
			report.Faults["etcd_quorum_loss"]++
		case "link_cut":
			cut := time.Duration(500+rng.IntN(7000)) * time.Millisecond
			t.Logf("fault: link of broker %d cut for %v", victim+1, cut)
			lab.cut(victim + 1)
			time.Sleep(cut)
			lab.heal(victim + 1)
			report.Faults["link_cut"]++
		case "quiet":
			// Quiet period: the cluster heals and tiering catches up.
			time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
			report.Faults["quiet"]++
		}
	}

	acked := load.finish(ctx, t)
	report.Attempted, report.Acknowledged = load.attempted, len(acked)
	waitFullISR(ctx, t, adm, topic, 3)
	consumed := watcher.stop()
	report.ConsumerRead = len(consumed)

	final := readAllRecords(ctx, t, seeds, topic)
	report.Stored = len(final.byValue)
	report.Duplicated = final.duplicates
	for v, a := range acked {
		got, ok := final.byValue[v]
		switch {
		case !ok:
			report.Lost++
			if report.Lost <= 10 {
				t.Errorf("acknowledged record %q (partition %d offset %d) is lost", v, a.partition, a.offset)
			}
		case got != a:
			report.Misplaced++
			if report.Misplaced <= 10 {
				t.Errorf("record %q acknowledged at %d/%d but stored at %d/%d", v, a.partition, a.offset, got.partition, got.offset)
			}
		}
	}
	for at, v := range consumed {
		if final.byOffset[at] != v {
			report.ConsumedChanged++
			if report.ConsumedChanged <= 10 {
				t.Errorf("a consumer read %q at %d/%d, which now holds %q", v, at.partition, at.offset, final.byOffset[at])
			}
		}
	}

	cold := checkColdTier(ctx, t, etcdClients, store, topic, final.byOffset)
	report.ColdObjects, report.ColdRows, report.ColdBad = cold.objects, cold.rows, cold.bad
	if l := checkColdListing(ctx, t, store, topic, final.byOffset, cold); !l.skipped {
		report.Listing = &listingReport{Objects: l.objects, Rows: l.rows, Doubled: l.doubled, Missing: l.missing, Wrong: l.wrong}
	}
	stopAndCompareReplicas(ctx, t, adm, procs, topic)

	out, _ := json.MarshalIndent(report, "", "  ")
	t.Logf("chaos report:\n%s", out)
	if path := os.Getenv("STRATA_CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
	if report.Duplicated > 0 {
		t.Errorf("%d records stored twice", report.Duplicated)
	}
	if l := report.Listing; l != nil && l.Missing+l.Wrong > 0 {
		t.Errorf("DuckDB's view of the bucket: %d tiered records missing, %d rows wrong", l.Missing, l.Wrong)
	}
	if report.ColdBad > 0 {
		t.Errorf("%d cold rows wrong, missing or doubled", report.ColdBad)
	}
}

// tearUnsyncedFiles damages, in one random partition directory of a killed
// broker, what a power loss may leave of files written without fsync: the
// index files cut to a random length, a partial batch after the end of the
// active segment, and, when present, an emptied partition.metadata. None of
// it may cost an acknowledged record.
func tearUnsyncedFiles(t *testing.T, rng *rand.Rand, dataDir string) []string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(dataDir, "logs", "*-*"))
	if len(dirs) == 0 {
		return nil
	}
	dir := dirs[rng.IntN(len(dirs))]
	var torn []string
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(logs)
	if len(logs) > 0 {
		active := logs[len(logs)-1]
		base := strings.TrimSuffix(active, ".log")
		for _, ext := range []string{".index", ".timeindex"} {
			if fi, err := os.Stat(base + ext); err == nil && fi.Size() > 0 && rng.IntN(2) == 0 {
				cut := rng.Int64N(fi.Size())
				if os.Truncate(base+ext, cut) == nil {
					torn = append(torn, fmt.Sprintf("%s cut to %d", filepath.Base(base+ext), cut))
				}
			}
		}
		garbage := make([]byte, 1+rng.IntN(200))
		for i := range garbage {
			garbage[i] = byte(rng.UintN(256))
		}
		if f, err := os.OpenFile(active, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			if _, err := f.Write(garbage); err == nil {
				torn = append(torn, fmt.Sprintf("%s +%d torn bytes", filepath.Base(active), len(garbage)))
			}
			f.Close()
		}
	}
	if rng.IntN(4) == 0 {
		if os.Truncate(filepath.Join(dir, "partition.metadata"), 0) == nil {
			torn = append(torn, "partition.metadata emptied")
		}
	}
	for i := range torn {
		torn[i] = filepath.Base(dir) + "/" + torn[i]
	}
	return torn
}

type recordAt struct {
	partition int32
	offset    int64
}

// committedWatcher consumes the topic with read_committed while the run
// goes on, remembering the value it saw at each offset.
type committedWatcher struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   map[recordAt]string
}

func startCommittedWatcher(ctx context.Context, t *testing.T, seeds []string, topic string) *committedWatcher {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &committedWatcher{cl: cl, cancel: cancel, done: make(chan struct{}), seen: map[recordAt]string{}}
	go func() {
		defer close(w.done)
		for wctx.Err() == nil {
			fs := cl.PollFetches(wctx)
			fs.EachRecord(func(r *kgo.Record) {
				w.mu.Lock()
				w.seen[recordAt{r.Partition, r.Offset}] = string(r.Value)
				w.mu.Unlock()
			})
		}
	}()
	return w
}

func (w *committedWatcher) stop() map[recordAt]string {
	w.cancel()
	<-w.done
	w.cl.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

type topicContents struct {
	byValue    map[string]ackedRecord
	byOffset   map[recordAt]string
	inOrder    map[int32][]string // each partition's values in offset order
	duplicates int                // values read at more than one offset
}

// readAllRecords consumes the whole topic from offset 0 up to the end
// offsets, through the cold tier where the hot log no longer has the data.
func readAllRecords(ctx context.Context, t *testing.T, seeds []string, topic string) topicContents {
	t.Helper()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := topicContents{byValue: map[string]ackedRecord{}, byOffset: map[recordAt]string{}, inOrder: map[int32][]string{}}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for int64(len(c.byOffset)) < total {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d of %d records: %v", len(c.byOffset), total, rctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if _, dup := c.byValue[v]; dup {
				c.duplicates++
			}
			c.byValue[v] = ackedRecord{r.Partition, r.Offset}
			c.byOffset[recordAt{r.Partition, r.Offset}] = v
			c.inOrder[r.Partition] = append(c.inOrder[r.Partition], v)
		})
	}
	return c
}

// waitFullISR waits until every partition of topic has n in-sync replicas.
func waitFullISR(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, n int) {
	t.Helper()
	for {
		td, err := adm.ListTopics(ctx, topic)
		full := err == nil && len(td[topic].Partitions) > 0
		for _, p := range td[topic].Partitions {
			full = full && len(p.ISR) == n && p.Leader >= 0
		}
		if full {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("replicas never all back in sync: %v %+v", err, td[topic].Partitions)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type coldCheck struct {
	objects, rows, bad int
	tiered             map[int32]int64 // partition -> last offset the manifest names
	named              map[string]bool // objects the manifest names
}

// listingCheck is what DuckDB saw reading the bucket's listing
// (checkColdListing).
type listingCheck struct {
	skipped                                bool
	objects, rows, doubled, missing, wrong int
}

// coldRow is the part of the cold file's schema the check reads
// (docs/format/parquet.md), decoded by parquet-go, not by Strata's reader.
type coldRow struct {
	Offset int64  `parquet:"offset"`
	Value  []byte `parquet:"value,optional"`
}

// checkColdTier reads every object the tier manifest names and checks
// that the tiered offsets of each partition are contiguous, each present
// once, with the value the topic holds there.
func checkColdTier(ctx context.Context, t *testing.T, etcd []string, store objstore.Bucket, topic string, want map[recordAt]string) coldCheck {
	t.Helper()
	mc, err := meta.Dial(ctx, etcd, "default")
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	res := coldCheck{tiered: map[int32]int64{}, named: map[string]bool{}}
	for part := int32(0); ; part++ {
		segs, err := mc.TierSegments(ctx, topic, part)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) == 0 {
			if part >= 6 {
				break
			}
			continue
		}
		seen := map[int64]bool{}
		for _, s := range segs {
			res.objects++
			res.named[s.Object] = true
			rc, err := store.Get(ctx, s.Object)
			if err != nil {
				t.Errorf("manifest names %s, which cannot be read: %v", s.Object, err)
				res.bad++
				continue
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			rows, err := parquet.Read[coldRow](bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Errorf("%s: %v", s.Object, err)
				res.bad++
				continue
			}
			for _, r := range rows {
				res.rows++
				at := recordAt{part, r.Offset}
				if seen[r.Offset] || string(r.Value) != want[at] {
					res.bad++
					if res.bad <= 10 {
						t.Errorf("cold row %d/%d in %s: doubled=%v value %q, topic holds %q", part, r.Offset, s.Object, seen[r.Offset], r.Value, want[at])
					}
				}
				seen[r.Offset] = true
			}
		}
		first, last := segs[0].BaseOffset, segs[len(segs)-1].LastOffset
		res.tiered[part] = last
		for off := first; off <= last; off++ {
			if !seen[off] {
				res.bad++
				if res.bad <= 10 {
					t.Errorf("partition %d: offset %d inside the cold range [%d, %d] is in no object", part, off, first, last)
				}
			}
		}
	}
	t.Logf("cold tier: %d objects, %d rows checked", res.objects, res.rows)
	return res
}
