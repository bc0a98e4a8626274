package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BrokerInfo is the value of brokers/<id>: how clients reach the broker.
type BrokerInfo struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"`
	// Incarnation identifies the broker's data directory (stable across
	// restarts). A registration left by a killed process with the same
	// incarnation is ours: the data-directory lock proves that process
	// is gone, so it is taken over at once instead of waiting for its
	// lease to expire.
	Incarnation string `json:"incarnation,omitempty"`
	// Listeners are every advertised listener of the broker (Kafka's
	// advertised.listeners), by name; Host and Port above are the
	// inter-broker listener's, which followers dial. Metadata answers a
	// client with the addresses of the listener it connected to.
	Listeners []Listener `json:"listeners,omitempty"`
}

// Listener is one advertised listener: its name (PLAINTEXT, or a name of
// the listener security protocol map), security protocol and address.
type Listener struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
}

// expirySlack is how long, beyond a lease's remaining TTL, RegisterBroker waits
// for etcd to notice the expiry (the lessor checks about every 500ms).
const expirySlack = 2 * time.Second

// Registration is a live broker registration: brokers/<id> bound to a lease
// that is kept alive in the background.
type Registration struct {
	c     *Client
	key   string
	lease clientv3.LeaseID

	cancel    context.CancelFunc // stops keepalive and the key watch
	done      chan struct{}      // monitor exited
	lost      chan struct{}
	lostOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
}

// RegisterBroker writes brokers/<id> = b under a new lease of the given ttl
// (whole seconds, at least 1; etcd may raise very small values to its minimum)
// and keeps the lease alive until Close or until the lease is lost.
//
// If the key is held by another lease, RegisterBroker does not take it over: it
// waits until that lease's remaining TTL (plus a small slack) has passed. A
// previous incarnation of this broker that was killed without revoking its
// lease stops being kept alive, so its key disappears within its TTL and the
// registration then succeeds: a restart right after kill -9 works within ~ttl.
// If the key is still there after that wait, a live process keeps it alive and
// ErrBrokerIDInUse is returned. A key of the same Incarnation is taken over
// at once. A key without a lease (written by hand) is
// ErrBrokerIDInUse at once. ctx bounds the whole wait.
func (c *Client) RegisterBroker(ctx context.Context, b BrokerInfo, ttl time.Duration) (*Registration, error) {
	if b.ID < 0 {
		return nil, fmt.Errorf("meta: register broker: negative id %d: %w", b.ID, ErrInvalid)
	}
	secs := int64(math.Ceil(ttl.Seconds()))
	if secs < 1 {
		secs = 1
	}
	val, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	key := c.keys.Broker(b.ID)

	grant, err := c.cli.Grant(ctx, secs)
	if err != nil {
		return nil, etcdErr(fmt.Sprintf("register broker %d: grant lease", b.ID), err)
	}
	mctx, cancel := context.WithCancel(context.Background())
	r := &Registration{
		c: c, key: key, lease: grant.ID, cancel: cancel,
		done: make(chan struct{}), lost: make(chan struct{}),
	}
	// Keep our lease alive while we possibly wait for a previous incarnation's.
	ka, err := c.cli.KeepAlive(mctx, grant.ID)
	if err != nil {
		cancel()
		c.revoke(grant.ID)
		return nil, etcdErr(fmt.Sprintf("register broker %d: keepalive", b.ID), err)
	}
	fail := func(err error) (*Registration, error) {
		cancel()
		c.revoke(grant.ID)
		return nil, err
	}

	var waitUntil time.Time // set when we first see someone else's key
	for {
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(val), clientv3.WithLease(grant.ID))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return fail(etcdErr(fmt.Sprintf("register broker %d", b.ID), err))
		}
		if resp.Succeeded {
			go r.monitor(mctx, ka, resp.Header.Revision)
			return r, nil
		}
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			continue // deleted in between; try again
		}
		held := kvs[0]
		if held.Lease == 0 {
			return fail(fmt.Errorf("meta: register broker %d: %s exists without a lease: %w", b.ID, key, ErrBrokerIDInUse))
		}
		var prev BrokerInfo
		if b.Incarnation != "" && json.Unmarshal(held.Value, &prev) == nil && prev.Incarnation == b.Incarnation {
			// Our own previous life: revoke its lease (deleting the key)
			// and register again.
			if _, err := c.cli.Revoke(ctx, clientv3.LeaseID(held.Lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return fail(etcdErr(fmt.Sprintf("register broker %d: revoke previous incarnation", b.ID), err))
			}
			continue
		}
		if waitUntil.IsZero() {
			ttlResp, err := c.cli.TimeToLive(ctx, clientv3.LeaseID(held.Lease))
			if err != nil {
				return fail(etcdErr(fmt.Sprintf("register broker %d: lease ttl", b.ID), err))
			}
			remaining := max(time.Duration(ttlResp.TTL)*time.Second, 0)
			waitUntil = time.Now().Add(remaining + expirySlack)
		}
		if !time.Now().Before(waitUntil) {
			return fail(fmt.Errorf("meta: register broker %d: %s is kept alive by lease %x: %w",
				b.ID, key, held.Lease, ErrBrokerIDInUse))
		}
		if err := waitForDelete(ctx, c.cli, ka, key, held.ModRevision, time.Until(waitUntil)); err != nil {
			return fail(fmt.Errorf("meta: register broker %d: waiting for %s to expire: %w", b.ID, key, err))
		}
	}
}

