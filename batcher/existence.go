package batcher

import (
	"container/list"
	"context"
	"sync"
)

// ExistenceCache remembers which log groups and streams are known to exist (per account+region scope) and
// serialises their creation, so that batchers never call Describe* and concurrent batchers for one
// destination create it once. It is an LRU bounded by maxEntries and safe for concurrent use.
type ExistenceCache struct {
	mu       sync.Mutex
	max      int
	gen      uint64     // last generation handed out
	ll       *list.List // of *entry, front = most recent
	entries  map[string]*list.Element
	inflight map[string]*creation
}

// entry is a known key. gen tells one marking from a later one (after a forget), so that a batcher whose
// request found the stream missing can tell "created since I looked" (nothing to do) from "gone since I
// looked" (create it).
type entry struct {
	key string
	gen uint64
}

type creation struct {
	done chan struct{}
	err  error
}

// NewExistenceCache returns a cache holding at most maxEntries keys (default 10,000 when ≤ 0).
func NewExistenceCache(maxEntries int) *ExistenceCache {
	if maxEntries <= 0 {
		maxEntries = 10_000
	}
	return &ExistenceCache{max: maxEntries, ll: list.New(), entries: map[string]*list.Element{}, inflight: map[string]*creation{}}
}

func streamKey(scope string, d Destination) string {
	return scope + "\x00" + d.LogGroup + "\x00" + d.LogStream
}

// Known reports whether the destination's stream is known to exist in scope.
func (c *ExistenceCache) Known(scope string, d Destination) bool {
	return c.generation(streamKey(scope, d)) != 0
}

// generation returns a known key's generation (refreshing its recency), 0 when it is unknown.
func (c *ExistenceCache) generation(key string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*entry).gen
	}
	return 0
}

// groupCreated reports whether this process created the log group (see ProbeAuto).
func (c *ExistenceCache) groupCreated(scope, group string) bool {
	return c.generation(createdGroupKey(scope, group)) != 0
}

// groupKey serialises a group's creation; createdGroupKey marks a group this process created. Neither can
// collide with a streamKey (a group name holds no \x01).
func groupKey(scope, group string) string        { return "\x01group\x00" + scope + "\x00" + group }
func createdGroupKey(scope, group string) string { return "\x01created\x00" + scope + "\x00" + group }

// Len returns the number of cached keys.
func (c *ExistenceCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *ExistenceCache) markKnown(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.markLocked(key)
}

func (c *ExistenceCache) markLocked(key string) {
	if e, ok := c.entries[key]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.gen++
	c.entries[key] = c.ll.PushFront(&entry{key: key, gen: c.gen})
	for len(c.entries) > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.entries, last.Value.(*entry).key)
	}
}

func (c *ExistenceCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.ll.Remove(e)
		delete(c.entries, key)
	}
}

// create makes key exist, one creation at a time across callers. seen is the key's generation when the
// caller last looked (0: unknown). create returns nil at once when key is known with another generation
// (created or found since the caller looked: checked under the same lock as running creations, so that a
// creation that just finished is never repeated); a key known with generation seen (the caller found it
// missing since) is forgotten. When a creation of key is running, create waits for it and returns its
// result; otherwise it runs fn and, on success, marks key known.
func (c *ExistenceCache) create(ctx context.Context, key string, seen uint64, fn func() error) error {
	c.mu.Lock()
	if cr, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-cr.done:
			return cr.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e, ok := c.entries[key]; ok {
		if e.Value.(*entry).gen != seen {
			c.ll.MoveToFront(e)
			c.mu.Unlock()
			return nil
		}
		c.ll.Remove(e)
		delete(c.entries, key)
	}
	cr := &creation{done: make(chan struct{})}
	c.inflight[key] = cr
	c.mu.Unlock()

	cr.err = fn()
	c.mu.Lock()
	if cr.err == nil {
		c.markLocked(key)
	}
	delete(c.inflight, key)
	c.mu.Unlock()
	close(cr.done)
	return cr.err
}
