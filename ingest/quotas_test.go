package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/quota"
)

func (f *fake) ClientQuotas(context.Context) (map[string]quota.Values, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]quota.Values{}
	for k, v := range f.quotas {
		out[k] = v
	}
	return out, nil
}

func (f *fake) AlterClientQuota(_ context.Context, e quota.Entity, ops []quota.Op, validateOnly bool) (quota.Values, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	vals := quota.Values{}
	for k, v := range f.quotas[e.Key()] {
		vals[k] = v
	}
	for _, op := range ops {
		v := op.Value
		if op.Remove {
			v = 1 // only the key counts
		}
		if err := quota.ValidateValue(op.Key, v); err != nil {
			return nil, err
		}
		if op.Remove {
			delete(vals, op.Key)
		} else {
			vals[op.Key] = op.Value
		}
	}
	if !validateOnly {
		if f.quotas == nil {
			f.quotas = map[string]quota.Values{}
		}
		f.quotas[e.Key()] = vals
	}
	return vals, nil
}

func describeQuotas(strict bool, comps ...kmsg.DescribeClientQuotasRequestComponent) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrDescribeClientQuotasRequest()
		r.Components, r.Strict = comps, strict
		return r
	}
}

func quotaComponent(typ string, mt kmsg.QuotasMatchType, name *string) kmsg.DescribeClientQuotasRequestComponent {
	c := kmsg.NewDescribeClientQuotasRequestComponent()
	c.EntityType, c.MatchType, c.Match = typ, mt, name
	return c
}

func alterQuota(validate bool, typ string, name *string, key string, v float64) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrAlterClientQuotasRequest()
		r.ValidateOnly = validate
		e := kmsg.NewAlterClientQuotasRequestEntry()
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type, ent.Name = typ, name
		e.Entity = append(e.Entity, ent)
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value = key, v
		e.Ops = append(e.Ops, op)
		r.Entries = append(r.Entries, e)
		return r
	}
}

func createTopics(version int16, names ...string) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.Version = version
		for _, name := range names {
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic, t.NumPartitions, t.ReplicationFactor = name, 3, 1
			r.Topics = append(r.Topics, t)
		}
		return r
	}
}

func strp(s string) *string { return &s }

func withQuotas(q map[string]quota.Values) func(*fake) {
	return func(f *fake) {
		f.quotas = q
		f.enforcer = quota.New(quota.Config{})
		f.enforcer.Set(q)
	}
}

