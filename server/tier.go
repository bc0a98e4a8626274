package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/objstore/storeurl"
	"github.com/stratalog/strata/schemareg"
	"github.com/stratalog/strata/tiering"
	"github.com/stratalog/strata/typed"
)

// tierPartition adapts a broker partition to what the tierer needs.
type tierPartition struct{ *broker.Partition }

func (p tierPartition) TierSettings() tiering.Settings {
	c := p.Config()
	return tiering.Settings{
		Enabled:         c.RemoteStorageEnable,
		RetentionMs:     c.RetentionMs,
		RetentionBytes:  c.RetentionBytes,
		MaxLag:          time.Duration(c.TierMaxLagMs) * time.Millisecond,
		TargetFileBytes: c.TierTargetFileBytes,

		Iceberg:                  c.IcebergEnable,
		IcebergSnapshotRetention: time.Duration(c.IcebergSnapshotRetentionMs) * time.Millisecond,
		TypedColumns:             c.TypedColumns,
	}
}

// openTier opens the object store named by the config and the cold tier on
// it. An unreachable store is logged, not fatal: the tierer retries, and
// local segments wait.
func (s *Server) openTier(ctx context.Context) (*tiering.Tier, error) {
	cfg := s.cfg
	url := cfg.ObjectStore
	if url == "" {
		abs, err := filepath.Abs(filepath.Join(cfg.DataDir, "objects"))
		if err != nil {
			return nil, err
		}
		url = "file://" + abs
	}
	store, err := storeurl.Open(storeurl.Options{
		URL:             url,
		S3Endpoint:      cfg.S3Endpoint,
		S3Region:        cfg.S3Region,
		CredentialsFile: cfg.S3CredentialsFile,
	})
	if err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	s.bucket = store.Bucket
	if store.Check != nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := store.Check(cctx)
		cancel()
		if err != nil {
			s.log.Error("object store not reachable; tiering will retry and local segments stay until it is", "object_store", store.Bucket.String(), "err", err)
		}
	}
	if s.tables, err = s.openTables(store.Bucket, url); err != nil {
		return nil, err
	}
	interval := min(time.Second, cfg.RetentionCheckInterval)
	if interval <= 0 {
		interval = time.Second
	}
	t, err := tiering.New(tiering.Config{
		Bucket:              store.Bucket,
		Meta:                s.meta,
		Logger:              s.log,
		Registerer:          s.registry,
		TempDir:             filepath.Join(cfg.DataDir, "tier-tmp"),
		UploadConcurrency:   cfg.TierUploadConcurrency,
		Interval:            interval,
		MaintenanceInterval: cfg.RetentionCheckInterval,
		CacheBytes:          cfg.TierCacheBytes,
		RowGroupBytes:       cfg.TierRowGroupBytes,
		Decoders:            typed.NewSource(schemareg.New(s.meta)),
		OrphanGrace:         cfg.TierOrphanGrace,
		SweepDeletedTopics:  true,
		Hooks:               cfg.TierHooks,
		Tables:              s.tables,
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("cold tier", "object_store", store.Bucket.String())
	return t, nil
}

func (s *Server) startTier() {
	b := s.broker
	s.tier.Start(func() []tiering.Partition {
		ps := b.LedPartitions()
		out := make([]tiering.Partition, len(ps))
		for i, p := range ps {
			out[i] = tierPartition{p}
		}
		return out
	})
}

// Tier exposes the cold tier for tests and maintenance commands.
func (s *Server) Tier() *tiering.Tier { return s.tier }
