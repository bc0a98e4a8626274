package server

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/xdg-go/scram"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/meta"
)

// The security composition: the SASL mechanisms offered, the SCRAM
// credential store (meta), and the ACL authorizer (auth.Authorizer fed
// by meta's watch), adapted to the interfaces ingest defines.

// Mechanism names of --sasl-mechanisms.
const (
	mechPlain       = "PLAIN"
	mechOAuthBearer = "OAUTHBEARER"
)

// scramStore adapts meta's SCRAM credentials to ingest.ScramUsers. Names
// reserved for brokers are refused, so no credential can claim a
// broker's identity (and with it the brokers' implicit super-user right).
type scramStore struct{ m *meta.Client }

func (s scramStore) ScramCredential(ctx context.Context, user, mechanism string) (auth.ScramCredential, error) {
	c, err := s.m.ScramCredential(ctx, user, mechanism)
	if errors.Is(err, meta.ErrNoCredential) {
		return c, fmt.Errorf("%w: %v", ingest.ErrUnknownUser, err)
	}
	return c, err
}

func (s scramStore) ScramUsers(ctx context.Context, users []string) (map[string][]auth.ScramCredential, error) {
	return s.m.ScramCredentials(ctx, users)
}

// ErrReservedUser refuses a user name that starts like a broker's.
var ErrReservedUser = fmt.Errorf("user names starting with %q are the brokers' own", broker.InterBrokerUserPrefix)

func (s scramStore) PutScramCredential(ctx context.Context, user string, c auth.ScramCredential) error {
	if strings.HasPrefix(user, broker.InterBrokerUserPrefix) {
		return fmt.Errorf("user %q: %w", user, ErrReservedUser)
	}
	return s.m.PutScramCredential(ctx, user, c)
}

func (s scramStore) DeleteScramCredential(ctx context.Context, user, mechanism string) error {
	err := s.m.DeleteScramCredential(ctx, user, mechanism)
	if errors.Is(err, meta.ErrNoCredential) {
		return fmt.Errorf("%w: %v", ingest.ErrUnknownUser, err)
	}
	return err
}

// checkScramPassword checks a PLAIN password against a user's SCRAM
// credential in etcd (SHA-512, else SHA-256): PLAIN users may live in etcd
// as well as in the users file, salted either way.
func (s scramStore) checkScramPassword(ctx context.Context, user, password string) error {
	var lastErr error
	for _, m := range []string{auth.ScramSHA512, auth.ScramSHA256} {
		c, err := s.ScramCredential(ctx, user, m)
		if err != nil {
			lastErr = err
			continue
		}
		h, _ := auth.ScramHash(m)
		cl, err := h.NewClient(user, password, "")
		if err != nil {
			return ingest.ErrWrongPassword
		}
		got := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations})
		if !hmac.Equal(got.StoredKey, c.StoredKey) {
			return ingest.ErrWrongPassword
		}
		return nil
	}
	return lastErr
}

// aclAuthorizer adapts auth.Authorizer and meta's ACL store to
// ingest.ACLs. The cache is the etcd watch's; a change made here is also
// applied to it at once, so this broker reads its own writes.
type aclAuthorizer struct {
	a   *auth.Authorizer
	m   *meta.Client
	log *slog.Logger
	mu  sync.Mutex // orders the refreshes after writes
}

func newACLAuthorizer(ctx context.Context, m *meta.Client, superUsers map[string]bool, allowEveryone bool, log *slog.Logger) (*aclAuthorizer, error) {
	a := &auth.Authorizer{AllowEveryoneIfNoACL: allowEveryone, Super: func(p string) bool {
		if superUsers[p] {
			return true
		}
		// A broker's proven identity (SASL with the inter-broker
		// credential): brokers are super users, as Kafka's are.
		name, ok := strings.CutPrefix(p, "User:")
		_, isBroker := broker.ParseInterBrokerUser(name)
		return ok && isBroker
	}}
	bs, err := m.ACLs(ctx)
	if err != nil {
		return nil, fmt.Errorf("load ACLs: %w", err)
	}
	a.Set(bs)
	return &aclAuthorizer{a: a, m: m, log: log}, nil
}

// watch keeps the cache current until ctx ends.
func (z *aclAuthorizer) watch(ctx context.Context) { z.m.WatchACLs(ctx, z.a.Set) }

func (z *aclAuthorizer) Authorize(principal, host string, op auth.Operation, rt auth.ResourceType, name string) bool {
	return z.a.Authorize(principal, host, op, rt, name)
}

func (z *aclAuthorizer) DescribeACLs(f auth.Filter) []auth.Binding { return z.a.Bindings(f) }

func (z *aclAuthorizer) CreateACLs(ctx context.Context, bs []auth.Binding) error {
	if err := z.m.PutACLs(ctx, bs); err != nil {
		return err
	}
	z.refresh(ctx)
	return nil
}

func (z *aclAuthorizer) DeleteACLs(ctx context.Context, f auth.Filter) ([]auth.Binding, error) {
	gone, err := z.m.DeleteACLs(ctx, f)
	z.refresh(ctx)
	return gone, err
}

func (z *aclAuthorizer) refresh(ctx context.Context) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if bs, err := z.m.ACLs(ctx); err == nil {
		z.a.Set(bs)
	} else {
		z.log.Warn("cannot reload ACLs after a change; the watch will", "err", err)
	}
}

// saslMechanisms builds the mechanisms of --sasl-mechanisms (default
// PLAIN), in that order.
func (s *Server) saslMechanisms(secret []byte, users map[string]string) ([]ingest.SASLMechanism, error) {
	names := s.cfg.SASLMechanisms
	if len(names) == 0 {
		names = []string{mechPlain}
	}
	store := scramStore{s.meta}
	var out []ingest.SASLMechanism
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.ToUpper(strings.TrimSpace(n))
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		switch n {
		case mechPlain:
			out = append(out, ingest.NewPlainMechanism(plainCredentials{secret: secret, users: users, scram: store}))
		case auth.ScramSHA256, auth.ScramSHA512:
			m, err := ingest.NewScramMechanism(n, store)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		case mechOAuthBearer:
			m, err := s.oauthMechanism()
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		default:
			return nil, fmt.Errorf("--sasl-mechanisms: %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER", n)
		}
	}
	if !seen[mechPlain] {
		// Brokers authenticate to each other with PLAIN and the
		// inter-broker credential: PLAIN stays offered for them only.
		out = append(out, ingest.NewPlainMechanism(plainCredentials{secret: secret}))
	}
	return out, nil
}
