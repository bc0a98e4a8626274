package quota

import (
	"errors"
	"testing"
	"time"
)

func TestEntityKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		e   Entity
		key string
	}{
		{Entity{{Type: TypeUser, Name: "alice"}}, "user=alice"},
		{Entity{{Type: TypeUser, Default: true}}, "user=<default>"},
		{Entity{{Type: TypeClientID, Name: "my app/1"}}, "client-id=my%20app%2F1"},
		{Entity{{Type: TypeClientID, Name: "x"}, {Type: TypeUser, Name: "<default>"}}, "user=%3Cdefault%3E/client-id=x"},
		{Entity{{Type: TypeUser, Name: "bob"}, {Type: TypeClientID, Default: true}}, "user=bob/client-id=<default>"},
		{Entity{{Type: TypeClientID, Name: ""}}, "client-id="},
	} {
		if got := tc.e.Key(); got != tc.key {
			t.Errorf("%+v: key %q, want %q", tc.e, got, tc.key)
		}
		back, err := ParseKey(tc.key)
		if err != nil || back.Key() != tc.key {
			t.Errorf("ParseKey(%q) = %+v, %v", tc.key, back, err)
		}
	}
	for _, bad := range []string{"ip=1.2.3.4", "user", "user=a/user=b", "user=%zz", "user="} {
		if _, err := ParseKey(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseKey(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestValidateValue(t *testing.T) {
	for _, tc := range []struct {
		key string
		v   float64
		ok  bool
	}{
		{ProducerByteRate, 1024, true},
		{ConsumerByteRate, 1.5, false},
		{RequestPercentage, 12.5, true},
		{ControllerMutationRate, 0.5, true},
		{ProducerByteRate, 0, false},
		{ProducerByteRate, -1, false},
		{"connection_creation_rate", 10, false},
	} {
		if err := ValidateValue(tc.key, tc.v); (err == nil) != tc.ok {
			t.Errorf("%s=%v: %v, want ok %v", tc.key, tc.v, err, tc.ok)
		}
	}
}

// TestResolvePrecedence: Kafka's order, and who shares a sensor.
func TestResolvePrecedence(t *testing.T) {
	all := map[string]Values{
		"user=alice/client-id=app":           {ProducerByteRate: 1},
		"user=alice/client-id=<default>":     {ProducerByteRate: 2},
		"user=alice":                         {ProducerByteRate: 3},
		"user=<default>/client-id=app":       {ProducerByteRate: 4},
		"user=<default>/client-id=<default>": {ProducerByteRate: 5},
		"user=<default>":                     {ProducerByteRate: 6, ConsumerByteRate: 60},
		"client-id=app":                      {ProducerByteRate: 7, RequestPercentage: 70},
		"client-id=<default>":                {ProducerByteRate: 8, RequestPercentage: 80},
	}
	drop := func(keys ...string) map[string]Values {
		out := map[string]Values{}
		for k, v := range all {
			out[k] = v
		}
		for _, k := range keys {
			delete(out, k)
		}
		return out
	}
	for _, tc := range []struct {
		name         string
		quotas       map[string]Values
		key          string
		user, client string
		want         float64
		sk           sensorKey
	}{
		{"user and client", all, ProducerByteRate, "alice", "app", 1, sensorKey{quota: ProducerByteRate, user: "alice", client: "app", hasUser: true, hasClient: true}},
		{"user, default client", all, ProducerByteRate, "alice", "other", 2, sensorKey{quota: ProducerByteRate, user: "alice", client: "other", hasUser: true, hasClient: true}},
		{"user", drop("user=alice/client-id=<default>"), ProducerByteRate, "alice", "other", 3, sensorKey{quota: ProducerByteRate, user: "alice", hasUser: true}},
		{"default user and client", all, ProducerByteRate, "bob", "app", 4, sensorKey{quota: ProducerByteRate, user: "bob", client: "app", hasUser: true, hasClient: true}},
		{"default user, default client", all, ProducerByteRate, "bob", "x", 5, sensorKey{quota: ProducerByteRate, user: "bob", client: "x", hasUser: true, hasClient: true}},
		{"default user", drop("user=<default>/client-id=<default>"), ProducerByteRate, "bob", "x", 6, sensorKey{quota: ProducerByteRate, user: "bob", hasUser: true}},
		{"per key: consumer from default user", all, ConsumerByteRate, "alice", "app", 60, sensorKey{quota: ConsumerByteRate, user: "alice", hasUser: true}},
		{"client id", all, RequestPercentage, "alice", "app", 70, sensorKey{quota: RequestPercentage, client: "app", hasClient: true}},
		{"default client", all, RequestPercentage, "alice", "zzz", 80, sensorKey{quota: RequestPercentage, client: "zzz", hasClient: true}},
	} {
		m := New(Config{})
		m.Set(tc.quotas)
		m.mu.Lock()
		v, sk, ok := m.resolve(tc.key, tc.user, tc.client)
		m.mu.Unlock()
		if !ok || v != tc.want || sk != tc.sk {
			t.Errorf("%s: %v %+v %v, want %v %+v", tc.name, v, sk, ok, tc.want, tc.sk)
		}
	}
	m := New(Config{})
	m.Set(map[string]Values{"user=alice": {ProducerByteRate: 1}})
	if _, ok := m.Quota(ProducerByteRate, "bob", "x"); ok {
		t.Error("bob has alice's quota")
	}
	if d := m.Record(ProducerByteRate, "bob", "x", 1e9, time.Now()); d != 0 {
		t.Errorf("no quota, throttled %s", d)
	}
}

// TestRateThrottle: a client at twice its quota over a full window is
// throttled for as long as the window it overspent, and not beyond the
// window; within the quota it is not throttled.
func TestRateThrottle(t *testing.T) {
	m := New(Config{WindowSamples: 11, Window: time.Second})
	m.Set(map[string]Values{"user=<default>": {ProducerByteRate: 1000}})
	t0 := time.Unix(1000, 0)
	// 10 s at 1000 B/s: exactly the quota.
	var d time.Duration
	for i := 0; i < 100; i++ {
		d = m.Record(ProducerByteRate, "a", "", 100, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	if d != 0 {
		t.Fatalf("at the quota: throttled %s", d)
	}
	// Another 10 000 B at once: the window (10 s) holds 20 000 B, twice
	// the quota, so the client waits about the window's length.
	d = m.Record(ProducerByteRate, "a", "", 10000, t0.Add(10*time.Second))
	if d < 9*time.Second || d > 11*time.Second {
		t.Fatalf("at twice the quota: throttled %s, want about 10 s", d)
	}
	// A burst of 100x is capped at the whole window (11 s).
	d = m.Record(ProducerByteRate, "b", "", 1e6, t0)
	if d != 11*time.Second {
		t.Fatalf("burst: throttled %s, want the 11 s cap", d)
	}
	// Another user has their own sensor under a default quota.
	if d := m.Record(ProducerByteRate, "c", "", 100, t0); d != 0 {
		t.Fatalf("user c throttled %s by a's and b's traffic", d)
	}
	// Unrecord takes back what a dropped response counted.
	m.Set(map[string]Values{"user=<default>": {ConsumerByteRate: 1000}})
	if d := m.Record(ConsumerByteRate, "f", "", 20000, t0); d == 0 {
		t.Fatal("fetch over quota not throttled")
	}
	m.Unrecord(ConsumerByteRate, "f", "", 20000, t0)
	if d := m.Record(ConsumerByteRate, "f", "", 100, t0); d != 0 {
		t.Fatalf("after unrecord: throttled %s", d)
	}
	if Millis(1500*time.Microsecond) != 2 || Millis(0) != 0 {
		t.Fatal("Millis rounds up")
	}
}

// TestMutationsStrict: KIP-599's token bucket: the burst is spent, the
// request that finds the bucket in debt is refused with the time until it
// is not, and tokens come back at the quota's rate.
func TestMutationsStrict(t *testing.T) {
	m := New(Config{WindowSamples: 11, Window: time.Second})
	m.Set(map[string]Values{"user=alice": {ControllerMutationRate: 2}})
	t0 := time.Unix(1000, 0)
	// Burst: 2/s x 11 s = 22 tokens. 30 partitions at once are accepted
	// (the bucket had tokens) and leave a debt of 8 = 4 s.
	d, ok := m.Mutations("alice", "", 30, t0)
	if !ok || d != 4*time.Second {
		t.Fatalf("first request: %s %v, want accepted with 4 s", d, ok)
	}
	if d, ok := m.Mutations("alice", "", 1, t0.Add(time.Second)); ok || d != 3*time.Second {
		t.Fatalf("in debt: %s %v, want refused with 3 s", d, ok)
	}
	if d, ok := m.Mutations("alice", "", 1, t0.Add(4*time.Second)); !ok || d != 500*time.Millisecond {
		t.Fatalf("out of debt: %s %v, want accepted with 0.5 s", d, ok)
	}
	if _, ok := m.Mutations("bob", "", 1000, t0); !ok {
		t.Fatal("bob has no quota")
	}
}
