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
	ll       *list.List // of string keys, front = most recent
	entries  map[string]*list.Element
	inflight map[string]*creation
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[streamKey(scope, d)]; ok {
		c.ll.MoveToFront(e)
		return true
	}
	return false
}

// groupCreated reports whether this process created the log group (see ProbeAuto).
func (c *ExistenceCache) groupCreated(scope, group string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[createdGroupKey(scope, group)]; ok {
		c.ll.MoveToFront(e)
		return true
	}
	return false
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
	if e, ok := c.entries[key]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.entries[key] = c.ll.PushFront(key)
	for len(c.entries) > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.entries, last.Value.(string))
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

// create runs fn unless a creation of key is already running, in which case it waits for that one and
// returns its result. On success key is marked known.
func (c *ExistenceCache) create(ctx context.Context, key string, fn func() error) error {
	return c.createUnless(ctx, key, false, fn)
}

// createUnless is create; with ifUnknown it also returns at once when key is known (checked under the same
// lock as running creations, so that a creation that just finished is never repeated).
func (c *ExistenceCache) createUnless(ctx context.Context, key string, ifUnknown bool, fn func() error) error {
	c.mu.Lock()
	if _, ok := c.entries[key]; ok && ifUnknown {
		c.mu.Unlock()
		return nil
	}
	if cr, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-cr.done:
			return cr.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cr := &creation{done: make(chan struct{})}
	c.inflight[key] = cr
	c.mu.Unlock()

	cr.err = fn()
	if cr.err == nil {
		c.markKnown(key)
	}
	c.mu.Lock()
	delete(c.inflight, key)
	c.mu.Unlock()
	close(cr.done)
	return cr.err
}
