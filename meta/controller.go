package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Controller election. Brokers campaign with etcd's concurrency.Election on
// the prefix Keys.Controller(): each candidate holds one key,
// controller/<lease id hex>, bound to its own session lease and holding its
// broker id in decimal; the candidate whose key was created first is the
// controller. A controller that stops renewing its lease (killed, cut off
// from etcd) loses its key within the TTL and the next candidate takes over.
//
// Controllership is advisory: the controller's writes are fenced by the
// partitions' leader epochs like every other leadership write, so two
// brokers that both believe they control never both apply a change.

// Controllership is a won controller election, held until Done is closed or
// Resign is called.
type Controllership struct {
	sess *concurrency.Session
	el   *concurrency.Election
}

// CampaignController blocks until broker brokerID is the controller (or ctx
// ends, or etcd fails). The claim lives on a session lease of ttl (whole
// seconds, at least 1) that is kept alive in the background.
func (c *Client) CampaignController(ctx context.Context, brokerID int32, ttl time.Duration) (*Controllership, error) {
	secs := int(max(ttl.Seconds(), 1))
	sess, err := concurrency.NewSession(c.cli, concurrency.WithTTL(secs), concurrency.WithContext(ctx))
	if err != nil {
		return nil, etcdErr("controller election: open session", err)
	}
	el := concurrency.NewElection(sess, c.keys.Controller())
	if err := el.Campaign(ctx, strconv.Itoa(int(brokerID))); err != nil {
		sess.Close()
		return nil, etcdErr(fmt.Sprintf("controller election: campaign of broker %d", brokerID), err)
	}
	return &Controllership{sess: sess, el: el}, nil
}

// Done is closed when the claim is lost: the session's lease expired or
// could not be renewed.
func (l *Controllership) Done() <-chan struct{} { return l.sess.Done() }

// Resign gives the controllership up (the next candidate takes over at once
// instead of after the TTL) and ends the session.
func (l *Controllership) Resign(ctx context.Context) error {
	err := l.el.Resign(ctx)
	if cerr := l.sess.Close(); err == nil && !errors.Is(cerr, context.Canceled) {
		err = cerr
	}
	if err != nil {
		return etcdErr("controller election: resign", err)
	}
	return nil
}

// Controller returns the broker id of the current controller; ok is false
// while nobody holds the election.
func (c *Client) Controller(ctx context.Context) (id int32, ok bool, err error) {
	resp, err := c.cli.Get(ctx, c.keys.ControllerCandidates(), clientv3.WithFirstCreate()...)
	if err != nil {
		return 0, false, etcdErr("read controller", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("meta: controller key %s holds %q: %w", resp.Kvs[0].Key, resp.Kvs[0].Value, err)
	}
	return int32(n), true, nil
}
