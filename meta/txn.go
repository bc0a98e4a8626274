package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Transactions. One key per transactional id (docs/etcd-keys.md,
// docs/transactions.md):
//
//	txns/<escaped transactional id>    TxnState
//
// Only the id's transaction coordinator writes it, and every write is one
// transaction guarded by the key's mod revision as that coordinator last
// saw it (0: the key must not exist), the scheme of the group keys: a
// broker that takes the id over writes it first (raising CoordinatorEpoch),
// so the previous coordinator's next write fails with ErrConflict and
// nothing of it lands. One key, one operation: far inside etcd's 128
// operations per transaction, and a transaction with thousands of
// partitions stays within its 1.5 MiB request limit.

// TxnState is the value of txns/<id>: a transactional id's producer and its
// current (or last) transaction, as Kafka's TransactionMetadata.
type TxnState struct {
	TransactionalID string `json:"transactional_id"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	// LastProducerID and LastProducerEpoch are the producer the id had
	// before its last epoch bump (KIP-360: a retried InitProducerId that
	// names them gets the current producer back). -1: none.
	LastProducerID    int64 `json:"last_producer_id"`
	LastProducerEpoch int16 `json:"last_producer_epoch"`
	TimeoutMs         int32 `json:"timeout_ms"`
	// State is one of the names of txn.State: Empty, Ongoing,
	// PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead.
	State string `json:"state"`
	// Partitions of the current transaction, sorted; Groups are the
	// consumer groups whose offsets it commits (AddOffsetsToTxn), sorted.
	Partitions []TopicPartition `json:"partitions,omitempty"`
	Groups     []string         `json:"groups,omitempty"`
	// TxnStartMs is when the current transaction began (its first
	// partition), UpdateMs the last change, both Unix ms.
	TxnStartMs int64 `json:"txn_start_ms"`
	UpdateMs   int64 `json:"update_ms"`
	// CoordinatorEpoch rises each time a broker takes the id over; the
	// markers carry it so that partitions refuse a stale coordinator's.
	CoordinatorEpoch int32 `json:"coordinator_epoch"`
	Revision         int64 `json:"-"` // etcd mod revision when read or written
}

// Txns is the prefix of every transactional id's key.
func (k Keys) Txns() string { return k.root + "txns/" }

// Txn is "/strata/<cluster>/txns/<escaped transactional id>".
func (k Keys) Txn(id string) string { return k.Txns() + url.PathEscape(id) }

// parseTxnKey returns the transactional id of a key under Txns.
func (k Keys) parseTxnKey(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, k.Txns())
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", fmt.Errorf("not a transactional id key")
	}
	return url.PathUnescape(rest)
}

// LoadTxn reads one transactional id; ok is false when nothing is stored.
func (c *Client) LoadTxn(ctx context.Context, id string) (st TxnState, ok bool, err error) {
	resp, err := c.cli.Get(ctx, c.keys.Txn(id))
	if err != nil {
		return TxnState{}, false, etcdErr(fmt.Sprintf("load transactional id %q", id), err)
	}
	if len(resp.Kvs) == 0 {
		return TxnState{}, false, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		return TxnState{}, false, fmt.Errorf("meta: transactional id %q: undecodable state: %w", id, err)
	}
	st.TransactionalID, st.Revision = id, resp.Kvs[0].ModRevision
	return st, true, nil
}

// AllTxns reads every transactional id in one range read, sorted by id.
// Undecodable values are logged and skipped.
func (c *Client) AllTxns(ctx context.Context) ([]TxnState, error) {
	resp, err := c.cli.Get(ctx, c.keys.Txns(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr("list transactional ids", err)
	}
	out := make([]TxnState, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		id, err := c.keys.parseTxnKey(string(kv.Key))
		if err != nil {
			c.log.Error("meta: skipping unexpected transaction key", "key", string(kv.Key), "err", err)
			continue
		}
		var st TxnState
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			c.log.Error("meta: skipping undecodable transaction state", "key", string(kv.Key), "err", err)
			continue
		}
		st.TransactionalID, st.Revision = id, kv.ModRevision
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out, nil
}

// SaveTxn writes st if its key still has mod revision revision (0: it must
// not exist) and returns the new revision. Any other revision means
// another coordinator wrote the id: ErrConflict, nothing written.
func (c *Client) SaveTxn(ctx context.Context, st TxnState, revision int64) (int64, error) {
	if st.TransactionalID == "" {
		return 0, fmt.Errorf("meta: save transaction: empty transactional id: %w", ErrInvalid)
	}
	for _, tp := range st.Partitions {
		if err := validTopicName(tp.Topic); err != nil && tp.Topic != "__consumer_offsets" {
			return 0, err
		}
	}
	val, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	k := c.keys.Txn(st.TransactionalID)
	return c.txnCAS(ctx, "save", st.TransactionalID, revision, clientv3.OpPut(k, string(val)))
}

// DeleteTxn removes a transactional id (expired: transactional.id.expiration.ms)
// if its key still has mod revision revision.
func (c *Client) DeleteTxn(ctx context.Context, id string, revision int64) error {
	_, err := c.txnCAS(ctx, "delete", id, revision, clientv3.OpDelete(c.keys.Txn(id)))
	return err
}

func (c *Client) txnCAS(ctx context.Context, what, id string, revision int64, op clientv3.Op) (int64, error) {
	if revision < 0 {
		return 0, fmt.Errorf("meta: %s transactional id %q: negative revision: %w", what, id, ErrInvalid)
	}
	k := c.keys.Txn(id)
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", revision)).
		Then(op).Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return 0, etcdErr(fmt.Sprintf("%s transactional id %q", what, id), err)
	}
	if !resp.Succeeded {
		var cur int64
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			cur = kvs[0].ModRevision
		}
		return 0, fmt.Errorf("meta: %s transactional id %q: at revision %d, expected %d: %w", what, id, cur, revision, ErrConflict)
	}
	return resp.Header.Revision, nil
}
