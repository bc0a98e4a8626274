package meta

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/quota"
)

// TestClientQuotaStore: ops set and remove values, an entity without
// values is deleted, bad entities and keys are refused, validate-only
// writes nothing, concurrent alterations of one entity all land, and a
// watcher sees each change.
func TestClientQuotaStore(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	seen := make(chan map[string]quota.Values, 64)
	go c.WatchClientQuotas(ctx, func(m map[string]quota.Values) { seen <- m })
	waitFor := func(ok func(map[string]quota.Values) bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-seen:
				if ok(m) {
					return
				}
			case <-deadline:
				t.Fatal("the watch never saw the change")
			}
		}
	}
	alice := quota.Entity{{Type: quota.TypeUser, Name: "alice"}}
	appDefault := quota.Entity{{Type: quota.TypeClientID, Default: true}, {Type: quota.TypeUser, Name: "a/b"}}
	if _, err := c.AlterClientQuota(ctx, alice, []quota.Op{{Key: quota.ProducerByteRate, Value: 1024}, {Key: quota.RequestPercentage, Value: 50}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AlterClientQuota(ctx, appDefault, []quota.Op{{Key: quota.ConsumerByteRate, Value: 2048}}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(func(m map[string]quota.Values) bool {
		return m["user=alice"][quota.ProducerByteRate] == 1024 && m["user=a%2Fb/client-id=<default>"][quota.ConsumerByteRate] == 2048
	})
	vals, err := c.AlterClientQuota(ctx, alice, []quota.Op{{Key: quota.ProducerByteRate, Remove: true}}, false)
	if err != nil || len(vals) != 1 || vals[quota.RequestPercentage] != 50 {
		t.Fatalf("after removing one key: %v %v", vals, err)
	}
	if vals, err := c.AlterClientQuota(ctx, alice, []quota.Op{{Key: quota.RequestPercentage, Value: 10}}, true); err != nil || vals[quota.RequestPercentage] != 10 {
		t.Fatalf("validate only: %v %v", vals, err)
	}
	if _, err := c.AlterClientQuota(ctx, alice, []quota.Op{{Key: quota.RequestPercentage, Remove: true}}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(func(m map[string]quota.Values) bool { _, ok := m["user=alice"]; return !ok && len(m) == 1 })
	all, err := c.ClientQuotas(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("stored %v %v", all, err)
	}
	for _, tc := range []struct {
		name string
		e    quota.Entity
		ops  []quota.Op
	}{
		{"ip entity", quota.Entity{{Type: "ip", Name: "1.2.3.4"}}, []quota.Op{{Key: quota.ProducerByteRate, Value: 1}}},
		{"unknown key", alice, []quota.Op{{Key: "connection_creation_rate", Value: 1}}},
		{"zero", alice, []quota.Op{{Key: quota.ProducerByteRate, Value: 0}}},
		{"key twice", alice, []quota.Op{{Key: quota.ProducerByteRate, Value: 1}, {Key: quota.ProducerByteRate, Remove: true}}},
		{"no entity", nil, []quota.Op{{Key: quota.ProducerByteRate, Value: 1}}},
	} {
		if _, err := c.AlterClientQuota(ctx, tc.e, tc.ops, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	// Ten alterations of one entity at once, each setting its own key
	// or value: the compare-and-swap loses none.
	bob := quota.Entity{{Type: quota.TypeUser, Name: "bob"}}
	keys := quota.Keys
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.AlterClientQuota(ctx, bob, []quota.Op{{Key: keys[i%len(keys)], Value: float64(1000 + i%len(keys))}}, false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	all, _ = c.ClientQuotas(ctx)
	if got := all["user=bob"]; len(got) != len(keys) {
		t.Fatalf("concurrent alterations left %v, want all %d keys", got, len(keys))
	}
}
