package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/tiering"
)

const tierRecordBytes = 1024

// tierRun measures the cold tier on one partition: it fills
// cfg.TierBytes of segments with tiering off, turns remote storage on and
// times until every sealed segment is in the object store; then it reads
// the tiered offsets from the local log (hot), has local retention delete
// them, and reads them again, now from the object store (cold).
func tierRun(ctx context.Context, cfg *Config, t *target, adm *kadm.Client, topic string, logf func(string, ...any)) (*Tiering, error) {
	err := createTopic(ctx, adm, topic, 1, map[string]string{
		"remote.storage.enable":         "false",
		"segment.bytes":                 strconv.FormatInt(cfg.TierSegmentBytes, 10),
		"strata.tier.target.file.bytes": "0", // no merging: each upload is timed once
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = deleteTopic(context.WithoutCancel(ctx), adm, topic) }()

	logf("tiering: producing %d MiB in %d MiB segments", cfg.TierBytes>>20, cfg.TierSegmentBytes>>20)
	if _, _, err := produceMax(ctx, t.brokers, topic, tierRecordBytes, "1", cfg.Producers, time.Hour, cfg.TierBytes/tierRecordBytes, true); err != nil {
		return nil, err
	}
	st, err := tierStatus(ctx, t.metrics, topic)
	if err != nil {
		return nil, err
	}
	if st.UntieredSealedBytes == 0 {
		return nil, fmt.Errorf("tiering: no sealed segment after %d MiB in %d MiB segments", cfg.TierBytes>>20, cfg.TierSegmentBytes>>20)
	}

	logf("tiering: remote.storage.enable=true, waiting for %d MiB of sealed segments", st.UntieredSealedBytes>>20)
	if err := alterTopic(ctx, adm, topic, "remote.storage.enable", "true"); err != nil {
		return nil, err
	}
	start := time.Now()
	st, err = waitTier(ctx, t.metrics, topic, "every sealed segment tiered", func(s tiering.PartitionStatus) bool {
		return s.RemoteFiles > 0 && s.UntieredSealedBytes == 0
	})
	if err != nil {
		return nil, err
	}
	el := time.Since(start)
	res := &Tiering{
		RecordBytes: tierRecordBytes,
		SegmentMB:   float64(st.RemoteLogBytes) / 1e6,
		ParquetMB:   float64(st.RemoteBytes) / 1e6,
		TierMBps:    float64(st.RemoteLogBytes) / 1e6 / el.Seconds(),
		Files:       st.RemoteFiles,
	}
	end := st.RemoteEnd

	logf("tiering: hot fetch of offsets [0, %d)", end)
	if res.HotFetch, err = consumeRange(ctx, t.brokers, topic, end, tierRecordBytes); err != nil {
		return nil, fmt.Errorf("hot fetch: %w", err)
	}
	if err := alterTopic(ctx, adm, topic, "local.retention.bytes", "0"); err != nil {
		return nil, err
	}
	if _, err := waitTier(ctx, t.metrics, topic, "local copies of tiered segments deleted", func(s tiering.PartitionStatus) bool {
		return s.LocalStart >= end
	}); err != nil {
		return nil, err
	}
	logf("tiering: cold fetch of offsets [0, %d)", end)
	if res.ColdFetch, err = consumeRange(ctx, t.brokers, topic, end, tierRecordBytes); err != nil {
		return nil, fmt.Errorf("cold fetch: %w", err)
	}
	res.ColdVsHot = ratio(res.ColdFetch.MBps, res.HotFetch.MBps)
	return res, nil
}

func alterTopic(ctx context.Context, adm *kadm.Client, topic, name, value string) error {
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: &value}}, topic)
	if err == nil {
		for _, r := range resps {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		return fmt.Errorf("set %s=%s on %s: %w", name, value, topic, err)
	}
	return nil
}

func tierStatus(ctx context.Context, metrics, topic string) (tiering.PartitionStatus, error) {
	sts, err := tiering.FetchStatus(ctx, metrics, topic)
	if err != nil {
		return tiering.PartitionStatus{}, fmt.Errorf("tier status: %w", err)
	}
	for _, s := range sts {
		if s.Partition == 0 {
			return s, nil
		}
	}
	return tiering.PartitionStatus{}, fmt.Errorf("tier status: no partition 0 of %s", topic)
}

// waitTier polls the tier status every 50 ms until done holds (at most
// 5 minutes).
func waitTier(ctx context.Context, metrics, topic, what string, done func(tiering.PartitionStatus) bool) (tiering.PartitionStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		st, err := tierStatus(ctx, metrics, topic)
		if err == nil && done(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			if err == nil && st.LastError != "" {
				err = fmt.Errorf("last tiering error: %s", st.LastError)
			}
			return st, fmt.Errorf("waiting for %s: %w (%v)", what, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
