package broker

import (
	"fmt"
	"runtime/debug"

	"github.com/twmb/franz-go/pkg/kerr"
)

// coldReadConcurrency bounds the cold-tier fetches (object-store GETs)
// running at once across all of the broker's clients. Their memory is
// bounded apart: each returns at most its share of its request's max bytes
// (ingest hands the reads started ahead the response budget in turn), and
// the bytes they load from the store at once stay within the tier's cache
// size (tiering.Config.CacheBytes), loading only the pages a budget needs.
const coldReadConcurrency = 16

// readsCold is the one hot-or-cold decision of the consumer fetch path: an
// offset below the local log start is served from the cold tier, when
// there is one.
func (p *Partition) readsCold(offset, localStart int64) bool {
	return p.b.cfg.Cold != nil && offset < localStart
}

// PendingFetch is a consumer fetch running in the background.
type PendingFetch struct {
	done chan struct{}
	res  FetchResult
	err  error
}

// Result waits for the fetch and returns what Fetch would have.
func (f *PendingFetch) Result() (FetchResult, error) {
	<-f.done
	return f.res, f.err
}

// FetchAhead starts a consumer fetch (minOneBatch) in the background when
// it would be served from the cold tier, so that a request naming many
// cold partitions waits for the object store about once instead of once
// per partition; at most coldReadConcurrency such reads run at once in
// the broker. It returns nil for a read of the local log, which the
// caller makes in order with Fetch once it knows its remaining budget.
func (p *Partition) FetchAhead(offset int64, maxBytes int, clientEpoch int32) *PendingFetch {
	if !p.readsCold(offset, p.log.LogStartOffset()) {
		return nil
	}
	f := &PendingFetch{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer func() {
			// A bug in the cold path fails this fetch, not the broker.
			if v := recover(); v != nil {
				p.b.log.Error("cold fetch panicked", "partition", p.String(), "offset", offset, "panic", v, "stack", string(debug.Stack()))
				f.err = fmt.Errorf("%w: cold fetch of %s at %d panicked: %v", kerr.UnknownServerError, p, offset, v)
			}
		}()
		p.b.coldReads <- struct{}{}
		defer func() { <-p.b.coldReads }()
		f.res, f.err = p.Fetch(offset, maxBytes, true, clientEpoch)
	}()
	return f
}
