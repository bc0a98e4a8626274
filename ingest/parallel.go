package ingest

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// inParallel runs fn(0) .. fn(n-1) each in its own goroutine and waits for
// all of them: a request's partitions append in parallel so that their
// fsyncs and replication waits overlap. A panic in one is carried back to
// the caller's goroutine (where handleFrame recovers it), described by
// where(i).
func inParallel(n int, where func(i int) string, fn func(i int)) {
	var wg sync.WaitGroup
	var panicked atomic.Pointer[string]
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					msg := fmt.Sprintf("%v (%s)\n%s", v, where(i), debug.Stack())
					panicked.Store(&msg)
				}
			}()
			fn(i)
		}()
	}
	wg.Wait()
	if v := panicked.Load(); v != nil {
		panic(*v)
	}
}