// waitForDelete returns when key is deleted or changed after rev, or when d
// has passed (nil error in both cases), or with ctx's error. It drains ka, the
// keepalive of the lease we wait with, meanwhile.
func waitForDelete(ctx context.Context, cli *clientv3.Client, ka <-chan *clientv3.LeaseKeepAliveResponse, key string, rev int64, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	wch := cli.Watch(clientv3.WithRequireLeader(wctx), key, clientv3.WithRev(rev+1))
	for {
		select {
		case <-wctx.Done():
			return ctx.Err()
		case _, ok := <-ka:
			if !ok {
				return errors.New("own lease lost while waiting")
			}
		case wr, ok := <-wch:
			if !ok {
				return ctx.Err()
			}
			if wr.Err() != nil { // no leader, compaction: pause, then look again
				select {
				case <-wctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
				return ctx.Err()
			}
			if len(wr.Events) > 0 {
				return nil
			}
		}
	}
}

func (c *Client) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.cli.Revoke(ctx, id) // best effort; the lease expires anyway
}

// monitor drains keepalive responses and watches the key. The registration is
// lost when the keepalive channel closes (lease revoked or expired, or etcd
// unreachable for a whole TTL), or when the key is deleted or rewritten under
// another lease.
func (r *Registration) monitor(ctx context.Context, ka <-chan *clientv3.LeaseKeepAliveResponse, rev int64) {
	defer close(r.done)
	cli := r.c.cli
	watch := func(from int64) clientv3.WatchChan {
		return cli.Watch(clientv3.WithRequireLeader(ctx), r.key, clientv3.WithRev(from))
	}
	wch := watch(rev + 1)
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ka:
			if !ok {
				if ctx.Err() == nil {
					r.markLost()
				}
				return
			}
		case wr, ok := <-wch:
			if ctx.Err() != nil {
				return
			}
			if !ok || wr.Err() != nil {
				// Watch broken (no leader, compaction, ...): check the key
				// directly, then watch again. Lease loss shows on ka.
				select {
				case <-ctx.Done():
					return
				case <-time.After(500 * time.Millisecond):
				}
				resp, err := cli.Get(ctx, r.key)
				if err != nil {
					wch = watch(rev + 1)
					continue
				}
				if len(resp.Kvs) == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) != r.lease {
					r.markLost()
					return
				}
				rev = resp.Header.Revision
				wch = watch(rev + 1)
				continue
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE || clientv3.LeaseID(ev.Kv.Lease) != r.lease {
					r.markLost()
					return
				}
				rev = ev.Kv.ModRevision
			}
		}
	}
}

func (r *Registration) markLost() { r.lostOnce.Do(func() { close(r.lost) }) }

// Lost is closed when the registration ends: the lease was revoked or expired
// (or could not be renewed for a whole TTL), the key was deleted or taken over,
// or Close was called.
func (r *Registration) Lost() <-chan struct{} { return r.lost }

// Lease is the registration's lease, e.g. to bind a controller election
// session (concurrency.WithLease) to the broker's liveness.
func (r *Registration) Lease() clientv3.LeaseID { return r.lease }

// Close stops the keepalive and revokes the lease, which deletes brokers/<id>.
// A lease that already expired is not an error. Close is idempotent.
func (r *Registration) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		r.markLost()
		if _, err := r.c.cli.Revoke(ctx, r.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			r.closeErr = etcdErr("revoke broker lease", err)
		}
	})
	return r.closeErr
}

// Brokers lists the registered brokers, sorted by id.
func (c *Client) Brokers(ctx context.Context) ([]BrokerInfo, error) {
	resp, err := c.cli.Get(ctx, c.keys.Brokers(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("list brokers", err)
	}
	out := make([]BrokerInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var b BrokerInfo
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			return nil, fmt.Errorf("meta: decode %s: %w", kv.Key, err)
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
