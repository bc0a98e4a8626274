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
	k := c.keys.ClusterID()
	id := encodeID(newUUID())
	val, err := json.Marshal(id)
	if err != nil {
		return "", err
	}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(val))).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return "", etcdErr("cluster id", err)
	}
	if resp.Succeeded {
		return id, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return "", fmt.Errorf("meta: cluster id: key %s vanished", k)
	}
	var existing string
	if err := json.Unmarshal(kvs[0].Value, &existing); err != nil {
		return "", fmt.Errorf("meta: cluster id: decode %s: %w", k, err)
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
