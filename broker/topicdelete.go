package broker

import (
	"context"
	"slices"
)

// A deleted topic's local logs are removed after the broker lock is
// released (afterUnlock), by whichever path dropped the topic first: the
// DeleteTopics request or the topic watch. A topic of the same name
// created meanwhile (a client that deletes a topic and at once asks for
// it with auto-creation on, as kafka-go's ReadPartitions does) opens the
// same partition directories; were they opened before the removal, it
// would remove the new topic's files under its open log. So a topic is
// applied, and DeleteTopics answered, only once the removal of an earlier
// topic of that name is done.

// topicDeletion is one removal of a topic's dropped logs under way.
type topicDeletion struct {
	name string
	done chan struct{}
}

// beginDeletionLocked records that name's logs are being removed; b.mu
// is held.
func (b *Broker) beginDeletionLocked(name string) topicDeletion {
	d := topicDeletion{name: name, done: make(chan struct{})}
	b.deleting[name] = append(b.deleting[name], d.done)
	return d
}

// endDeletions marks removals done.
func (b *Broker) endDeletions(ds []topicDeletion) {
	if len(ds) == 0 {
		return
	}
	b.mu.Lock()
	for _, d := range ds {
		left := slices.DeleteFunc(b.deleting[d.name], func(c chan struct{}) bool { return c == d.done })
		if len(left) == 0 {
			delete(b.deleting, d.name)
		} else {
			b.deleting[d.name] = left
		}
	}
	b.mu.Unlock()
	for _, d := range ds {
		close(d.done)
	}
}

// awaitDeletion waits until the removals of name's dropped logs under way
// are done.
func (b *Broker) awaitDeletion(ctx context.Context, name string) error {
	b.mu.RLock()
	pending := slices.Clone(b.deleting[name])
	b.mu.RUnlock()
	for _, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
