package credentials

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLRU(t *testing.T) {
	c := newLRU[string, int](2)
	created := 0
	get := func(k string) (int, bool, int) {
		return c.getOrCreate(k, func() int { created++; return created })
	}
	v, hit, ev := get("a")
	assert.Equal(t, []any{1, false, 0}, []any{v, hit, ev})
	v, hit, _ = get("a")
	assert.Equal(t, []any{1, true}, []any{v, hit})
	get("b")
	get("a")            // a most recent
	_, _, ev = get("c") // evicts b
	assert.Equal(t, 1, ev)
	v, hit, _ = get("a")
	assert.Equal(t, []any{1, true}, []any{v, hit})
	v, hit, _ = get("b")
	assert.Equal(t, []any{4, false}, []any{v, hit}, "b was evicted")
	assert.Equal(t, 2, c.len())
}
