package meta

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestClaimProducerIDsUniqueUnderConcurrency(t *testing.T) {
	c := newTestClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const claimers, each, block = 6, 5, 100
	var mu sync.Mutex
	var starts []int64
	var wg sync.WaitGroup
	for i := 0; i < claimers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				first, err := c.ClaimProducerIDs(ctx, block)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				starts = append(starts, first)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	if len(starts) != claimers*each {
		t.Fatalf("%d claims, want %d", len(starts), claimers*each)
	}
	for i, s := range starts {
		if s != int64(i*block) {
			t.Fatalf("claim %d starts at %d, want %d (blocks must not overlap or leave holes)", i, s, i*block)
		}
	}
	if _, err := c.ClaimProducerIDs(ctx, 0); err == nil {
		t.Fatal("claiming 0 ids worked")
	}
}
