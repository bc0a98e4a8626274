package server

import (
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

const (
	srOrderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"int"}]}`
	srOrderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"int"},{"name":"note","type":"string","default":""}]}`
	srOrderV3 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
	// no default for qty: old records cannot be read with it (BACKWARD).
	srOrderBad = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""},{"name":"qty","type":"int"}]}`
)

func srClient(t *testing.T, tb *testBroker) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs("http://" + tb.srv.SchemaRegistryAddr()))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestSchemaRegistryEndToEnd runs franz-go's schema registry client (not
// Strata's code) against two brokers started with --schema-registry-listen
// on one etcd: register on one, read on the other; evolve v1 -> v2 (field
// added with a default) -> v3 (int widened to long); an incompatible v4 is
// refused with 409; the same schema registered concurrently through both
// brokers under other subjects gets one id.
func TestSchemaRegistryEndToEnd(t *testing.T) {
	c := startCluster(t, 2, func(cfg *Config) { cfg.SchemaRegistryListen = "127.0.0.1:0" })
	ctx := testCtx(t)
	a, b := srClient(t, c.broker(1)), srClient(t, c.broker(2))

	var ids []int
	for i, s := range []string{srOrderV1, srOrderV2, srOrderV3} {
		ss, err := a.CreateSchema(ctx, "orders-value", sr.Schema{Schema: s, Type: sr.TypeAvro})
		if err != nil {
			t.Fatalf("register v%d: %v", i+1, err)
		}
		if ss.Version != i+1 {
			t.Fatalf("v%d registered as version %d", i+1, ss.Version)
		}
		ids = append(ids, ss.ID)
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Fatalf("ids %v not distinct", ids)
	}
	// The other broker sees every write at once: reads go to etcd.
	for i, s := range []string{srOrderV1, srOrderV2, srOrderV3} {
		got, err := b.SchemaByID(ctx, ids[i])
		if err != nil || got.Schema != s {
			t.Fatalf("broker 2 SchemaByID(%d) = %q, %v", ids[i], got.Schema, err)
		}
		ss, err := b.LookupSchema(ctx, "orders-value", sr.Schema{Schema: s})
		if err != nil || ss.ID != ids[i] || ss.Version != i+1 {
			t.Fatalf("broker 2 lookup v%d = %+v, %v", i+1, ss, err)
		}
	}
	latest, err := b.SchemaByVersion(ctx, "orders-value", -1)
	if err != nil || latest.Version != 3 || latest.ID != ids[2] {
		t.Fatalf("latest = %+v, %v", latest, err)
	}
	res, err := b.CheckCompatibility(ctx, "orders-value", -1, sr.Schema{Schema: srOrderBad})
	if err != nil || res.Is {
		t.Fatalf("compatibility of the bad schema = %+v, %v", res, err)
	}
	_, err = b.CreateSchema(ctx, "orders-value", sr.Schema{Schema: srOrderBad, Type: sr.TypeAvro})
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 409 || re.ErrorCode != 409 {
		t.Fatalf("incompatible v4: %v", err)
	}
	if _, err := a.SchemaByID(ctx, 9999); !errors.As(err, &re) || re.ErrorCode != 40403 {
		t.Fatalf("unknown id: %v", err)
	}

	// One schema, two subjects, two brokers at once: one id.
	shared := `{"type":"record","name":"Shared","fields":[{"name":"x","type":"string"}]}`
	var wg sync.WaitGroup
	got := make([]int, 2)
	for i, cl := range []*sr.Client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss, err := cl.CreateSchema(ctx, []string{"s1-value", "s2-value"}[i], sr.Schema{Schema: shared})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = ss.ID
		}()
	}
	wg.Wait()
	if got[0] == 0 || got[0] != got[1] || got[0] <= ids[2] {
		t.Fatalf("shared schema ids %v (earlier ids %v)", got, ids)
	}
	subjects, err := a.SubjectsByID(ctx, got[0])
	if err != nil || len(subjects) != 2 {
		t.Fatalf("subjects of id %d = %v, %v", got[0], subjects, err)
	}
}
