package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
)

// ErrStoreNotShared is returned by Start when this broker's object store is
// not the one the other live brokers of the cluster use. The cold-tier
// manifest in etcd is cluster-wide: if each broker tiered into a store of
// its own (the default file://<data-dir>/objects), followers would delete
// their local copies of data that only the leader's disk holds, and a
// failover would leave the cold tier unreadable.
var ErrStoreNotShared = errors.New("object store not shared by the cluster's brokers")

// storeMarkerPrefix holds one small object per broker that proves which
// brokers write to this store. Tiering never lists or sweeps it (its keys
// are not cold-file keys).
const storeMarkerPrefix = "_strata/brokers/"

type storeMarker struct {
	ClusterID   string `json:"cluster_id"`
	BrokerID    int32  `json:"broker_id"`
	Incarnation string `json:"incarnation"`
}

func storeMarkerKey(id int32) string { return storeMarkerPrefix + strconv.Itoa(int(id)) + ".json" }

// writeStoreMarker records in the store that this broker uses it. It runs
// before the broker registers in etcd, so any broker that sees this one
// registered can also find its marker, if they share the store.
func writeStoreMarker(ctx context.Context, b objstore.Bucket, m storeMarker) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := b.Put(ctx, storeMarkerKey(m.BrokerID), bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("write store marker %s: %w", storeMarkerKey(m.BrokerID), err)
	}
	return nil
}

// checkStoreShared verifies, after this broker registered, that every other
// live broker's marker is in this broker's store and names this cluster.
// Of two brokers starting at once, each writes its marker and registers
// before it checks, so the one that checks last sees the other: at least one
// of two brokers with private stores refuses to start.
func checkStoreShared(ctx context.Context, b objstore.Bucket, brokers []meta.BrokerInfo, self storeMarker) error {
	for _, br := range brokers {
		if br.ID == self.BrokerID {
			continue
		}
		key := storeMarkerKey(br.ID)
		rc, err := b.Get(ctx, key)
		if errors.Is(err, objstore.ErrNotExist) {
			return fmt.Errorf("%w: broker %d is live but its marker %s is not in %s: every broker of a cluster must use the same object store (--object-store s3://bucket/prefix, or one file:// directory all brokers share)",
				ErrStoreNotShared, br.ID, key, b)
		}
		if err != nil {
			return fmt.Errorf("read store marker %s: %w", key, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, 1<<16))
		rc.Close()
		if err != nil {
			return fmt.Errorf("read store marker %s: %w", key, err)
		}
		var m storeMarker
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("store marker %s: %w", key, err)
		}
		if m.ClusterID != self.ClusterID {
			return fmt.Errorf("%w: %s holds broker %d of cluster %s, not of this cluster %s: two clusters may not share one object store prefix",
				ErrStoreNotShared, b, br.ID, m.ClusterID, self.ClusterID)
		}
	}
	return nil
}

// verifyStoreShared runs the marker protocol around the registration done
// by register. A store that cannot be reached is logged and the check
// skipped (tiering waits for the store anyway); a store shown not to be
// shared is an error.
func (s *Server) verifyStoreShared(ctx context.Context, self storeMarker, register func() error) error {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	werr := writeStoreMarker(wctx, s.bucket, self)
	cancel()
	if werr != nil {
		s.log.Warn("cannot verify that the object store is shared by the cluster's brokers; checking again at the next start",
			"object_store", s.bucket.String(), "err", werr)
	}
	if err := register(); err != nil {
		return err
	}
	if werr != nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	brokers, err := s.meta.Brokers(lctx)
	if err != nil {
		return fmt.Errorf("list brokers: %w", err)
	}
	return checkStoreShared(lctx, s.bucket, brokers, self)
}
