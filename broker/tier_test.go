package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/tiering"
)

// racedColdReader is the cold tier as a fetch sees it when remote
// retention runs between its two calls: ColdRange still reports the old
// start, then ColdRead finds the offset gone and answers with tiering's
// out-of-range error, as tiering.Tier.ColdRead does.
type racedColdReader struct{ ColdReader }

func (racedColdReader) ColdRange(context.Context, string, int32) (int64, int64, error) {
	return 0, 100, nil
}

func (racedColdReader) ColdRead(_ context.Context, _ string, _ int32, offset, _ int64, _ int, _ bool) ([]byte, error) {
	return nil, fmt.Errorf("%w: offset %d, cold tier starts at %d", tiering.ErrOffsetOutOfRange, offset, 50)
}

// TestColdReadRacedByRetention: an offset that remote retention deleted
// while the fetch was under way is OFFSET_OUT_OF_RANGE (the consumer
// resets), not KAFKA_STORAGE_ERROR (it retries forever).
func TestColdReadRacedByRetention(t *testing.T) {
	b := &Broker{
		cfg:     Config{Cold: racedColdReader{}},
		log:     slog.New(slog.DiscardHandler),
		metrics: &metrics{fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})},
	}
	p := &Partition{b: b, topic: "t", index: 0}
	_, err := p.fetchCold(10, 100, 1<<20, true, FetchResult{LogStartOffset: 100, HighWatermark: 200})
	if !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatalf("fetch of an offset retention just deleted: %v, want OFFSET_OUT_OF_RANGE", err)
	}
}

// epochColdReader is a cold tier holding offsets [0, 200) of epochs 0 and 2.
type epochColdReader struct{ ColdReader }

func (epochColdReader) ColdEpochs(context.Context, string, int32) ([]meta.TierEpoch, error) {
	return []meta.TierEpoch{{Epoch: 0, StartOffset: 0}, {Epoch: 2, StartOffset: 100}}, nil
}

// TestEndOffsetForEpochFromColdTier: a consumer that read cold records of
// an old epoch validates its position (OffsetForLeaderEpoch) after a
// leadership change; local retention dropped those epochs' segments, so
// the answer must come from the cold tier's epochs, or the client is told
// that records were lost (found by the chaos run, seed 11).
func TestEndOffsetForEpochFromColdTier(t *testing.T) {
	l, err := hotlog.Open(t.TempDir(), hotlog.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.ResetTo(200); err != nil { // the local log starts where the cold tier ends
		t.Fatal(err)
	}
	if _, err := l.Append(BatchForTest(10, 1), nil, 5, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		tiered    bool
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{"oldest cold epoch", true, 0, 0, 100},
		{"epoch that never led, between cold ones", true, 1, 0, 100},
		{"last cold epoch ends where the local log starts", true, 2, 2, 200},
		{"epoch between cold and local", true, 4, 2, 200},
		{"local epoch", true, 5, 5, 210},
		{"without the cold tier nothing is older than the local cache", false, 0, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Broker{cfg: Config{Cold: epochColdReader{}}, log: slog.New(slog.DiscardHandler)}
			p := &Partition{b: b, topic: "t", index: 0, log: l}
			p.cfg.Store(&TopicConfig{RemoteStorageEnable: tc.tiered})
			p.leaderEpoch.Store(5)
			e, end, err := p.EndOffsetForEpoch(tc.epoch, -1)
			if err != nil || e != tc.wantEpoch || end != tc.wantEnd {
				t.Fatalf("EndOffsetForEpoch(%d) = %d, %d, %v; want %d, %d", tc.epoch, e, end, err, tc.wantEpoch, tc.wantEnd)
			}
		})
	}
}
