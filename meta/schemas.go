package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The schema registry's records (package schemareg serves them over
// Confluent's REST API). Every read goes to etcd, so any broker answers
// with the latest committed state: a write acknowledged by one broker is
// seen by the next read on every broker.

// ErrSchemaNotFound is returned for an id, subject version or setting
// that has no key.
var ErrSchemaNotFound = errors.New("schema registry record not found")

// ErrSchemaVersionExists is returned by CreateSchemaVersion when the
// version was written meanwhile (by another broker).
var ErrSchemaVersionExists = errors.New("schema version already exists")

// SchemaReference names a schema a schema imports, by subject and version.
type SchemaReference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int32  `json:"version"`
}

// Schema is one registered schema, value of schemas/ids/<id>.
type Schema struct {
	Type       string            `json:"type"`   // AVRO, PROTOBUF or JSON
	Schema     string            `json:"schema"` // as first registered
	References []SchemaReference `json:"references,omitempty"`
}

// SchemaVersion is one version of a subject, value of
// schemas/subjects/<subject>/<version>.
type SchemaVersion struct {
	Subject string `json:"-"`
	Version int32  `json:"-"`
	ID      int32  `json:"id"`
	Deleted bool   `json:"deleted,omitempty"` // soft-deleted
}

// SchemaIDFor returns the id of the schema with fingerprint fp, allocating
// the next global id (CAS on schemas/next-id) and writing the schema if
// the fingerprint is new. Two brokers registering the same schema at once
// get the same id: the fingerprint key is created in the same transaction.
func (c *Client) SchemaIDFor(ctx context.Context, fp string, s Schema) (int32, error) {
	if fp == "" || strings.Contains(fp, "/") {
		return 0, fmt.Errorf("%w: schema fingerprint %q", ErrInvalid, fp)
	}
	fpKey, ctrKey := c.keys.SchemaFingerprint(fp), c.keys.SchemaNextID()
	val, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("meta: encode schema: %w", err)
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := casBackoff(ctx, attempt); err != nil {
				return 0, err
			}
		}
		resp, err := c.cli.Txn(ctx).Then(clientv3.OpGet(fpKey), clientv3.OpGet(ctrKey)).Commit()
		if err != nil {
			return 0, etcdErr("read schema fingerprint", err)
		}
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			id, err := strconv.ParseInt(string(kvs[0].Value), 10, 32)
			if err != nil {
				return 0, fmt.Errorf("meta: schema fingerprint %s is corrupt: %q", fp, kvs[0].Value)
			}
			return int32(id), nil
		}
		next := int64(1)
		ctrCmp := clientv3.Compare(clientv3.CreateRevision(ctrKey), "=", 0)
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
			next, err = strconv.ParseInt(string(kvs[0].Value), 10, 32)
			if err != nil || next < 1 {
				return 0, fmt.Errorf("meta: schema id counter is corrupt: %q", kvs[0].Value)
			}
			ctrCmp = clientv3.Compare(clientv3.ModRevision(ctrKey), "=", kvs[0].ModRevision)
		}
		id := int32(next)
		txn, err := c.cli.Txn(ctx).
			If(ctrCmp, clientv3.Compare(clientv3.CreateRevision(fpKey), "=", 0)).
			Then(clientv3.OpPut(ctrKey, strconv.FormatInt(next+1, 10)),
				clientv3.OpPut(fpKey, strconv.FormatInt(next, 10)),
				clientv3.OpPut(c.keys.SchemaID(id), string(val))).Commit()
		if err != nil {
			return 0, etcdErr("allocate schema id", err)
		}
		if txn.Succeeded {
			return id, nil
		}
		if attempt >= 20 {
			return 0, fmt.Errorf("meta: allocate schema id: %w", ErrConflict)
		}
	}
}

