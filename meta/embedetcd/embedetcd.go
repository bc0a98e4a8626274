// Package embedetcd runs the etcd member embedded in a Strata broker: the
// single-node default (`strata serve` with no etcd flags) and the members of
// a cluster whose brokers form their own etcd (--etcd-initial-cluster). It
// owns the member's configuration (ports kept in Dir/ports.json, compaction,
// quota) and nothing of what Strata stores in it; that is package meta.
//
// embedetcd imports no other Strata package but meta/internal/zapslog.
package embedetcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"

	"github.com/stratalog/strata/fileutil"
	"github.com/stratalog/strata/meta/internal/zapslog"
)

// Config configures the embedded etcd member.
type Config struct {
	Dir       string // data directory (required); etcd keeps its files in Dir/member
	Name      string // member name; default "strata"
	ClientURL string // e.g. "http://127.0.0.1:2379"; default: a free 127.0.0.1 port, kept in Dir/ports.json
	PeerURL   string // e.g. "http://127.0.0.1:2380"; default: likewise
	// InitialCluster, when set, makes this member one of several forming
	// one etcd cluster ("1=http://h1:2380,2=http://h2:2380,..." in etcd's
	// --initial-cluster syntax; Name must be one of the names). Empty: a
	// single-member cluster.
	InitialCluster string
}

// Server is a running embedded etcd member.
type Server struct {
	etcd      *embed.Etcd
	endpoints []string
	closing   *atomic.Bool // etcd's log goes quiet once Close starts
	closeOnce sync.Once
}

const (
	portsFile         = "ports.json"
	embedReadyTimeout = 30 * time.Second
	embedQuotaBytes   = 2 << 30 // 2 GiB backend quota
)

// persistedPorts is the content of Dir/ports.json.
type persistedPorts struct {
	ClientURL string `json:"client_url"`
	PeerURL   string `json:"peer_url"`
}

// Start starts a single-member etcd with its data in cfg.Dir and waits
// until it serves clients. URLs not given in cfg are taken from Dir/ports.json
// or, on first start, picked among free 127.0.0.1 ports and saved there, so a
// restart reuses them and brokers with different data directories run side by
// side. etcd's own log goes to logger at error level only. The member
// compacts its history hourly and has a 2 GiB backend quota.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedetcd: no data directory")
	}
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "strata"
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedetcd: %w", err)
	}
	clientURL, peerURL, err := resolveURLs(dir, cfg.ClientURL, cfg.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: %w", err)
	}
	curl, err := url.Parse(clientURL)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: client URL %q: %w", clientURL, err)
	}
	purl, err := url.Parse(peerURL)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: peer URL %q: %w", peerURL, err)
	}

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = dir
	ec.ListenClientUrls = []url.URL{*curl}
	ec.AdvertiseClientUrls = []url.URL{*curl}
	ec.ListenPeerUrls = []url.URL{*purl}
	ec.AdvertisePeerUrls = []url.URL{*purl}
	ec.InitialCluster = ec.InitialClusterFromName(cfg.Name)
	ec.InitialClusterToken = "strata-" + cfg.Name
	readyTimeout := embedReadyTimeout
	if cfg.InitialCluster != "" {
		ec.InitialCluster = cfg.InitialCluster
		ec.InitialClusterToken = "strata-cluster"
		// A member is ready only once a quorum of its peers has started:
		// wait as long as the caller allows.
		readyTimeout = 10 * time.Minute
	}
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"
	ec.QuotaBackendBytes = embedQuotaBytes
	// MaxTxnOps and MaxRequestBytes keep etcd's defaults (128 operations,
	// 1.5 MiB), what an external etcd runs with: meta writes within them.
	ec.EnableGRPCGateway = false
	ec.LogLevel = "error"
	closing := new(atomic.Bool)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapslog.New(logger, zapcore.ErrorLevel, closing))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("embedetcd in %s (client %s, peer %s): %w", dir, clientURL, peerURL, err)
	}
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedetcd in %s failed while starting: %w", dir, err)
	case <-timer.C:
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedetcd in %s not ready after %s", dir, readyTimeout)
	case <-ctx.Done():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedetcd in %s: %w", dir, ctx.Err())
	}
	logger.Info("embedded etcd ready", "dir", dir, "client_url", clientURL, "peer_url", peerURL)
	return &Server{etcd: e, endpoints: []string{clientURL}, closing: closing}, nil
}

// resolveURLs returns the client and peer URLs: given ones first, then those
// saved in dir/ports.json, then fresh free ports (saved for next time).
func resolveURLs(dir, clientURL, peerURL string) (string, string, error) {
	path := filepath.Join(dir, portsFile)
	var saved persistedPorts
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &saved); err != nil {
			return "", "", fmt.Errorf("%s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return "", "", err
	}
	if clientURL == "" {
		clientURL = saved.ClientURL
	}
	if peerURL == "" {
		peerURL = saved.PeerURL
	}
	if clientURL == "" || peerURL == "" {
		ports, err := FreePorts(2)
		if err != nil {
			return "", "", fmt.Errorf("pick free ports: %w", err)
		}
		if clientURL == "" {
			clientURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		}
		if peerURL == "" {
			peerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		}
	}
	if clientURL == saved.ClientURL && peerURL == saved.PeerURL {
		return clientURL, peerURL, nil
	}
	b, err = json.MarshalIndent(persistedPorts{ClientURL: clientURL, PeerURL: peerURL}, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := fileutil.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return "", "", err
	}
	return clientURL, peerURL, nil
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1, from below
// Linux's ephemeral range (32768-60999): a port the kernel hands out for
// ":0" listeners and outgoing connections can be taken by any of them
// between the pick and the bind, and again at every restart of a member
// that remembers its ports, while a port below that range is only taken
// by someone who asked for it. Ports are picked at random and tried by
// binding; one process never hands out the same port twice.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for len(ports) < n {
		port, err := pickPort()
		if err != nil {
			return nil, err
		}
		ports = append(ports, port)
	}
	return ports, nil
}

const (
	pickPortMin = 20000
	pickPortMax = 32767 // below the ephemeral range
)

var (
	pickedMu sync.Mutex
	picked   = map[int]bool{}
)

func pickPort() (int, error) {
	pickedMu.Lock()
	defer pickedMu.Unlock()
	for range 1000 {
		port := pickPortMin + rand.IntN(pickPortMax-pickPortMin+1)
		if picked[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		l.Close()
		picked[port] = true
		return port, nil
	}
	// A crowded range: let the kernel choose.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Endpoints are the client URLs, for Dial or clientv3.
func (e *Server) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Err reports a fatal error of the running member (it stops serving).
func (e *Server) Err() <-chan error { return e.etcd.Err() }

// Close stops the member and waits until it has stopped. It is idempotent.
func (e *Server) Close() error {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		e.etcd.Close()
	})
	return nil
}
