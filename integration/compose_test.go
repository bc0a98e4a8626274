package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// composeCommand is the Compose tool: $COMPOSE if set (e.g. "docker
// compose"), else Compose v2 (`docker compose`), else docker-compose.
func composeCommand() []string {
	if c := strings.Fields(os.Getenv("COMPOSE")); len(c) > 0 {
		return c
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	return nil
}

// composeEnv is a compose.yaml project started by the test, with its own
// project name and free host ports.
type composeEnv struct {
	t       *testing.T
	cmd     []string
	file    string // compose.yaml or compose.secure.yaml
	project string
	env     []string
	ports   map[string]string // advertised host:port -> host address
	seeds   []string
	tls     *tls.Config // nil: plaintext listeners
	secure  []kgo.Opt   // every client's SASL options
}

func (e *composeEnv) run(ctx context.Context, args ...string) (string, error) {
	full := append(append(append([]string{}, e.cmd[1:]...), "-p", e.project, "-f", filepath.Join("..", e.file)), args...)
	cmd := exec.CommandContext(ctx, e.cmd[0], full...)
	cmd.Env = append(os.Environ(), e.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", strings.Join(e.cmd, " "), strings.Join(full[len(e.cmd)-1:], " "), err, out)
	}
	return string(out), nil
}

// dial reaches an advertised address through its published port, over
// TLS (verifying the advertised name) when the listeners are TLS ones.
func (e *composeEnv) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	advertised := addr
	if a, ok := e.ports[addr]; ok {
		addr = a
	}
	var d net.Dialer
	if e.tls == nil {
		return d.DialContext(ctx, network, addr)
	}
	cfg := e.tls.Clone()
	cfg.ServerName, _, _ = net.SplitHostPort(advertised)
	return (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, network, addr)
}

func (e *composeEnv) client(opts ...kgo.Opt) *kgo.Client {
	e.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(e.seeds...),
		kgo.Dialer(e.dial),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryTimeout(90 * time.Second),
	}, append(append([]kgo.Opt{}, e.secure...), opts...)...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

func (e *composeEnv) admin() *kadm.Client { return kadm.NewClient(e.client()) }

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestComposeDemo brings compose.yaml up with the images under test (on
// free host ports, under its own project name): the bucket job and the
// demo-topic job succeed, the three brokers are ready (etcd and the bucket
// answer), and the demo topic, replicated on all three, takes records and
// gives every one back.
func TestComposeDemo(t *testing.T) {
	e, ctx := composeUp(t, "compose.yaml", 19090, "bucket", "demo-topic")
	checkDemoTopic(ctx, t, e)
}

// composeUp brings file up under its own project name on free host
// ports (broker n advertises strata-<n>:<basePort+n>), waits for the
// one-shot jobs to exit 0 and the brokers to be ready, and takes it down
// (with its volumes) at the end of the test.
func composeUp(t *testing.T, file string, basePort int, jobs ...string) (*composeEnv, context.Context) {
	requireEngine(t)
	cmd := composeCommand()
	if cmd == nil {
		t.Skip("neither `docker compose` nor docker-compose is installed: " + file + " test skipped")
	}
	e := &composeEnv{t: t, cmd: cmd, file: file, project: fmt.Sprintf("strata-it-%d", os.Getpid()), ports: map[string]string{}}
	e.env = []string{"STRATA_IMAGE=" + strataImage, "MINIO_IMAGE=" + minioImage, "ETCD_IMAGE=" + etcdImage}
	for _, v := range []string{"ETCD_PORT", "MINIO_PORT", "MINIO_CONSOLE_PORT"} {
		e.env = append(e.env, v+"="+freePort(t))
	}
	httpPorts := map[int]string{}
	for i := 1; i <= 3; i++ {
		p, hp := freePort(t), freePort(t)
		e.env = append(e.env, fmt.Sprintf("STRATA_%d_PORT=%s", i, p), fmt.Sprintf("STRATA_%d_HTTP_PORT=%s", i, hp))
		advertised := fmt.Sprintf("strata-%d:%d", i, basePort+i)
		e.ports[advertised] = "127.0.0.1:" + p
		e.seeds = append(e.seeds, advertised)
		httpPorts[i] = hp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			out, _ := e.run(ctx, "logs", "--no-color", "--tail", "40")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := e.run(ctx, "down", "-v", "--remove-orphans"); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})
	if _, err := e.run(ctx, "up", "-d"); err != nil {
		t.Fatal(err)
	}

	// The one-shot jobs: each must exit 0.
	for _, job := range jobs {
		for {
			id, err := e.run(ctx, "ps", "-q", job)
			if err != nil {
				t.Fatal(err)
			}
			state, _ := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}", strings.TrimSpace(id)).Output()
			var st, policy string
			if f := strings.Fields(string(state)); len(f) == 3 {
				st, policy = f[0]+" "+f[1], f[2]
			}
			if st == "exited 0" {
				break
			}
			// A job restarted on failure (waiting for etcd) may exit
			// non-zero on the way.
			if (strings.HasPrefix(st, "exited") && policy != "on-failure") || ctx.Err() != nil {
				out, _ := e.run(ctx, "logs", "--no-color", job)
				t.Fatalf("job %s: %q\n%s", job, st, out)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	for i := 1; i <= 3; i++ {
		for {
			resp, err := http.Get("http://127.0.0.1:" + httpPorts[i] + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("strata-%d never ready: %v", i, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return e, ctx
}

// checkDemoTopic: the demo topic, replicated on all three brokers, takes
// records and gives every one back.
func checkDemoTopic(ctx context.Context, t *testing.T, e *composeEnv) {
	adm := e.admin()
	td := waitISR(ctx, t, adm, "demo", 3)
	if len(td.Partitions) != 3 {
		t.Fatalf("demo has %d partitions, want 3", len(td.Partitions))
	}
	l := newLedger()
	l.produce(ctx, e.client(kgo.RequiredAcks(kgo.AllISRAcks())), "demo", "demo", 0, 1000)
	if l.ackedCount() != 1000 {
		t.Fatalf("%d of 1000 records acknowledged: %v", l.ackedCount(), l.errs)
	}
	verifyAcked(t, l, readAll(ctx, t, e, "demo", l))
}