// PutSchemaWithID writes a schema under an id the caller chose (the
// registry's IMPORT mode). An id already holding another fingerprint is
// refused with ErrSchemaVersionExists; the counter moves past id.
func (c *Client) PutSchemaWithID(ctx context.Context, id int32, fp string, s Schema) error {
	if id < 1 || fp == "" || strings.Contains(fp, "/") {
		return fmt.Errorf("%w: schema id %d fingerprint %q", ErrInvalid, id, fp)
	}
	val, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("meta: encode schema: %w", err)
	}
	idKey, fpKey, ctrKey := c.keys.SchemaID(id), c.keys.SchemaFingerprint(fp), c.keys.SchemaNextID()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := casBackoff(ctx, attempt); err != nil {
				return err
			}
		}
		resp, err := c.cli.Txn(ctx).Then(clientv3.OpGet(fpKey), clientv3.OpGet(ctrKey), clientv3.OpGet(idKey, clientv3.WithCountOnly())).Commit()
		if err != nil {
			return etcdErr("read schema id", err)
		}
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			if string(kvs[0].Value) == strconv.Itoa(int(id)) {
				return nil
			}
			return fmt.Errorf("%w: the schema already has id %s", ErrSchemaVersionExists, kvs[0].Value)
		}
		if resp.Responses[2].GetResponseRange().Count > 0 {
			return fmt.Errorf("%w: id %d holds another schema", ErrSchemaVersionExists, id)
		}
		next := int64(1)
		ctrCmp := clientv3.Compare(clientv3.CreateRevision(ctrKey), "=", 0)
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
			if next, err = strconv.ParseInt(string(kvs[0].Value), 10, 32); err != nil {
				return fmt.Errorf("meta: schema id counter is corrupt: %q", kvs[0].Value)
			}
			ctrCmp = clientv3.Compare(clientv3.ModRevision(ctrKey), "=", kvs[0].ModRevision)
		}
		ops := []clientv3.Op{clientv3.OpPut(fpKey, strconv.Itoa(int(id))), clientv3.OpPut(idKey, string(val))}
		if int64(id) >= next {
			ops = append(ops, clientv3.OpPut(ctrKey, strconv.FormatInt(int64(id)+1, 10)))
		}
		txn, err := c.cli.Txn(ctx).If(ctrCmp, clientv3.Compare(clientv3.CreateRevision(fpKey), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(idKey), "=", 0)).Then(ops...).Commit()
		if err != nil {
			return etcdErr("import schema id", err)
		}
		if txn.Succeeded {
			return nil
		}
		if attempt >= 20 {
			return fmt.Errorf("meta: import schema id: %w", ErrConflict)
		}
	}
}

// SchemaByID reads schemas/ids/<id>.
func (c *Client) SchemaByID(ctx context.Context, id int32) (Schema, error) {
	var s Schema
	resp, err := c.cli.Get(ctx, c.keys.SchemaID(id))
	if err != nil {
		return s, etcdErr("read schema", err)
	}
	if len(resp.Kvs) == 0 {
		return s, fmt.Errorf("schema id %d: %w", id, ErrSchemaNotFound)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &s); err != nil {
		return s, fmt.Errorf("meta: schema id %d is corrupt: %w", id, err)
	}
	return s, nil
}

// SchemaVersions lists the versions (soft-deleted ones too) of subject, or
// of every subject for subject "", in (subject, version) order.
func (c *Client) SchemaVersions(ctx context.Context, subject string) ([]SchemaVersion, error) {
	prefix := c.keys.SchemaSubjects()
	if subject != "" {
		prefix = c.keys.SchemaSubject(subject)
	}
	resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("list schema versions", err)
	}
	out := make([]SchemaVersion, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), c.keys.SchemaSubjects())
		esc, ver, ok := strings.Cut(rest, "/")
		subj, err1 := url.PathUnescape(esc)
		v, err2 := strconv.ParseInt(ver, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("meta: bad schema version key %q", kv.Key)
		}
		sv := SchemaVersion{Subject: subj, Version: int32(v)}
		if err := json.Unmarshal(kv.Value, &sv); err != nil {
			return nil, fmt.Errorf("meta: schema version %q is corrupt: %w", kv.Key, err)
		}
		out = append(out, sv)
	}
	return out, nil
}

