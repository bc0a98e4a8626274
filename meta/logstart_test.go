package meta

import (
	"errors"
	"testing"
)

// TestLogStart: the log start is 0 until advanced, only grows, is written
// only under the partition's current epoch, and goes with its topic.
func TestLogStart(t *testing.T) {
	c := newTestClient(t)
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, Topic{Name: "ls", Partitions: 2}, states("ls", 0, 2)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.LogStart(ctx, "ls", 0); err != nil || got != 0 {
		t.Fatalf("log start before DeleteRecords: %d %v", got, err)
	}
	if _, err := c.AdvanceLogStart(ctx, "ls", 0, 1, 10); !errors.Is(err, ErrFenced) {
		t.Fatalf("advance under a wrong epoch: %v, want ErrFenced", err)
	}
	if _, err := c.AdvanceLogStart(ctx, "ls", 0, 0, -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative offset: %v, want ErrInvalid", err)
	}
	steps := []struct{ offset, want int64 }{{10, 10}, {25, 25}, {7, 25}, {25, 25}}
	for _, s := range steps {
		got, err := c.AdvanceLogStart(ctx, "ls", 0, 0, s.offset)
		if err != nil || got != s.want {
			t.Fatalf("advance to %d: %d %v, want %d", s.offset, got, err, s.want)
		}
		if got, err := c.LogStart(ctx, "ls", 0); err != nil || got != s.want {
			t.Fatalf("log start after advancing to %d: %d %v, want %d", s.offset, got, err, s.want)
		}
	}
	if got, err := c.LogStart(ctx, "ls", 1); err != nil || got != 0 {
		t.Fatalf("the other partition: %d %v", got, err)
	}
	if err := c.DeleteTopic(ctx, "ls"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(ctx, Topic{Name: "ls", Partitions: 1}, states("ls", 0, 1)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.LogStart(ctx, "ls", 0); err != nil || got != 0 {
		t.Fatalf("log start of the re-created topic: %d %v", got, err)
	}
}
