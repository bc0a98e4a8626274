package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

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