// CreateSchemaVersion writes a new version, refused with
// ErrSchemaVersionExists if that version exists (the caller read the
// versions, chose the next number, and lost a race).
func (c *Client) CreateSchemaVersion(ctx context.Context, sv SchemaVersion) error {
	key := c.keys.SchemaVersion(sv.Subject, sv.Version)
	val, _ := json.Marshal(sv)
	txn, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).Commit()
	if err != nil {
		return etcdErr("create schema version", err)
	}
	if !txn.Succeeded {
		return fmt.Errorf("subject %q version %d: %w", sv.Subject, sv.Version, ErrSchemaVersionExists)
	}
	return nil
}

// SoftDeleteSchemaVersions marks versions deleted (they stay readable with
// ?deleted=true); DeleteSchemaVersions removes their keys.
func (c *Client) SoftDeleteSchemaVersions(ctx context.Context, svs []SchemaVersion) error {
	return c.schemaVersionOps(ctx, svs, func(sv SchemaVersion) clientv3.Op {
		sv.Deleted = true
		val, _ := json.Marshal(sv)
		return clientv3.OpPut(c.keys.SchemaVersion(sv.Subject, sv.Version), string(val))
	})
}

// DeleteSchemaVersions removes versions for good. Schema ids stay: an id
// is never reused.
func (c *Client) DeleteSchemaVersions(ctx context.Context, svs []SchemaVersion) error {
	return c.schemaVersionOps(ctx, svs, func(sv SchemaVersion) clientv3.Op {
		return clientv3.OpDelete(c.keys.SchemaVersion(sv.Subject, sv.Version))
	})
}

func (c *Client) schemaVersionOps(ctx context.Context, svs []SchemaVersion, op func(SchemaVersion) clientv3.Op) error {
	for len(svs) > 0 {
		n := min(len(svs), 64)
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for _, sv := range svs[:n] {
			key := c.keys.SchemaVersion(sv.Subject, sv.Version)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), ">", 0))
			ops = append(ops, op(sv))
		}
		txn, err := c.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return etcdErr("update schema versions", err)
		}
		if !txn.Succeeded {
			return fmt.Errorf("update schema versions: %w", ErrSchemaNotFound)
		}
		svs = svs[n:]
	}
	return nil
}

// SchemaSetting reads a compatibility level (kind "config") or mode (kind
// "mode") of subject, or the global one for subject "".
func (c *Client) SchemaSetting(ctx context.Context, kind, subject string) (string, error) {
	if kind != "config" && kind != "mode" {
		return "", fmt.Errorf("%w: schema setting %q", ErrInvalid, kind)
	}
	resp, err := c.cli.Get(ctx, c.keys.SchemaSetting(kind, subject))
	if err != nil {
		return "", etcdErr("read schema "+kind, err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("schema %s of %q: %w", kind, subject, ErrSchemaNotFound)
	}
	var v string
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return "", fmt.Errorf("meta: schema %s of %q is corrupt: %w", kind, subject, err)
	}
	return v, nil
}

// SetSchemaSetting writes a setting; value "" deletes it.
func (c *Client) SetSchemaSetting(ctx context.Context, kind, subject, value string) error {
	if kind != "config" && kind != "mode" {
		return fmt.Errorf("%w: schema setting %q", ErrInvalid, kind)
	}
	key := c.keys.SchemaSetting(kind, subject)
	var err error
	if value == "" {
		_, err = c.cli.Delete(ctx, key)
	} else {
		val, _ := json.Marshal(value)
		_, err = c.cli.Put(ctx, key, string(val))
	}
	if err != nil {
		return etcdErr("write schema "+kind, err)
	}
	return nil
}

// SchemaIDByFingerprint returns the id of the schema with fingerprint fp,
// ok false if none was registered.
func (c *Client) SchemaIDByFingerprint(ctx context.Context, fp string) (int32, bool, error) {
	resp, err := c.cli.Get(ctx, c.keys.SchemaFingerprint(fp))
	if err != nil {
		return 0, false, etcdErr("read schema fingerprint", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	id, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("meta: schema fingerprint %s is corrupt: %q", fp, resp.Kvs[0].Value)
	}
	return int32(id), true, nil
}