func init() {
	invalid := kerr.InvalidRequest.Code
	stored := map[string]quota.Values{
		"user=alice":                 {quota.ProducerByteRate: 1024},
		"user=<default>":             {quota.ConsumerByteRate: 2048},
		"user=alice/client-id=app":   {quota.RequestPercentage: 50},
		"client-id=<default>":        {quota.ProducerByteRate: 4096},
		"user=<default>/client-id=x": {quota.ProducerByteRate: 1},
	}
	entries := func(want ...string) func(*testing.T, *fake, kmsg.Response) {
		return func(t *testing.T, _ *fake, r kmsg.Response) {
			got := map[string]bool{}
			for _, e := range r.(*kmsg.DescribeClientQuotasResponse).Entries {
				var ent quota.Entity
				for _, c := range e.Entity {
					comp := quota.Component{Type: c.Type, Default: c.Name == nil}
					if c.Name != nil {
						comp.Name = *c.Name
					}
					ent = append(ent, comp)
				}
				got[ent.Key()] = true
			}
			if len(got) != len(want) {
				t.Fatalf("entries %v, want %v", got, want)
			}
			for _, w := range want {
				if !got[w] {
					t.Fatalf("entries %v, want %v", got, want)
				}
			}
		}
	}
	handlerCases = append(handlerCases, []handlerCase{
		// 48 DescribeClientQuotas
		{name: "describe quotas/all", setup: withQuotas(stored), req: describeQuotas(false), want: []int16{none},
			check: entries("user=alice", "user=<default>", "user=alice/client-id=app", "client-id=<default>", "user=<default>/client-id=x")},
		{name: "describe quotas/exact user, not strict", setup: withQuotas(stored), req: describeQuotas(false, quotaComponent("user", kmsg.QuotasMatchTypeExact, strp("alice"))), want: []int16{none},
			check: entries("user=alice", "user=alice/client-id=app")},
		{name: "describe quotas/exact user, strict", setup: withQuotas(stored), req: describeQuotas(true, quotaComponent("user", kmsg.QuotasMatchTypeExact, strp("alice"))), want: []int16{none},
			check: entries("user=alice")},
		{name: "describe quotas/default user with any client", setup: withQuotas(stored), req: describeQuotas(true, quotaComponent("user", kmsg.QuotasMatchTypeDefault, nil), quotaComponent("client-id", kmsg.QuotasMatchTypeAny, nil)), want: []int16{none},
			check: entries("user=<default>/client-id=x")},
		{name: "describe quotas/unknown entity type", req: describeQuotas(false, quotaComponent("ip", kmsg.QuotasMatchTypeAny, nil)), want: []int16{invalid}},
		{name: "describe quotas/exact without a name", req: describeQuotas(false, quotaComponent("user", kmsg.QuotasMatchTypeExact, nil)), want: []int16{invalid}},
		{name: "describe quotas/type twice", req: describeQuotas(false, quotaComponent("user", kmsg.QuotasMatchTypeAny, nil), quotaComponent("user", kmsg.QuotasMatchTypeDefault, nil)), want: []int16{invalid}},
		// 49 AlterClientQuotas
		{name: "create topics v5/mutation quota in debt: accepted, throttled", setup: func(f *fake) {
			withQuotas(map[string]quota.Values{"user=ANONYMOUS": {quota.ControllerMutationRate: 0.1}})(f)
			f.enforcer.Mutations("ANONYMOUS", "test", 100, time.Now())
		}, req: createTopics(5, "new"), want: []int16{none},
			check: func(t *testing.T, _ *fake, r kmsg.Response) {
				if ms := r.(*kmsg.CreateTopicsResponse).ThrottleMillis; ms <= 0 {
					t.Fatalf("throttle %d ms, want > 0", ms)
				}
			}},
		{name: "alter quotas/set", req: alterQuota(false, "user", strp("bob"), quota.ProducerByteRate, 1<<20), want: []int16{none},
			check: func(t *testing.T, f *fake, _ kmsg.Response) {
				if f.quotas["user=bob"][quota.ProducerByteRate] != 1<<20 {
					t.Fatalf("stored %v", f.quotas)
				}
			}},
		{name: "alter quotas/validate only", req: alterQuota(true, "client-id", nil, quota.ConsumerByteRate, 100), want: []int16{none},
			check: func(t *testing.T, f *fake, _ kmsg.Response) {
				if len(f.quotas) != 0 {
					t.Fatalf("validate-only stored %v", f.quotas)
				}
			}},
		{name: "alter quotas/unknown key", req: alterQuota(false, "user", nil, "connection_creation_rate", 5), want: []int16{invalid}},
		{name: "alter quotas/negative", req: alterQuota(false, "user", nil, quota.ProducerByteRate, -5), want: []int16{invalid}},
		{name: "alter quotas/ip entity", req: alterQuota(false, "ip", strp("1.2.3.4"), quota.ProducerByteRate, 5), want: []int16{invalid}},
		// Enforcement: a produce over its quota answers with a throttle time.
		{name: "produce/over its quota is throttled", setup: withQuotas(map[string]quota.Values{"user=<default>": {quota.ProducerByteRate: 1}}),
			req: produce(-1, false, 0), want: []int16{none},
			check: func(t *testing.T, _ *fake, r kmsg.Response) {
				if ms := r.(*kmsg.ProduceResponse).ThrottleMillis; ms <= 0 {
					t.Fatalf("throttle %d ms, want > 0", ms)
				}
			}},
		{name: "create topics/mutation quota in debt", setup: func(f *fake) {
			withQuotas(map[string]quota.Values{"user=ANONYMOUS": {quota.ControllerMutationRate: 0.1}})(f)
			f.enforcer.Mutations("ANONYMOUS", "test", 100, time.Now()) // spend the burst and more
		}, req: createTopics(6, "new"), want: []int16{kerr.ThrottlingQuotaExceeded.Code},
			check: func(t *testing.T, _ *fake, r kmsg.Response) {
				if ms := r.(*kmsg.CreateTopicsResponse).ThrottleMillis; ms <= 0 {
					t.Fatalf("throttle %d ms, want > 0", ms)
				}
			}},
	}...)
}
