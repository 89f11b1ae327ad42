package engine

import (
	"context"
	"sync"
	"time"
)

// tenantLimiter bounds the objects of one tenant in flight at once, so a tenant whose destination is slow
// or broken holds at most limit of the engine's workers.
type tenantLimiter struct {
	limit int
	mu    sync.Mutex
	sems  map[string]*tenantSem
}

type tenantSem struct {
	ch   chan struct{}
	refs int
}

func newTenantLimiter(limit int) *tenantLimiter {
	return &tenantLimiter{limit: limit, sems: map[string]*tenantSem{}}
}

// acquire waits for a slot of tenant's; waited reports whether it had to. The release func must be called.
func (l *tenantLimiter) acquire(ctx context.Context, tenant string) (release func(), waited bool, err error) {
	l.mu.Lock()
	s := l.sems[tenant]
	if s == nil {
		s = &tenantSem{ch: make(chan struct{}, l.limit)}
		l.sems[tenant] = s
	}
	s.refs++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		s.refs--
		if s.refs == 0 {
			delete(l.sems, tenant)
		}
		l.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
	default:
		waited = true
		select {
		case s.ch <- struct{}{}:
		case <-ctx.Done():
			done()
			return nil, true, ctx.Err()
		}
	}
	return func() { <-s.ch; done() }, waited, nil
}

// breaker fails a key's deliveries fast for a cooldown after threshold consecutive AccessDenied errors,
// so a tenant whose role is broken does not spend workers on assume-role round trips.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time
	mu        sync.Mutex
	state     map[string]*breakerState
}

type breakerState struct {
	fails     int
	openUntil time.Time
}

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, now: now, state: map[string]*breakerState{}}
}

// allow reports whether key may be attempted now.
func (b *breaker) allow(key string) bool {
	if b.threshold <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state[key]
	return s == nil || !b.now().Before(s.openUntil)
}

// record notes an attempt's result; it reports whether this result opened the breaker.
func (b *breaker) record(key string, accessDenied bool) (opened bool) {
	if b.threshold <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !accessDenied {
		delete(b.state, key)
		return false
	}
	s := b.state[key]
	if s == nil {
		s = &breakerState{}
		b.state[key] = s
	}
	s.fails++
	if s.fails >= b.threshold {
		s.fails = 0
		s.openUntil = b.now().Add(b.cooldown)
		return true
	}
	return false
}
