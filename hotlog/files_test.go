package hotlog

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(des)
}

// TestFileCacheBoundsDescriptors: many logs of many segments sharing a
// small cache keep at most its cap of segment files open once idle,
// whatever the number of segments, and every read, append, flush, crash
// and reopen still sees exactly what was written.
func TestFileCacheBoundsDescriptors(t *testing.T) {
	const logs, maxOpen = 40, 16
	root := t.TempDir()
	files := NewFileCache(maxOpen)
	cfg := smallConfig()
	cfg.Files = files
	before := openFDs(t)

	ls := make([]*Log, logs)
	written := make([]*appended, logs)
	for i := range ls {
		ls[i] = openLog(t, filepath.Join(root, fmt.Sprintf("p-%d", i)), cfg)
		written[i] = fill(t, ls[i], 30, 0) // about ten 1 KiB segments each
	}
	segments := 0
	for _, l := range ls {
		segments += len(l.Segments())
	}
	if segments < 3*logs*3 {
		t.Fatalf("only %d segments: the test needs far more segment files than the cap", segments)
	}
	check := func(stage string) {
		t.Helper()
		if n := files.Open(); n > maxOpen {
			t.Fatalf("%s: %d segment files open, cap %d (%d segments)", stage, n, maxOpen, segments)
		}
		if n := openFDs(t) - before; n > maxOpen+8 { // slack for the runtime and the test
			t.Fatalf("%s: %d more descriptors than before, cap %d", stage, n, maxOpen)
		}
	}
	check("after appends")

	var wg sync.WaitGroup
	errs := make(chan error, logs)
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := l.Read(0, math.MaxInt64, math.MaxInt32, true)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, written[i].from(0, math.MaxInt64)) {
				errs <- fmt.Errorf("log %d: read back differs", i)
			}
			if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check("after concurrent reads and flushes")

	for i, l := range ls {
		crash(l)
		ls[i] = openLog(t, l.dir, cfg)
		mustAppend(t, ls[i], simpleBatch(t, 1000, 2, 20), 0, written[i])
	}
	check("after crash and reopen")
	for i, l := range ls {
		if got := readAll(t, l, 0); !bytes.Equal(got, written[i].from(0, math.MaxInt64)) {
			t.Fatalf("log %d: read back differs after reopen", i)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := files.Open(); n != 0 {
		t.Fatalf("%d segment files open after every log closed", n)
	}
}

// TestFileCacheWaitsAtCap: with a cap of 2 and many logs appending,
// flushing and reading at once, users wait for a file instead of opening
// more, and nothing deadlocks.
func TestFileCacheWaitsAtCap(t *testing.T) {
	files := NewFileCache(2)
	cfg := smallConfig()
	cfg.Files = files
	root := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	peak := 0
	var peakMu sync.Mutex
	for i := range 8 {
		l := openLog(t, filepath.Join(root, fmt.Sprintf("p-%d", i)), cfg)
		defer l.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 40 {
				_, err := l.Append(simpleBatch(t, int64(j), 2, 50), nil, 0, time.Now())
				if err != nil {
					errs <- err
					return
				}
				if err := l.FlushUpTo(l.LogEndOffset()); err != nil {
					errs <- err
					return
				}
				if _, err := l.Read(0, math.MaxInt64, 1<<20, true); err != nil {
					errs <- err
					return
				}
				peakMu.Lock()
				peak = max(peak, files.Open())
				peakMu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if peak > 2 {
		t.Fatalf("%d segment files open at once, cap 2", peak)
	}
}
