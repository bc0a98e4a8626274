package meta

import (
	"testing"
	"time"
)

func TestControllerElection(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	ctx := testCtx(t)
	want := func(id int32, held bool) {
		t.Helper()
		got, ok, err := c.Controller(ctx)
		if err != nil || ok != held || ok && got != id {
			t.Fatalf("Controller() = %d, %v, %v; want %d, %v", got, ok, err, id, held)
		}
	}
	want(0, false)

	first, err := c.CampaignController(ctx, 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want(1, true)

	// Broker 2 campaigns behind broker 1 and wins once broker 1 resigns.
	type result struct {
		claim *Controllership
		err   error
	}
	second := make(chan result, 1)
	go func() {
		cl, err := c.CampaignController(ctx, 2, 5*time.Second)
		second <- result{cl, err}
	}()
	if err := first.Resign(ctx); err != nil {
		t.Fatalf("resign: %v", err)
	}
	select {
	case <-first.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after Resign")
	}
	r := <-second
	if r.err != nil {
		t.Fatal(r.err)
	}
	want(2, true)
	if err := r.claim.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	want(0, false)
}
