package credentials

import (
	"container/list"
	"sync"
)

// lru is a size-bounded map that evicts the least recently used entry. Safe for concurrent use.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; elements hold *lruItem[K, V]
	items map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), items: make(map[K]*list.Element)}
}

// getOrCreate returns the entry for key, creating it with create (called under the lock: it must be cheap
// and must not block) when absent. hit tells whether it existed; evicted counts entries dropped to make room.
func (c *lru[K, V]) getOrCreate(key K, create func() V) (v V, hit bool, evicted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruItem[K, V]).val, true, 0
	}
	v = create()
	c.items[key] = c.order.PushFront(&lruItem[K, V]{key: key, val: v})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruItem[K, V]).key)
		evicted++
	}
	return v, false, evicted
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
