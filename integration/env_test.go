package integration

// The harness: a private Docker network with etcd, MinIO and Strata broker
// containers, Kafka clients that reach the brokers through their mapped
// ports, and the fault operations (SIGKILL, stop/start, network
// disconnect/connect).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/s3"
	"github.com/stratalog/strata/tiering"
)

// Images: the names `make images` builds, or any image with the same
// command line (the official minio/minio and quay.io/coreos/etcd).
var (
	strataImage = envOr("STRATA_IMAGE", "strata:dev")
	minioImage  = envOr("MINIO_IMAGE", "strata-minio:dev")
	etcdImage   = envOr("ETCD_IMAGE", "strata-etcd:dev")
)

const (
	bucketName  = "strata"
	storePrefix = "cluster"
	minioUser   = "strata-it"
	minioSecret = "strata-it-secret"
	kafkaPort   = "9092/tcp"
	httpPort    = "9644/tcp"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	// No Ryuk (its image cannot be pulled here): every test removes its
	// own containers and network in t.Cleanup.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if os.Getenv("STRATA_INTEGRATION") == "1" {
		setHostOverride()
	}
	// testcontainers narrates every container start and stop; the tests
	// print the containers' own logs when they fail.
	// STRATA_INTEGRATION_LOG=1 keeps the narration.
	if os.Getenv("STRATA_INTEGRATION_LOG") != "1" {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
	os.Exit(m.Run())
}

// setHostOverride tells testcontainers that mapped ports are on localhost
// when the Docker engine runs on this very machine. Left alone,
// testcontainers sees /.dockerenv (this machine is itself a container) and
// looks for published ports on the default gateway instead, which is right
// only when the engine is the host's (a socket mounted into a CI
// container). The engine is ours when it reports our hostname.
func setHostOverride() {
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") != "" {
		return
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" && !strings.HasPrefix(h, "unix://") {
		return
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := cli.Info(ctx, client.InfoOptions{})
	hostname, _ := os.Hostname()
	if err == nil && info.Info.Name != "" && info.Info.Name == hostname {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
	}
}

var engine struct {
	once   sync.Once
	skip   string
	err    error
	docker *testcontainers.DockerClient
}

// requireEngine skips the test unless integration tests were asked for and a
// Docker engine answers, and fails it when an image is missing.
func requireEngine(t *testing.T) *testcontainers.DockerClient {
	t.Helper()
	if os.Getenv("STRATA_INTEGRATION") != "1" {
		t.Skip("container-based integration test: run `make integration` (builds the images with `make images` and sets STRATA_INTEGRATION=1)")
	}
	engine.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err == nil {
			_, err = cli.Ping(ctx, client.PingOptions{})
		}
		if err != nil {
			engine.skip = fmt.Sprintf("no Docker engine answers (%v): container-based integration tests skipped", err)
			return
		}
		for _, img := range []string{strataImage, minioImage, etcdImage} {
			if _, err := cli.ImageInspect(ctx, img); err != nil {
				engine.err = fmt.Errorf("image %s is not in the Docker engine (%v): run `make images` (or `make integration`, which builds them)", img, err)
				return
			}
		}
		engine.docker = cli
	})
	if engine.skip != "" {
		t.Skip(engine.skip)
	}
	if engine.err != nil {
		t.Fatal(engine.err)
	}
	return engine.docker
}

// cluster is one test's topology: etcd, MinIO and brokers on a private
// network. Containers reach each other by their aliases (etcd, minio,
// strata-<id>); the test reaches them through their mapped ports.
type cluster struct {
	t       *testing.T
	docker  *testcontainers.DockerClient
	net     *testcontainers.DockerNetwork
	etcd    *testcontainers.DockerContainer
	minio   *testcontainers.DockerContainer
	brokers []*brokerCtr // index id-1
}

type brokerCtr struct {
	id    int32
	alias string
	ctr   *testcontainers.DockerContainer
}

