package txn

import (
	"errors"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/placement"
)

// startMarkers starts writing the markers of e's Prepare state (lock
// held) in the background.
func (c *Coordinator) startMarkers(e *entry) {
	if e.completing || !e.state.preparing() {
		return
	}
	e.completing = true
	st, state := e.st, e.state
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.writeMarkers(e, st, state)
	}()
}

// targets are the marker's destinations for the parts not yet written:
// data partitions go to their leaders, the __consumer_offsets partitions
// of the transaction's groups to each group's coordinator.
func (c *Coordinator) targets(parts []meta.TopicPartition, groups []string) []Target {
	out := make([]Target, 0, len(parts)+len(groups))
	for _, tp := range parts {
		if tp.Topic != OffsetsTopic {
			out = append(out, Target{Topic: tp.Topic, Partition: tp.Partition, Broker: -1})
		}
	}
	live := c.liveBrokers()
	for _, g := range groups {
		out = append(out, Target{Topic: OffsetsTopic, Partition: placement.OffsetsPartition(g, OffsetsPartitions), Broker: placement.Owner(g, live)})
	}
	return out
}

// writeMarkers writes the marker of st (state PrepareCommit or
// PrepareAbort) to every partition and group of the transaction, retrying
// what fails until all are written, then completes the transaction in
// etcd. It stops when the coordinator closes or loses the id: the next
// coordinator loads the Prepare state and writes the markers again (a
// partition takes a marker it already has as a no-op, as Kafka's do).
func (c *Coordinator) writeMarkers(e *entry, st meta.TxnState, state State) {
	commit := state == PrepareCommit
	parts := st.Partitions
	groups := st.Groups
	backoff := c.cfg.MarkerRetryBackoff
	for round := 0; len(parts)+len(groups) > 0; round++ {
		if c.ctx.Err() != nil || e.isGone() || !c.owns(e.id) {
			c.stopMarkers(e, "coordinator closed or lost the transactional id")
			return
		}
		var dataParts []meta.TopicPartition
		for _, tp := range parts {
			if tp.Topic != OffsetsTopic {
				dataParts = append(dataParts, tp)
			}
		}
		targets := c.targets(dataParts, groups)
		ctx, cancel := c.storeCtx()
		errs := c.markers.WriteMarkers(ctx, Marker{
			ProducerID: st.ProducerID, ProducerEpoch: st.ProducerEpoch, CoordinatorEpoch: st.CoordinatorEpoch,
			Commit: commit, Targets: targets,
		})
		cancel()
		var leftParts []meta.TopicPartition
		var leftGroups []string
		fenced := false
		for i, t := range targets {
			var err error
			if i < len(errs) {
				err = errs[i]
			} else {
				err = errors.New("no answer")
			}
			switch {
			case err == nil:
			case errors.Is(err, ErrPartitionGone):
				c.log.Info("marker dropped: partition no longer exists", "transactional_id", e.id, "topic", t.Topic, "partition", t.Partition)
			case errors.Is(err, ErrFenced):
				c.log.Warn("marker refused: coordinator fenced", "transactional_id", e.id, "topic", t.Topic, "partition", t.Partition, "err", err)
				fenced = true
			default:
				if round%20 == 19 {
					c.log.Warn("marker write still failing; retrying", "transactional_id", e.id, "topic", t.Topic, "partition", t.Partition, "round", round, "err", err)
				}
				if i < len(dataParts) {
					leftParts = append(leftParts, dataParts[i])
				} else {
					leftGroups = append(leftGroups, groups[i-len(dataParts)])
				}
			}
		}
		if fenced {
			c.stopMarkers(e, "fenced by a partition")
			c.unloadFenced(e)
			return
		}
		parts, groups = leftParts, leftGroups
		if len(parts)+len(groups) == 0 {
			break
		}
		select {
		case <-c.ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	c.finish(e, st, state)
}

func (e *entry) isGone() bool {
	select {
	case e.lock <- struct{}{}:
		g := e.gone
		<-e.lock
		return g
	default:
		return false // a request holds it; look again next round
	}
}

func (c *Coordinator) stopMarkers(e *entry, why string) {
	e.lock <- struct{}{}
	e.completing = false
	e.unlock()
	c.log.Info("marker writes stopped", "transactional_id", e.id, "reason", why)
}

func (c *Coordinator) unloadFenced(e *entry) {
	e.lock <- struct{}{}
	c.drop(e)
	e.unlock()
}

// finish writes CompleteCommit or CompleteAbort once every marker of st
// is written, if the entry still holds st.
func (c *Coordinator) finish(e *entry, st meta.TxnState, state State) {
	e.lock <- struct{}{}
	defer e.unlock()
	e.completing = false
	if e.gone || e.st.Revision != st.Revision || e.state != state {
		return
	}
	done := CompleteAbort
	if state == PrepareCommit {
		done = CompleteCommit
	}
	next := e.st
	next.Partitions, next.Groups = nil, nil
	next.TxnStartMs = -1
	next.UpdateMs = c.now().UnixMilli()
	if err := c.save(e, next, done); err != nil {
		c.log.Warn("cannot complete transaction", "transactional_id", e.id, "state", done, "err", err)
		return
	}
	c.log.Debug("transaction complete", "transactional_id", e.id, "state", done, "producer_id", st.ProducerID, "producer_epoch", st.ProducerEpoch)
}
