package meta

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ClusterID returns the cluster id, creating it on first use. The first caller
// wins a create-if-absent transaction; every later call returns the same id.
// Like Kafka's, it is a random UUIDv4 written as 22 characters of unpadded
// URL-safe base64.
func (c *Client) ClusterID(ctx context.Context) (string, error) {
	return c.createOnce(ctx, "cluster id", c.keys.ClusterID(), encodeID(newUUID()))
}

// ClusterSecretBytes is the length of the cluster secret.
const ClusterSecretBytes = 32

// ClusterSecret returns the cluster's inter-broker secret, creating it on
// first use exactly as ClusterID: 32 random bytes, the same for every
// broker of the cluster for ever. Brokers derive the credential with which
// they authenticate to each other from it (broker.InterBrokerPassword), so
// whoever can read this key can pose as any broker: it is as secret as
// etcd's access.
func (c *Client) ClusterSecret(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, ClusterSecretBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("meta: cluster secret: %w", err)
	}
	val, err := c.createOnce(ctx, "cluster secret", c.keys.ClusterSecret(), base64.StdEncoding.EncodeToString(fresh))
	if err != nil {
		return nil, err
	}
	secret, err := base64.StdEncoding.DecodeString(val)
	if err != nil || len(secret) != ClusterSecretBytes {
		return nil, fmt.Errorf("meta: cluster secret: %s holds %d bytes (%v), want %d", c.keys.ClusterSecret(), len(secret), err, ClusterSecretBytes)
	}
	return secret, nil
}

// createOnce stores value (a JSON string) at k unless k exists, and returns
// what k holds: the first caller's value wins a create-if-absent
// transaction, every later caller reads it.
func (c *Client) createOnce(ctx context.Context, what, k, value string) (string, error) {
	val, err := json.Marshal(value)
	if err != nil {
		return "", err
	}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(val))).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return "", etcdErr(what, err)
	}
	if resp.Succeeded {
		return value, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return "", fmt.Errorf("meta: %s: key %s vanished", what, k)
	}
	var existing string
	if err := json.Unmarshal(kvs[0].Value, &existing); err != nil {
		return "", fmt.Errorf("meta: %s: decode %s: %w", what, k, err)
	}
	return existing, nil
}

// newUUID returns random UUIDv4 bytes that are never all-zero, never Kafka's
// reserved metadata topic id (0...01), and whose base64 form does not start
// with '-' (Kafka avoids that so ids are never mistaken for CLI flags).
func newUUID() [16]byte {
	for {
		var u [16]byte
		if _, err := rand.Read(u[:]); err != nil {
			panic("meta: crypto/rand: " + err.Error()) // never fails on supported platforms
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		if u == ([16]byte{}) || u == ([16]byte{15: 1}) || encodeID(u)[0] == '-' {
			continue
		}
		return u
	}
}

// encodeID is Kafka's textual form of a UUID: unpadded URL-safe base64.
func encodeID(u [16]byte) string { return base64.RawURLEncoding.EncodeToString(u[:]) }

func decodeID(s string) ([16]byte, error) {
	var u [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return u, fmt.Errorf("bad id %q: %w", s, err)
	}
	if len(b) != 16 {
		return u, fmt.Errorf("bad id %q: %d bytes, want 16", s, len(b))
	}
	copy(u[:], b)
	return u, nil
}
