package ingest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/auth"
)

// scramUsers is ScramUsers in memory.
type scramUsers struct {
	mu sync.Mutex
	m  map[string]map[string]auth.ScramCredential
}

func newScramUsers(t testing.TB, user, password string) *scramUsers {
	u := &scramUsers{m: map[string]map[string]auth.ScramCredential{}}
	for _, mech := range []string{auth.ScramSHA256, auth.ScramSHA512} {
		c, err := auth.NewScramCredential(mech, user, password, 4096)
		if err != nil {
			t.Fatal(err)
		}
		_ = u.PutScramCredential(context.Background(), user, c)
	}
	return u
}

func (u *scramUsers) ScramCredential(_ context.Context, user, mech string) (auth.ScramCredential, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.m[user][mech]
	if !ok {
		return c, fmt.Errorf("%w: %s", ErrUnknownUser, user)
	}
	return c, nil
}

func (u *scramUsers) ScramUsers(_ context.Context, users []string) (map[string][]auth.ScramCredential, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string][]auth.ScramCredential{}
	for name, cs := range u.m {
		if users != nil && !strings.Contains(","+strings.Join(users, ",")+",", ","+name+",") {
			continue
		}
		for _, c := range cs {
			out[name] = append(out[name], c)
		}
	}
	return out, nil
}

func (u *scramUsers) PutScramCredential(_ context.Context, user string, c auth.ScramCredential) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[user] == nil {
		u.m[user] = map[string]auth.ScramCredential{}
	}
	u.m[user][c.Mechanism] = c
	return nil
}

func (u *scramUsers) DeleteScramCredential(_ context.Context, user, mech string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[user][mech]; !ok {
		return ErrUnknownUser
	}
	delete(u.m[user], mech)
	if len(u.m[user]) == 0 {
		delete(u.m, user)
	}
	return nil
}

func scramServer(t *testing.T, users *scramUsers) string {
	t.Helper()
	var mechs []SASLMechanism
	for _, m := range []string{auth.ScramSHA512, auth.ScramSHA256} {
		mech, err := NewScramMechanism(m, users)
		if err != nil {
			t.Fatal(err)
		}
		mechs = append(mechs, mech)
	}
	f := newFake()
	b := f.backend(false)
	b.Scram = users
	s := NewServer(Config{Logger: quiet, SASLMechanisms: mechs}, b)
	addr := serveListenerTest(t, s, ListenerOptions{RequireSASL: true})
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	f.brokers = []BrokerInfo{{ID: 1, Host: host, Port: int32(p)}} // clients are sent here
	return addr
}

// TestScramExchange: franz-go's SCRAM client against the mechanism, both
// hashes; a wrong password and an unknown user fail alike; a credential
// set through AlterUserScramCredentials (the client salts) logs in.
func TestScramExchange(t *testing.T) {
	users := newScramUsers(t, "alice", "alice-secret")
	addr := scramServer(t, users)
	ctx := context.Background()
	try := func(a scram.Auth, sha512 bool) error {
		m := a.AsSha256Mechanism()
		if sha512 {
			m = a.AsSha512Mechanism()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(m), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		return cl.Ping(ctx)
	}
	for _, sha512 := range []bool{false, true} {
		if err := try(scram.Auth{User: "alice", Pass: "alice-secret"}, sha512); err != nil {
			t.Fatalf("SCRAM (sha512 %v): %v", sha512, err)
		}
		for _, a := range []scram.Auth{{User: "alice", Pass: "wrong"}, {User: "mallory", Pass: "alice-secret"}} {
			err := try(a, sha512)
			if err == nil || !strings.Contains(err.Error(), "Invalid user credentials") {
				t.Fatalf("SCRAM as %s/%s: %v, want the credentials failure", a.User, a.Pass, err)
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-pw"}})
	if err != nil || res["bob"].Err != nil {
		t.Fatalf("AlterUserSCRAMs: %v %v", err, res["bob"].Err)
	}
	if err := try(scram.Auth{User: "bob", Pass: "bob-pw"}, false); err != nil {
		t.Fatalf("bob after AlterUserScramCredentials: %v", err)
	}
	d, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(d) != 2 || len(d["alice"].CredInfos) != 2 {
		t.Fatalf("DescribeUserSCRAMs: %+v %v", d, err)
	}
	if d, _ := adm.DescribeUserSCRAMs(ctx, "nobody"); !strings.Contains(fmt.Sprint(d["nobody"].Err), "RESOURCE_NOT_FOUND") {
		t.Fatalf("unknown user: %+v", d)
	}
	// Bad upsertions: iterations, mechanism, twice in one request.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, u := range []struct {
		name  string
		mech  int8
		iters int32
	}{{"i", 2, 10}, {"m", 9, 4096}, {"d", 1, 4096}, {"d", 1, 4096}} {
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = u.name, u.mech, u.iters, []byte("salt"), make([]byte, 32)
		req.Upsertions = append(req.Upsertions, up)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int16{"i": kerr.UnacceptableCredential.Code, "m": kerr.UnsupportedSaslMechanism.Code, "d": kerr.DuplicateResource.Code}
	for _, r := range resp.Results {
		if r.ErrorCode != want[r.User] {
			t.Errorf("%s: %v, want %v", r.User, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(want[r.User]))
		}
	}
}

// FuzzSASLExchanges feeds arbitrary client messages to every mechanism
// (PLAIN, SCRAM's client-first and client-final, OAUTHBEARER): whatever
// comes, a mechanism answers or fails, never panics, and never
// authenticates without the right credential.
func FuzzSASLExchanges(f *testing.F) {
	users := newScramUsers(f, "alice", "alice-secret")
	f.Add([]byte("n,,n=alice,r=abcdefghijkl"), []byte("c=biws,r=abcdefghijkl,p=AAAA"))
	f.Add([]byte("n,a=alice,n=alice,r=x,ext=1"), []byte("c=,r=,p="))
	f.Add([]byte("y,,n=al=2Cice,r=x"), []byte{})
	f.Add([]byte("n,,\x01auth=Bearer t\x01\x01"), []byte("\x00alice\x00alice-secret"))
	f.Add([]byte("p=tls-server-end-point,,n=alice,r=x"), []byte("c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=x,p=AA=="))
	f.Fuzz(func(t *testing.T, first, final []byte) {
		ctx := context.Background()
		var mechs []SASLMechanism
		for _, m := range []string{auth.ScramSHA256, auth.ScramSHA512} {
			mech, _ := NewScramMechanism(m, users)
			mechs = append(mechs, mech)
		}
		mechs = append(mechs, NewPlainMechanism(testUsers), NewOAuthBearerMechanism(tokens{}))
		for _, m := range mechs {
			ex := m.Start()
			_, p, err := ex.Next(ctx, first)
			if err == nil && p == "" {
				_, p, err = ex.Next(ctx, final)
			}
			if err == nil && p != "" && m.Name() != "PLAIN" {
				t.Fatalf("%s authenticated %q from fuzzed messages %q, %q", m.Name(), p, first, final)
			}
		}
	})
}