// startCluster starts etcd, MinIO (with the bucket) and n brokers, every
// broker with serveArgs appended to its `strata serve` command line.
func startCluster(t *testing.T, n int, serveArgs ...string) *cluster {
	t.Helper()
	docker := requireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nw, err := tcnetwork.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("docker network: %v", err)
	}
	c := &cluster{t: t, docker: docker, net: nw}
	// t.Cleanup runs last-registered first: the network (registered
	// above) goes after the containers, and the log dump (registered
	// below, after every container) comes before them.
	var wg sync.WaitGroup
	var etcdErr, minioErr error
	wg.Add(2)
	go func() { defer wg.Done(); c.etcd, etcdErr = c.runEtcd(ctx) }()
	go func() { defer wg.Done(); c.minio, minioErr = c.runMinIO(ctx) }()
	wg.Wait()
	testcontainers.CleanupContainer(t, c.etcd)
	testcontainers.CleanupContainer(t, c.minio)
	if err := errors.Join(etcdErr, minioErr); err != nil {
		c.dumpLogs()
		t.Fatal(err)
	}
	if err := c.makeBucket(ctx); err != nil {
		t.Fatal(err)
	}
	c.brokers = make([]*brokerCtr, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.brokers[i], errs[i] = c.runBroker(ctx, int32(i+1), serveArgs)
		}()
	}
	wg.Wait()
	for _, b := range c.brokers {
		if b != nil && b.ctr != nil {
			testcontainers.CleanupContainer(t, b.ctr)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
	})
	if err := errors.Join(errs...); err != nil {
		c.dumpLogs()
		t.Fatal(err)
	}
	c.waitBrokers(ctx, n)
	return c
}

