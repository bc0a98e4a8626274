package hotlog

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stratalog/strata/recordbatch"
)

func TestGroupCommit(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig())
	defer l.Close()
	mustAppend(t, l, simpleBatch(t, 1, 1, 10), 0, nil)

	// Hold the first fsync round until every waiter has arrived.
	release := make(chan struct{})
	started := make(chan struct{})
	var first atomic.Bool
	l.testHookSync = func() {
		if first.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
	}
	errc := make(chan error, 20)
	go func() { errc <- l.FlushUpTo(1) }()
	<-started
	base := l.syncs.Load()

	// While that fsync runs, appends go on and more callers queue up.
	const waiters = 10
	var wg sync.WaitGroup
	for i := 0; i < waiters; i++ {
		info := mustAppend(t, l, simpleBatch(t, 1, 1, 10), 0, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- l.FlushUpTo(info.LastOffset + 1)
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the waiters block
	close(release)
	wg.Wait()
	for i := 0; i < waiters+1; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if got := l.syncs.Load() - base; got != 1 {
		t.Fatalf("%d fsync rounds for %d queued callers, want 1", got, waiters)
	}
	if l.FlushedOffset() != l.LogEndOffset() {
		t.Fatalf("flushed %d, LEO %d", l.FlushedOffset(), l.LogEndOffset())
	}
	// Nothing new: no fsync.
	n := l.syncs.Load()
	if err := l.FlushUpTo(l.LogEndOffset()); err != nil || l.syncs.Load() != n {
		t.Fatalf("flush with nothing to do ran an fsync (%v)", err)
	}
	// Beyond the end is capped at the end.
	if err := l.FlushUpTo(math.MaxInt64); err != nil {
		t.Fatal(err)
	}
}

func TestFlushErrorIsSticky(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig())
	mustAppend(t, l, simpleBatch(t, 1, 1, 10), 0, nil)
	act := l.segs[0]
	bad, err := os.Open(act.path(extLog))
	if err != nil {
		t.Fatal(err)
	}
	bad.Close() // fsync of a closed *os.File fails
	l.mu.Lock()
	good := swapLogFile(t, act, bad)
	l.mu.Unlock()
	if err := l.FlushUpTo(1); !errors.Is(err, ErrStorage) {
		t.Fatalf("flush: %v", err)
	}
	l.mu.Lock()
	swapLogFile(t, act, good)
	l.mu.Unlock()
	mustAppend(t, l, simpleBatch(t, 1, 1, 10), 0, nil)
	if err := l.FlushUpTo(2); !errors.Is(err, ErrStorage) {
		t.Fatalf("flush after a failed fsync: %v", err)
	}
	dir := l.dir
	l.Close()
	// No clean marker after a failed fsync: the next open scans.
	l = openLog(t, dir, smallConfig())
	defer l.Close()
	if l.LogEndOffset() != 2 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
}

func TestConcurrentAppendFlushReadRetention(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	cfg.RetentionBytes = 16 << 10
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()

	const appenders, perAppender = 4, 150
	var (
		wg      sync.WaitGroup
		done    atomic.Bool
		reads   atomic.Int64
		fail    = make(chan error, 100)
		failure = func(err error) {
			select {
			case fail <- err:
			default:
			}
		}
	)
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perAppender; i++ {
				b := simpleBatch(t, time.Now().UnixMilli(), 1+i%4, 20+i%50)
				info, err := l.Append(b, nil, 1, time.Now())
				if err != nil {
					failure(err)
					return
				}
				if i%3 == 0 {
					if err := l.FlushUpTo(info.LastOffset + 1); err != nil {
						failure(err)
						return
					}
					if l.FlushedOffset() <= info.LastOffset {
						failure(errors.New("FlushUpTo returned before the offset was flushed"))
						return
					}
				}
			}
		}()
	}
	var bg sync.WaitGroup
	for r := 0; r < 2; r++ {
		bg.Add(1)
		go func(seed uint64) {
			defer bg.Done()
			rng := rand.New(rand.NewPCG(seed, 9))
			for !done.Load() {
				start, end := l.LogStartOffset(), l.LogEndOffset()
				off := start + rng.Int64N(end-start+1)
				b, err := l.Read(off, end, 1+rng.IntN(8192), rng.IntN(2) == 0)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // retention moved the start
				}
				if err != nil {
					failure(err)
					return
				}
				hs, err := recordbatch.Validate(b, recordbatch.DefaultMaxDecompressed)
				if len(b) > 0 && err != nil {
					failure(err)
					return
				}
				for i, h := range hs {
					if (i == 0 && (h.BaseOffset > off || h.LastOffset() < off)) || (i > 0 && h.BaseOffset != hs[i-1].LastOffset()+1) || h.LastOffset() >= end {
						failure(errors.New("read returned the wrong batches"))
						return
					}
				}
				reads.Add(1)
			}
		}(uint64(r))
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		for !done.Load() {
			if _, err := l.EnforceRetention(time.Now(), nil); err != nil {
				failure(err)
				return
			}
			l.OffsetForTimestamp(time.Now().Add(-time.Second).UnixMilli())
			l.MaxTimestamp()
			l.Segments()
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	done.Store(true)
	bg.Wait()
	close(fail)
	for err := range fail {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no reads ran")
	}
	if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	// Appends may have outrun the last retention pass.
	if _, err := l.EnforceRetention(time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	var total int64
	segs := l.Segments()
	for _, s := range segs {
		total += s.Size
	}
	if total-segs[0].Size >= cfg.RetentionBytes && len(segs) > 1 {
		t.Fatalf("retention left %d bytes in %d segments", total, len(segs))
	}
	if got := readAll(t, l, l.LogStartOffset()); len(got) == 0 {
		t.Fatal("nothing to read")
	}
}

// TestFailedFsyncIsNeverRetried: after one failed fsync (injected through
// Config.SyncFile) the log fails every flush with ErrFsyncFailed and never
// fsyncs a file again, not even at Close: a later success would prove
// nothing about pages the kernel may have dropped (fsyncgate).
func TestFailedFsyncIsNeverRetried(t *testing.T) {
	var calls, failOn atomic.Int64
	failOn.Store(-1)
	cfg := smallConfig()
	cfg.SyncFile = func(f *os.File) error {
		if n := calls.Add(1); n == failOn.Load() {
			return fmt.Errorf("injected: %w", syscall.EIO)
		}
		return f.Sync()
	}
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	mustAppend(t, l, simpleBatch(t, 1, 1, 10), 0, nil)
	if err := l.FlushUpTo(1); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, simpleBatch(t, 1, 1, 10), 0, nil)
	failOn.Store(calls.Load() + 1)
	err := l.FlushUpTo(2)
	if !errors.Is(err, ErrFsyncFailed) || !errors.Is(err, ErrStorage) {
		t.Fatalf("flush with a failing fsync: %v", err)
	}
	after := calls.Load()
	mustAppend(t, l, simpleBatch(t, 1, 1, 10), 0, nil)
	if err := l.FlushUpTo(3); !errors.Is(err, ErrFsyncFailed) {
		t.Fatalf("flush after a failed fsync: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrFsyncFailed) {
		t.Fatalf("close after a failed fsync: %v", err)
	}
	if n := calls.Load(); n != after {
		t.Fatalf("%d fsyncs after the failed one, want none", n-after)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("clean-shutdown marker written after a failed fsync: %v", err)
	}
}
