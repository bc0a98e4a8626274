package meta

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func newEtcdClient(t *testing.T) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: testEtcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func waitClosed(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: not within %s", what, d)
	}
}

func TestRegisterBroker(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)

	b2 := BrokerInfo{ID: 2, Host: "h2", Port: 9092, Rack: "r1", Listeners: []Listener{
		{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Host: "h2", Port: 9092},
		{Name: "SASL_SSL", Protocol: "SASL_SSL", Host: "h2.example", Port: 9093},
	}}
	r2, err := c.RegisterBroker(ctx, b2, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r10, err := c.RegisterBroker(ctx, BrokerInfo{ID: 10, Host: "h10", Port: 9092}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	brokers, err := c.Brokers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(brokers) != 2 || !reflect.DeepEqual(brokers[0], b2) || brokers[1].ID != 10 {
		t.Fatalf("Brokers() = %+v", brokers)
	}

	// A live broker keeps its id: a second registration gives up after the
	// holder's TTL (plus slack) has passed without the key going away.
	start := time.Now()
	_, err = c.RegisterBroker(ctx, BrokerInfo{ID: 2, Host: "other", Port: 9093}, 2*time.Second)
	if !errors.Is(err, ErrBrokerIDInUse) {
		t.Fatalf("duplicate registration: %v, want ErrBrokerIDInUse", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("duplicate registration took %s", d)
	}
	select {
	case <-r2.Lost():
		t.Fatal("live registration lost")
	default:
	}
	// The keepalive outlived several TTLs.
	if b, _ := c.Brokers(ctx); len(b) != 2 || b[0].Host != "h2" {
		t.Fatalf("Brokers() after duplicate = %+v", b)
	}

	// Another client revokes broker 10's lease: Lost closes, the key is gone.
	other := newEtcdClient(t)
	defer other.Close()
	if _, err := other.Revoke(ctx, r10.Lease()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, r10.Lost(), 5*time.Second, "Lost after revoke")
	if err := r10.Close(ctx); err != nil {
		t.Fatalf("Close after loss: %v", err)
	}

	// Deleting the key also ends the registration.
	r3, err := c.RegisterBroker(ctx, BrokerInfo{ID: 3, Host: "h3", Port: 9092}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Delete(ctx, c.Keys().Broker(3)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, r3.Lost(), 5*time.Second, "Lost after delete")
	r3.Close(ctx)

	// Close revokes: the key goes at once.
	if err := r2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r2.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitClosed(t, r2.Lost(), time.Second, "Lost after Close")
	if b, _ := c.Brokers(ctx); len(b) != 0 {
		t.Fatalf("Brokers() after close = %+v", b)
	}
}

// A broker killed without revoking its lease (kill -9) restarts with the same
// id: the new registration waits for the old lease to expire.
func TestRegisterBrokerAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cluster := testCluster(t)

	dead := newEtcdClient(t)
	if _, err := New(dead, cluster).RegisterBroker(ctx, BrokerInfo{ID: 1, Host: "old", Port: 9092}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	dead.Close() // keepalives stop; nothing is revoked

	c := New(testCli, cluster)
	start := time.Now()
	r, err := c.RegisterBroker(ctx, BrokerInfo{ID: 1, Host: "new", Port: 9092}, 2*time.Second)
	if err != nil {
		t.Fatalf("restart registration: %v", err)
	}
	defer r.Close(ctx)
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("restart registration took %s", d)
	}
	b, err := c.Brokers(ctx)
	if err != nil || len(b) != 1 || b[0].Host != "new" {
		t.Fatalf("Brokers() = %+v, %v", b, err)
	}
}

func TestRegisterBrokerKeyWithoutLease(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	if _, err := testCli.Put(ctx, c.Keys().Broker(4), `{"id":4}`); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := c.RegisterBroker(cctx, BrokerInfo{ID: 4}, time.Second); !errors.Is(err, ErrBrokerIDInUse) {
		t.Fatalf("got %v, want ErrBrokerIDInUse", err)
	}
}