// waitBrokers waits until every broker's metadata lists n brokers (each
// learns of the others through an etcd watch).
func (c *cluster) waitBrokers(ctx context.Context, want int) {
	c.t.Helper()
	for _, b := range c.brokers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.alias+":9092"), kgo.Dialer(c.dial))
		if err != nil {
			c.t.Fatal(err)
		}
		for {
			var n int
			resp, err := cl.SeedBrokers()[0].Request(ctx, kmsg.NewPtrMetadataRequest())
			if err == nil {
				n = len(resp.(*kmsg.MetadataResponse).Brokers)
			}
			if n == want {
				break
			}
			if ctx.Err() != nil {
				cl.Close()
				c.t.Fatalf("broker %d never saw %d brokers: %v", b.id, want, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		cl.Close()
	}
}

// etcdCommand is compose.yaml's etcd command line, with the official image's
// binary path.
func etcdCommand(alias string) []string {
	return []string{"/usr/local/bin/etcd",
		"--name=" + alias,
		"--data-dir=/var/lib/etcd/data",
		"--listen-client-urls=http://0.0.0.0:2379",
		"--advertise-client-urls=http://" + alias + ":2379",
		"--listen-peer-urls=http://0.0.0.0:2380",
		"--initial-advertise-peer-urls=http://" + alias + ":2380",
		"--initial-cluster=" + alias + "=http://" + alias + ":2380",
	}
}

func (c *cluster) runEtcd(ctx context.Context) (*testcontainers.DockerContainer, error) {
	ctr, err := testcontainers.Run(ctx, etcdImage,
		testcontainers.WithCmd(etcdCommand("etcd")...),
		testcontainers.WithExposedPorts("2379/tcp"),
		tcnetwork.WithNetwork([]string{"etcd"}, c.net),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/health").WithPort("2379/tcp").WithStartupTimeout(60*time.Second)),
	)
	if err != nil {
		return ctr, fmt.Errorf("etcd container (%s): %w", etcdImage, err)
	}
	return ctr, nil
}

func (c *cluster) runMinIO(ctx context.Context) (*testcontainers.DockerContainer, error) {
	ctr, err := testcontainers.Run(ctx, minioImage,
		// The official image's entrypoint prepends `minio`; ours is the
		// minio binary itself.
		testcontainers.WithCmd("server", "/data"),
		testcontainers.WithEnv(map[string]string{"MINIO_ROOT_USER": minioUser, "MINIO_ROOT_PASSWORD": minioSecret}),
		testcontainers.WithExposedPorts("9000/tcp"),
		tcnetwork.WithNetwork([]string{"minio"}, c.net),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/minio/health/ready").WithPort("9000/tcp").WithStartupTimeout(90*time.Second)),
	)
	if err != nil {
		return ctr, fmt.Errorf("minio container (%s): %w", minioImage, err)
	}
	return ctr, nil
}

// serveCommand is the broker's command line: compose.yaml's, with short
// leases and intervals so faults show within seconds.
func serveCommand(id int32, alias string, extra []string) []string {
	return append([]string{"serve",
		"--broker-id", strconv.Itoa(int(id)),
		"--listen", ":9092",
		"--advertise", alias + ":9092",
		"--metrics-listen", ":9644",
		"--etcd-endpoints", "http://etcd:2379",
		"--object-store", "s3://" + bucketName + "/" + storePrefix,
		"--s3-endpoint", "http://minio:9000",
		"--s3-region", "us-east-1",
		"--broker-ttl", "3s",
		"--replica-lag-max", "5s",
		"--retention-check-interval", "1s",
		"--group-initial-rebalance-delay", "0s",
	}, extra...)
}

func (c *cluster) runBroker(ctx context.Context, id int32, extra []string) (*brokerCtr, error) {
	alias := fmt.Sprintf("strata-%d", id)
	ctr, err := testcontainers.Run(ctx, strataImage,
		testcontainers.WithCmd(serveCommand(id, alias, extra)...),
		testcontainers.WithEnv(map[string]string{"AWS_ACCESS_KEY_ID": minioUser, "AWS_SECRET_ACCESS_KEY": minioSecret}),
		testcontainers.WithExposedPorts(kafkaPort, httpPort),
		tcnetwork.WithNetwork([]string{alias}, c.net),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/readyz").WithPort(httpPort).WithStartupTimeout(90*time.Second)),
	)
	b := &brokerCtr{id: id, alias: alias, ctr: ctr}
	if err != nil {
		return b, fmt.Errorf("broker %d container (%s): %w", id, strataImage, err)
	}
	return b, nil
}

func (c *cluster) broker(id int32) *brokerCtr { return c.brokers[id-1] }

// containers lists every container of the cluster with a name for logs.
func (c *cluster) containers() map[string]*testcontainers.DockerContainer {
	m := map[string]*testcontainers.DockerContainer{"etcd": c.etcd, "minio": c.minio}
	for _, b := range c.brokers {
		if b != nil {
			m[b.alias] = b.ctr
		}
	}
	return m
}

// dumpLogs prints the last lines of every container's output.
func (c *cluster) dumpLogs() {
	for name, ctr := range c.containers() {
		if ctr == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rc, err := ctr.Logs(ctx)
		if err != nil {
			cancel()
			c.t.Logf("logs of %s: %v", name, err)
			continue
		}
		var lines []string
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		rc.Close()
		cancel()
		c.t.Logf("--- %s, last lines:\n%s", name, strings.Join(lines[max(0, len(lines)-60):], "\n"))
	}
}

// hostPort is where the test reaches a container port: the engine's host
// and the currently mapped port (which changes when a container restarts or
// is reconnected).
func hostPort(ctx context.Context, ctr *testcontainers.DockerContainer, port string) (string, error) {
	host, err := ctr.Host(ctx)
	if err != nil {
		return "", err
	}
	p, err := ctr.MappedPort(ctx, port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, p.Port()), nil
}

// dial connects the Kafka client to a broker: brokers advertise their
// network alias (strata-<id>:9092, which their peers use to replicate), and
// the test maps the alias to the broker's mapped port at every dial.
func (c *cluster) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	for _, b := range c.brokers {
		if b.alias == host {
			if addr, err = hostPort(ctx, b.ctr, kafkaPort); err != nil {
				return nil, fmt.Errorf("broker %s unreachable: %w", b.alias, err)
			}
			break
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (c *cluster) seeds() []string {
	var s []string
	for _, b := range c.brokers {
		s = append(s, b.alias+":9092")
	}
	return s
}

// client is a Kafka client of the cluster, closed when the test ends.
func (c *cluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.seeds()...),
		kgo.Dialer(c.dial),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.MetadataMaxAge(5 * time.Second),
		kgo.RetryTimeout(90 * time.Second),
	}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

func (c *cluster) admin() *kadm.Client { return kadm.NewClient(c.client()) }

// kafkaEnv is what the read helpers need: clients of some cluster (this
// package's, or compose.yaml's).
type kafkaEnv interface {
	client(opts ...kgo.Opt) *kgo.Client
	admin() *kadm.Client
}

// --- object store -----------------------------------------------------------

// bucket is the MinIO bucket as the test sees it (through the mapped port,
// looked up again at each call: it changes when MinIO restarts), under the
// brokers' prefix.
func (c *cluster) bucket(ctx context.Context) (objstore.Bucket, *s3.Bucket, error) {
	addr, err := hostPort(ctx, c.minio, "9000/tcp")
	if err != nil {
		return nil, nil, err
	}
	b, err := s3.New(s3.Config{
		Endpoint:    "http://" + addr,
		Bucket:      bucketName,
		Region:      "us-east-1",
		Credentials: credentials.NewStaticV4(minioUser, minioSecret, ""),
		PathStyle:   true,
	})
	if err != nil {
		return nil, nil, err
	}
	pb, err := objstore.Prefixed(b, storePrefix)
	return pb, b, err
}

func (c *cluster) makeBucket(ctx context.Context) error {
	_, raw, err := c.bucket(ctx)
	if err != nil {
		return err
	}
	for {
		err := raw.MakeBucket(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create bucket: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// --- faults -------------------------------------------------------------------

// kill sends SIGKILL to the container's main process (docker kill).
func (c *cluster) kill(ctx context.Context, ctr *testcontainers.DockerContainer) {
	c.t.Helper()
	if _, err := c.docker.ContainerKill(ctx, ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		c.t.Fatalf("docker kill: %v", err)
	}
	// Wait for the engine to see it exited.
	for {
		st, err := ctr.State(ctx)
		if err == nil && !st.Running {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("container still running after SIGKILL: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop stops the container (SIGTERM, then SIGKILL after 10 s).
func (c *cluster) stop(ctx context.Context, ctr *testcontainers.DockerContainer) {
	c.t.Helper()
	timeout := 10 * time.Second
	if err := ctr.Stop(ctx, &timeout); err != nil {
		c.t.Fatalf("docker stop: %v", err)
	}
}

// start starts a stopped or killed container again (same writable layer,
// so the same data) and waits until it is ready.
func (c *cluster) start(ctx context.Context, ctr *testcontainers.DockerContainer) {
	c.t.Helper()
	if err := ctr.Start(ctx); err != nil {
		c.t.Fatalf("docker start: %v", err)
	}
}

// disconnect cuts the container off the cluster's network: no peer, no
// etcd, no client reaches it (its published ports go too).
func (c *cluster) disconnect(ctx context.Context, ctr *testcontainers.DockerContainer) {
	c.t.Helper()
	if _, err := c.docker.NetworkDisconnect(ctx, c.net.ID, client.NetworkDisconnectOptions{Container: ctr.GetContainerID(), Force: true}); err != nil {
		c.t.Fatalf("docker network disconnect: %v", err)
	}
}

// connect puts it back, under the same alias.
func (c *cluster) connect(ctx context.Context, ctr *testcontainers.DockerContainer, alias string) {
	c.t.Helper()
	if _, err := c.docker.NetworkConnect(ctx, c.net.ID, client.NetworkConnectOptions{
		Container:      ctr.GetContainerID(),
		EndpointConfig: &network.EndpointSettings{Aliases: []string{alias}},
	}); err != nil {
		c.t.Fatalf("docker network connect: %v", err)
	}
}

// --- broker HTTP --------------------------------------------------------------

// readyz returns the broker's /readyz status code and body; code 0 when it
// cannot be reached.
func (b *brokerCtr) readyz(ctx context.Context) (int, string) {
	addr, err := hostPort(ctx, b.ctr, httpPort)
	if err != nil {
		return 0, err.Error()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// waitReadyz waits until /readyz answers want (200, or 503 with a body
// containing substr).
func (b *brokerCtr) waitReadyz(ctx context.Context, t *testing.T, want int, substr string) string {
	t.Helper()
	var code int
	var body string
	for {
		code, body = b.readyz(ctx)
		if code == want && strings.Contains(body, substr) {
			return body
		}
		select {
		case <-ctx.Done():
			t.Fatalf("broker %d /readyz: %d %q, want %d containing %q", b.id, code, body, want, substr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tierStatus is the broker's tier status of topic's partitions it leads.
func (b *brokerCtr) tierStatus(ctx context.Context, topic string) ([]tiering.PartitionStatus, error) {
	addr, err := hostPort(ctx, b.ctr, httpPort)
	if err != nil {
		return nil, err
	}
	return tiering.FetchStatus(ctx, "http://"+addr, topic)
}

// --- Kafka helpers ----------------------------------------------------------------

func createTopic(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partitions int32, rf int16, configs map[string]string) {
	t.Helper()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// waitISR waits until every partition of topic has a leader and n in-sync
// replicas.
func waitISR(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, n int) kadm.TopicDetail {
	t.Helper()
	var last string
	for {
		td, err := adm.ListTopics(ctx, topic)
		if err == nil {
			d := td[topic]
			ok := d.Err == nil && len(d.Partitions) > 0
			for _, p := range d.Partitions {
				ok = ok && p.Leader >= 0 && len(p.ISR) == n
			}
			if ok {
				return d
			}
			last = fmt.Sprintf("%+v", d.Partitions)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s never had %d in-sync replicas on every partition: %s", topic, n, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// partitionState is the leader and replicas of topic/partition.
func partitionState(ctx context.Context, adm *kadm.Client, topic string, partition int32) (kadm.PartitionDetail, error) {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return kadm.PartitionDetail{}, err
	}
	p, ok := td[topic].Partitions[partition]
	if !ok {
		return kadm.PartitionDetail{}, fmt.Errorf("no partition %s/%d", topic, partition)
	}
	return p, nil
}

// waitLeader waits until pred holds for the leader of topic/partition.
func waitLeader(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partition int32, what string, pred func(int32) bool) int32 {
	t.Helper()
	var last string
	for {
		p, err := partitionState(ctx, adm, topic, partition)
		if err == nil && p.Leader >= 0 && pred(p.Leader) {
			return p.Leader
		}
		last = fmt.Sprintf("%+v %v", p, err)
		select {
		case <-ctx.Done():
			t.Fatalf("%s/%d: leader never %s: %s", topic, partition, what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// electPreferred moves leadership of topic/partition back to its first
// replica (Kafka's preferred leader election) and waits until it leads.
func electPreferred(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partition int32) int32 {
	t.Helper()
	p, err := partitionState(ctx, adm, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	preferred := p.Replicas[0]
	for p.Leader != preferred {
		res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {partition: {}}})
		if err == nil {
			if r, ok := res[topic][partition]; ok && r.Err != nil {
				err = r.Err
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("preferred leader election of %s/%d: %v", topic, partition, err)
		}
		time.Sleep(300 * time.Millisecond)
		if p, err = partitionState(ctx, adm, topic, partition); err != nil {
			t.Fatal(err)
		}
	}
	return preferred
}

// supports reports whether the cluster advertises the API key.
func supports(ctx context.Context, t *testing.T, cl *kgo.Client, key int16) bool {
	t.Helper()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == key {
			return true
		}
	}
	return false
}

// --- what was acknowledged, what is stored ---------------------------------------

type position struct {
	partition int32
	offset    int64
}

// ledger records what producers were told: each acknowledged value and its
// position, and how many records failed (those may or may not be stored,
// but never twice).
type ledger struct {
	mu     sync.Mutex
	acked  map[string]position
	failed int
	errs   map[string]int
}

func newLedger() *ledger { return &ledger{acked: map[string]position{}, errs: map[string]int{}} }

func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// produce sends values prefix-from .. prefix-(to-1) (keys spread them over
// partitions) and waits for every outcome.
func (l *ledger) produce(ctx context.Context, cl *kgo.Client, topic, prefix string, from, to int) {
	var wg sync.WaitGroup
	for i := from; i < to; i++ {
		wg.Add(1)
		r := &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 17)), Value: fmt.Appendf(nil, "%s-%07d", prefix, i)}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			l.mu.Lock()
			defer l.mu.Unlock()
			if err != nil {
				l.failed++
				l.errs[err.Error()]++
				return
			}
			l.acked[string(r.Value)] = position{r.Partition, r.Offset}
		})
	}
	wg.Wait()
}

// produceUntil produces batches of n records until stop is closed, and
// closes the returned channel when the last batch has settled.
func (l *ledger) produceUntil(ctx context.Context, cl *kgo.Client, topic, prefix string, n int, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i += n {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			l.produce(ctx, cl, topic, prefix, i, i+n)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return done
}

// readAll consumes every partition of topic from its log start offset (0
// unless retention removed records) up to its current end, through the
// partitions' leaders. With a ledger, it first waits until each
// partition's end (high watermark) covers every record acknowledged on it:
// a leader elected a moment ago learns the high watermark from its
// followers' next fetches.
func readAll(ctx context.Context, t *testing.T, c kafkaEnv, topic string, ls ...*ledger) []*kgo.Record {
	t.Helper()
	need := map[int32]int64{}
	for _, l := range ls {
		l.mu.Lock()
		for _, p := range l.acked {
			need[p.partition] = max(need[p.partition], p.offset+1)
		}
		l.mu.Unlock()
	}
	adm := c.admin()
	want := map[int32]int64{}
	remaining := 0
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		want, remaining = map[int32]int64{}, 0
		behind := ""
		if err != nil { // e.g. LEADER_NOT_AVAILABLE during an election
			behind = " " + err.Error()
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				behind += fmt.Sprintf(" %d: %v", o.Partition, o.Err)
				return
			}
			if o.Offset < need[o.Partition] {
				behind += fmt.Sprintf(" %d: end %d, acknowledged up to %d", o.Partition, o.Offset, need[o.Partition]-1)
			}
			if o.Offset > 0 {
				want[o.Partition] = o.Offset
				remaining++
			}
		})
		if behind == "" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: partitions' ends never covered the acknowledged records:%s", topic, behind)
		case <-time.After(200 * time.Millisecond):
		}
	}
	cl := c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	var out []*kgo.Record
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %d partitions not read to their end %v: %v", topic, remaining, want, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Logf("fetch %s/%d: %v (retrying)", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			out = append(out, r)
			if r.Offset == end-1 {
				remaining--
			}
		})
	}
	return out
}

// readPartitionFrom reads topic/partition from offset from up to its
// current end.
func readPartitionFrom(ctx context.Context, t *testing.T, c kafkaEnv, topic string, partition int32, from int64) []*kgo.Record {
	t.Helper()
	ends, err := c.admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	end, ok := ends.Lookup(topic, partition)
	if !ok || end.Err != nil {
		t.Fatalf("end offset of %s/%d: %v", topic, partition, end.Err)
	}
	cl := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}), kgo.FetchMaxWait(500*time.Millisecond))
	var out []*kgo.Record
	for next := from; next < end.Offset; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s/%d from %d: at %d of %d: %v", topic, partition, from, next, end.Offset, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Logf("fetch %s/%d: %v (retrying)", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end.Offset {
				out = append(out, r)
				next = r.Offset + 1
			}
		})
	}
	return out
}

// verifyAcked checks what readAll returned against the ledger: every
// acknowledged record exactly once, at the partition and offset it was
// acknowledged with; no record (acknowledged or not) twice.
func verifyAcked(t *testing.T, l *ledger, recs []*kgo.Record) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]position{}
	for _, r := range recs {
		v := string(r.Value)
		pos := position{r.Partition, r.Offset}
		if prev, dup := seen[v]; dup {
			t.Errorf("record %s stored twice: %v and %v", v, prev, pos)
			continue
		}
		seen[v] = pos
		if a, ok := l.acked[v]; ok && a != pos {
			t.Errorf("record %s acknowledged at %v, stored at %v", v, a, pos)
		}
	}
	lost := 0
	for v, a := range l.acked {
		if _, ok := seen[v]; !ok {
			if lost < 10 {
				t.Errorf("acknowledged record %s (%v) lost", v, a)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged records lost", lost, len(l.acked))
	}
	t.Logf("%d records acknowledged, %d failed %v, %d stored: every acknowledged record read back once", len(l.acked), l.failed, l.errs, len(recs))
}
