package meta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stratalog/strata/auth"
)

// Security metadata: ACL bindings (acls/<id>) and SCRAM credentials
// (scram/<user>/<mechanism>). Brokers cache the ACLs through WatchACLs;
// SCRAM credentials are read at each authentication (one etcd read per
// SCRAM login) so that a changed or deleted credential counts at once.

// ErrNoCredential is returned for a user without a credential of the
// mechanism asked for.
var ErrNoCredential = errors.New("no such SCRAM credential")

// txnOps bounds the operations of one transaction (etcd's default
// --max-txn-ops is 128).
const txnOps = 128

// aclID names a binding's key: the hash of its canonical JSON, so that
// creating a binding twice writes one key.
func aclID(b auth.Binding) string {
	raw, _ := json.Marshal(b)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// PutACLs stores bindings, validated first, in transactions of at most
// 128 (a binding that exists is written again, unchanged).
func (c *Client) PutACLs(ctx context.Context, bs []auth.Binding) error {
	var ops []clientv3.Op
	seen := map[string]bool{}
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("meta: put ACL: %w: %w", ErrInvalid, err)
		}
		val, err := json.Marshal(b)
		if err != nil {
			return err
		}
		if id := aclID(b); !seen[id] { // a transaction may not name a key twice
			seen[id] = true
			ops = append(ops, clientv3.OpPut(c.keys.ACL(id), string(val)))
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), txnOps)
		if _, err := c.cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return etcdErr("put ACLs", err)
		}
		ops = ops[n:]
	}
	return nil
}

// ACLs lists every binding.
func (c *Client) ACLs(ctx context.Context) ([]auth.Binding, error) {
	resp, err := c.cli.Get(ctx, c.keys.ACLs(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("list ACLs", err)
	}
	out := make([]auth.Binding, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		b, err := decodeACL(kv.Key, kv.Value)
		if err != nil {
			c.log.Warn("meta: skipping an ACL that does not decode", "err", err)
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

func decodeACL(key, val []byte) (auth.Binding, error) {
	var b auth.Binding
	if err := json.Unmarshal(val, &b); err != nil {
		return b, fmt.Errorf("ACL %s: %w", key, err)
	}
	return b, nil
}

// DeleteACLs deletes the bindings f selects and returns those it deleted.
func (c *Client) DeleteACLs(ctx context.Context, f auth.Filter) ([]auth.Binding, error) {
	all, err := c.ACLs(ctx)
	if err != nil {
		return nil, err
	}
	var gone []auth.Binding
	var ops []clientv3.Op
	for _, b := range all {
		if f.Matches(b) {
			gone = append(gone, b)
			ops = append(ops, clientv3.OpDelete(c.keys.ACL(aclID(b))))
		}
	}
	for done := 0; done < len(ops); done += txnOps {
		if _, err := c.cli.Txn(ctx).Then(ops[done:min(done+txnOps, len(ops))]...).Commit(); err != nil {
			return gone[:done], etcdErr("delete ACLs", err)
		}
	}
	return gone, nil
}

// WatchACLs calls set with every binding now and again after every change,
// until ctx ends (the authorizer's cache on each broker).
func (c *Client) WatchACLs(ctx context.Context, set func([]auth.Binding)) {
	known := map[string]auth.Binding{}
	emit := func() bool {
		out := make([]auth.Binding, 0, len(known))
		for _, b := range known {
			out = append(out, b)
		}
		set(out)
		return true
	}
	c.watchLoop(ctx, c.keys.ACLs(), false, func(resp *clientv3.GetResponse) bool {
		clear(known)
		for _, kv := range resp.Kvs {
			if b, err := decodeACL(kv.Key, kv.Value); err == nil {
				known[string(kv.Key)] = b
			} else {
				c.log.Warn("meta: skipping an ACL that does not decode", "err", err)
			}
		}
		return emit()
	}, func(ev *clientv3.Event) bool {
		if ev.Type == clientv3.EventTypeDelete {
			delete(known, string(ev.Kv.Key))
		} else if b, err := decodeACL(ev.Kv.Key, ev.Kv.Value); err == nil {
			known[string(ev.Kv.Key)] = b
		}
		return emit()
	})
}

// PutScramCredential stores user's credential for its mechanism.
func (c *Client) PutScramCredential(ctx context.Context, user string, cred auth.ScramCredential) error {
	if user == "" {
		return fmt.Errorf("meta: put SCRAM credential: empty user: %w", ErrInvalid)
	}
	if _, err := auth.ScramHash(cred.Mechanism); err != nil {
		return fmt.Errorf("meta: put SCRAM credential: %w: %w", ErrInvalid, err)
	}
	val, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if _, err := c.cli.Put(ctx, c.keys.ScramCredential(user, cred.Mechanism), string(val)); err != nil {
		return etcdErr("put SCRAM credential", err)
	}
	return nil
}

// ScramCredential returns user's credential for mechanism, or
// ErrNoCredential.
func (c *Client) ScramCredential(ctx context.Context, user, mechanism string) (auth.ScramCredential, error) {
	var cred auth.ScramCredential
	resp, err := c.cli.Get(ctx, c.keys.ScramCredential(user, mechanism))
	if err != nil {
		return cred, etcdErr("get SCRAM credential", err)
	}
	if len(resp.Kvs) == 0 {
		return cred, fmt.Errorf("meta: user %q, %s: %w", user, mechanism, ErrNoCredential)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &cred); err != nil {
		return cred, fmt.Errorf("meta: SCRAM credential of %q: %w", user, err)
	}
	return cred, nil
}

// DeleteScramCredential deletes one credential; ErrNoCredential if absent.
func (c *Client) DeleteScramCredential(ctx context.Context, user, mechanism string) error {
	resp, err := c.cli.Delete(ctx, c.keys.ScramCredential(user, mechanism))
	if err != nil {
		return etcdErr("delete SCRAM credential", err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("meta: user %q, %s: %w", user, mechanism, ErrNoCredential)
	}
	return nil
}

// ScramCredentials lists the credentials of users (every user when nil),
// by user, each user's sorted by mechanism.
func (c *Client) ScramCredentials(ctx context.Context, users []string) (map[string][]auth.ScramCredential, error) {
	out := map[string][]auth.ScramCredential{}
	prefixes := []string{c.keys.ScramAll()}
	if users != nil {
		prefixes = prefixes[:0]
		for _, u := range users {
			prefixes = append(prefixes, c.keys.ScramUser(u))
		}
	}
	for _, p := range prefixes {
		resp, err := c.cli.Get(ctx, p, clientv3.WithPrefix())
		if err != nil {
			return nil, etcdErr("list SCRAM credentials", err)
		}
		for _, kv := range resp.Kvs {
			user, ok := c.keys.parseScramKey(string(kv.Key))
			if !ok {
				continue
			}
			var cred auth.ScramCredential
			if err := json.Unmarshal(kv.Value, &cred); err != nil {
				c.log.Warn("meta: skipping a SCRAM credential that does not decode", "key", string(kv.Key), "err", err)
				continue
			}
			out[user] = append(out[user], cred)
		}
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Mechanism < cs[j].Mechanism })
	}
	return out, nil
}

// parseScramKey returns the user of a key under ScramAll.
func (k Keys) parseScramKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, k.ScramAll())
	if !ok {
		return "", false
	}
	escaped, _, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	user, err := url.PathUnescape(escaped)
	return user, err == nil
}
