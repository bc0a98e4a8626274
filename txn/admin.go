package txn

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/placement"
)

// Describe answers DescribeTransactions for ids, one Description each (Err
// NOT_COORDINATOR for ids another broker coordinates,
// TRANSACTIONAL_ID_NOT_FOUND for unknown ones).
func (c *Coordinator) Describe(ctx context.Context, ids []string) []Description {
	out := make([]Description, len(ids))
	for i, id := range ids {
		d := &out[i]
		d.TransactionalID, d.ProducerID, d.ProducerEpoch, d.StartMs = id, -1, -1, -1
		e, err := c.lockEntry(ctx, id, false)
		if err != nil {
			d.Err = err
			continue
		}
		if e == nil {
			d.Err = fmt.Errorf("%w: %q", kerr.TransactionalIDNotFound, id)
			continue
		}
		d.State, d.TimeoutMs, d.ProducerID, d.ProducerEpoch = e.state, e.st.TimeoutMs, e.st.ProducerID, e.st.ProducerEpoch
		if d.State == PrepareEpochFence {
			d.State = PrepareAbort
		}
		if e.state == Ongoing || e.state.preparing() {
			d.StartMs = e.st.TxnStartMs
		}
		d.Partitions = slices.Clone(e.st.Partitions)
		e.unlock()
	}
	return out
}

// List answers ListTransactions: the ids this broker coordinates, filtered
// by state names and producer ids (empty: all) and, when minDurationMs >=
// 0, to transactions open at least that long (KIP-994).
func (c *Coordinator) List(ctx context.Context, states []string, pids []int64, minDurationMs int64) ([]Listing, error) {
	for _, s := range states {
		if _, ok := ParseState(s); !ok {
			return nil, fmt.Errorf("%w: unknown transaction state %q", kerr.InvalidRequest, s)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	all, err := c.store.AllTxns(sctx)
	cancel()
	if err != nil {
		return nil, storeErr("list transactional ids", err)
	}
	live := c.liveBrokers()
	now := c.now().UnixMilli()
	var out []Listing
	for _, st := range all {
		if placement.Owner(st.TransactionalID, live) != c.cfg.BrokerID {
			continue
		}
		s, _ := ParseState(st.State)
		if len(states) > 0 && !slices.Contains(states, s.String()) {
			continue
		}
		if len(pids) > 0 && !slices.Contains(pids, st.ProducerID) {
			continue
		}
		if minDurationMs >= 0 && (st.TxnStartMs < 0 || !(s == Ongoing || s.preparing()) || now-st.TxnStartMs < minDurationMs) {
			continue
		}
		out = append(out, Listing{TransactionalID: st.TransactionalID, ProducerID: st.ProducerID, State: s})
	}
	return out, nil
}
