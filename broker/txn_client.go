package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transaction coordinator's side of the inter-broker protocol: the
// WriteTxnMarkers requests it sends to partition leaders (itself
// included) and the AddPartitionsToTxn VerifyOnly requests a partition
// leader sends to a transaction coordinator (KIP-890 part 1). Both go as
// Kafka requests over connections authenticated as this broker, as the
// replica fetches do (replica_client.go); the receiving broker serves
// them only to a broker's identity.

// peerPool keeps a few connections per peer broker, so that requests to
// one peer overlap (a connection carries one request at a time).
type peerPool struct {
	mu    sync.Mutex
	conns map[peerKey][]*peerConn
	next  map[peerKey]int
}

type peerKey struct {
	id   int32
	addr string
}

const connsPerPeer = 4

func (pp *peerPool) get(key peerKey, self int32, secret []byte, tlsCfg *tls.Config) *peerConn {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.conns == nil {
		pp.conns, pp.next = map[peerKey][]*peerConn{}, map[peerKey]int{}
	}
	cs := pp.conns[key]
	if len(cs) < connsPerPeer {
		c := newPeerConn(key.addr, self, secret, tlsCfg)
		pp.conns[key] = append(cs, c)
		return c
	}
	i := pp.next[key] % len(cs)
	pp.next[key] = i + 1
	return cs[i]
}

func (pp *peerPool) close() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, cs := range pp.conns {
		for _, c := range cs {
			c.close()
		}
	}
	pp.conns = nil
}

// PeerRequest sends req to broker id (which may be this broker) over an
// authenticated inter-broker connection and returns its response.
func (b *Broker) PeerRequest(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	addr, ok := b.brokerAddr(id)
	if !ok {
		return nil, fmt.Errorf("%w: broker %d is not live", kerr.BrokerNotAvailable, id)
	}
	return b.peers.get(peerKey{id, addr}, b.cfg.BrokerID, b.cfg.ClusterSecret, b.cfg.PeerTLS).request(ctx, req)
}

// MarkerTarget is one partition a transaction marker goes to; Broker -1
// sends it to the partition's leader.
type MarkerTarget struct {
	Topic     string
	Partition int32
	Broker    int32
}

// WriteTxnMarkers sends a commit or abort marker of producer pid (at
// epoch, from a coordinator at coordinatorEpoch) to every target: one
// WriteTxnMarkers v1 request per broker, in parallel. It returns one
// error per target, nil where the broker wrote the marker, a kerr error
// (UNKNOWN_TOPIC_OR_PARTITION for a topic that no longer exists here,
// LEADER_NOT_AVAILABLE, the partition's own code) otherwise.
func (b *Broker) WriteTxnMarkers(ctx context.Context, pid int64, epoch int16, coordinatorEpoch int32, commit bool, targets []MarkerTarget) []error {
	errs := make([]error, len(targets))
	byBroker := map[int32][]int{}
	for i, t := range targets {
		dest := t.Broker
		if dest < 0 {
			info, ok := b.Topic(t.Topic)
			switch {
			case !ok || t.Partition < 0 || int(t.Partition) >= len(info.Partitions):
				errs[i] = fmt.Errorf("%w: %s/%d", kerr.UnknownTopicOrPartition, t.Topic, t.Partition)
				continue
			case info.Partitions[t.Partition].Leader < 0:
				errs[i] = fmt.Errorf("%w: %s/%d has no leader", kerr.LeaderNotAvailable, t.Topic, t.Partition)
				continue
			}
			dest = info.Partitions[t.Partition].Leader
		}
		byBroker[dest] = append(byBroker[dest], i)
	}
	var wg sync.WaitGroup
	for dest, idx := range byBroker {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.sendMarkers(ctx, dest, pid, epoch, coordinatorEpoch, commit, targets, idx, errs)
		}()
	}
	wg.Wait()
	return errs
}

func (b *Broker) sendMarkers(ctx context.Context, dest int32, pid int64, epoch int16, coordinatorEpoch int32, commit bool, targets []MarkerTarget, idx []int, errs []error) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordinatorEpoch
	topicAt := map[string]int{}
	for _, i := range idx {
		t := targets[i]
		j, ok := topicAt[t.Topic]
		if !ok {
			j = len(m.Topics)
			topicAt[t.Topic] = j
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic = t.Topic
			m.Topics = append(m.Topics, mt)
		}
		m.Topics[j].Partitions = append(m.Topics[j].Partitions, t.Partition)
	}
	req.Markers = append(req.Markers, m)
	raw, err := b.PeerRequest(ctx, dest, req)
	if err != nil {
		for _, i := range idx {
			errs[i] = err
		}
		return
	}
	got := map[MarkerTarget]error{}
	for _, rm := range raw.(*kmsg.WriteTxnMarkersResponse).Markers {
		if rm.ProducerID != pid {
			continue
		}
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				got[MarkerTarget{Topic: rt.Topic, Partition: rp.Partition}] = kerr.ErrorForCode(rp.ErrorCode)
			}
		}
	}
	for _, i := range idx {
		e, ok := got[MarkerTarget{Topic: targets[i].Topic, Partition: targets[i].Partition}]
		if !ok {
			e = fmt.Errorf("broker %d did not answer for %s/%d", dest, targets[i].Topic, targets[i].Partition)
		}
		errs[i] = e
	}
}

// VerifyTxnPartitions asks the transaction coordinator, broker
// coordinator, whether the partitions are in the open transaction of
// producer pid at epoch (AddPartitionsToTxn v4 with VerifyOnly): one
// error per partition of parts, or an error for the whole request.
func (b *Broker) VerifyTxnPartitions(ctx context.Context, coordinator int32, txnID string, pid int64, epoch int16, topic string, parts []int32) ([]error, error) {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, pid, epoch, true
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = topic, parts
	tx.Topics = append(tx.Topics, tt)
	req.Transactions = append(req.Transactions, tx)
	raw, err := b.PeerRequest(ctx, coordinator, req)
	if err != nil {
		return nil, err
	}
	resp := raw.(*kmsg.AddPartitionsToTxnResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	got := map[int32]error{}
	for _, rt := range resp.Transactions {
		if rt.TransactionalID != txnID {
			continue
		}
		for _, rtp := range rt.Topics {
			if rtp.Topic != topic {
				continue
			}
			for _, rp := range rtp.Partitions {
				got[rp.Partition] = kerr.ErrorForCode(rp.ErrorCode)
			}
		}
	}
	errs := make([]error, len(parts))
	for i, p := range parts {
		e, ok := got[p]
		if !ok {
			e = fmt.Errorf("%w: coordinator %d did not answer for %s/%d", kerr.UnknownServerError, coordinator, topic, p)
		}
		errs[i] = e
	}
	return errs, nil
}
