// Package fairshare hands one process's delivery workers out between tenants: fairly when tenants compete,
// all of them to one tenant when no other waits, and never to a tenant over its optional rate limit.
//
// The contract, in the order the Scheduler applies it:
//
//  1. A tenant over its rate limit (tenant.RateLimit: events/s and bytes/s token buckets, refilled
//     continuously, holding at most rate × burst seconds) starts nothing until its buckets are out of debt:
//     Acquire answers at once with how long that takes. Objects are charged when they finish (their events
//     and bytes are not known before), so a limit is exceeded by at most the objects already started.
//     Limits are per process: with N replicas sharing a queue a tenant may get up to N times its limit.
//  2. A free worker is taken at once, whoever asks (work-conserving: a lone tenant may use every worker).
//  3. With no worker free, objects queue, at most Waiting of them across all tenants (the caller's spare
//     slots). When the queue is full, a newcomer takes the place of the newest waiter of the most loaded
//     tenant (objects in flight + waiting) if that tenant would still be more loaded than the newcomer's;
//     otherwise — and whenever its tenant already delivers Share objects while another tenant with fewer
//     objects in flight waits — it is answered Busy at once (as is the waiter it displaced), so that the caller hands the message back
//     to the queue instead of holding a slot another tenant could use.
//  4. A worker that frees goes to the waiting tenant with the fewest objects in flight (ties: the one
//     that queued first), so a small tenant behind a large backlog waits for about one object.
//
// A Scheduler is safe for concurrent use. It holds no goroutines and sleeps on nothing but its callers'
// contexts.
package fairshare

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/logrouter/logrouter/tenant"
)

// Options configure a Scheduler. Zero values take the defaults.
type Options struct {
	// Workers is how many objects are delivered at once across all tenants (required, ≥ 1).
	Workers int
	// Share is how many objects one tenant may deliver at once while another tenant waits
	// (default max(1, Workers/2)).
	Share int
	// Waiting is how many objects may wait for a worker, across tenants (default max(1, Workers/2)). Give it
	// the caller's slots beyond Workers: then only a caller receiving beyond them because the scheduler is
	// Crowded displaces or is answered Busy by the waiting limit.
	Waiting int
	// BusyDelay is the retry delay Acquire suggests for a Busy answer (default 2s).
	BusyDelay time.Duration
	// Now is the clock of the rate limits (default time.Now).
	Now func() time.Time
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	if o.Workers < 1 || o.Share < 1 || o.Waiting < 1 {
		return fmt.Errorf("fairshare: workers (%d), share (%d) and waiting (%d) must be at least 1", o.Workers, o.Share, o.Waiting)
	}
	if o.BusyDelay <= 0 {
		return fmt.Errorf("fairshare: busy delay %s must be positive", o.BusyDelay)
	}
	return nil
}

// Decision is why Acquire did not hand out a worker.
type Decision int

const (
	// Granted: the caller holds a worker and must call the release func.
	Granted Decision = iota
	// Busy: the tenant may not wait for a worker now (its waiting allowance is used, or it has its share
	// while others wait). Hand the work back and retry after the suggested delay.
	Busy
	// RateLimited: the tenant's rate limit is in debt; retry after the suggested delay.
	RateLimited
)

func (d Decision) String() string {
	switch d {
	case Granted:
		return "granted"
	case Busy:
		return "tenant_busy"
	case RateLimited:
		return "rate_limited"
	}
	return "unknown"
}

// Release returns a worker and charges what the object delivered to the tenant's rate limit.
type Release func(events, bytes int64)

// Scheduler is the worker pool. Create it with New.
type Scheduler struct {
	o       Options
	mu      sync.Mutex
	free    int
	seq     uint64
	tenants map[string]*tenantState
}

type tenantState struct {
	inflight int
	waiting  []*waiter // in arrival order
	limit    tenant.RateLimit
	events   bucket
	bytes    bucket
}

type waiter struct {
	seq     uint64
	granted chan struct{} // closed when a worker is handed to it, or when it is displaced
	busy    bool          // displaced by another tenant's object (set before granted is closed)
}

// bucket is a token bucket that may go into debt (objects are charged after they ran).
type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a Scheduler with o completed with defaults and validated.
func New(o Options) (*Scheduler, error) {
	if o.Share == 0 {
		o.Share = max(1, o.Workers/2)
	}
	if o.Waiting == 0 {
		o.Waiting = max(1, o.Workers/2)
	}
	if o.BusyDelay == 0 {
		o.BusyDelay = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Scheduler{o: o, free: o.Workers, tenants: map[string]*tenantState{}}, nil
}

// Workers is the number of objects delivered at once.
func (s *Scheduler) Workers() int { return s.o.Workers }

// Acquire asks for a worker for one object of tenantID under limit (the zero limit: none). Granted: the
// caller holds a worker until it calls release (exactly once). Busy or RateLimited: nothing is held and
// retryAfter suggests when to try again. It waits only for a worker, and only as long as ctx allows
// (then it returns ctx's error).
func (s *Scheduler) Acquire(ctx context.Context, tenantID string, limit tenant.RateLimit) (release Release, d Decision, retryAfter time.Duration, err error) {
	return s.acquire(ctx, tenantID, limit, false)
}

// Wait is Acquire for callers with no queue to hand work back to (manual runs, Lambda, replays): it waits
// out the rate limit and queues for a worker however many objects of the tenant already wait. It returns
// ctx's error when ctx ends first.
func (s *Scheduler) Wait(ctx context.Context, tenantID string, limit tenant.RateLimit) (Release, error) {
	for {
		r, d, after, err := s.acquire(ctx, tenantID, limit, true)
		if err != nil || d == Granted {
			return r, err
		}
		t := time.NewTimer(after)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

func (s *Scheduler) acquire(ctx context.Context, tenantID string, limit tenant.RateLimit, queue bool) (release Release, d Decision, retryAfter time.Duration, err error) {
	s.mu.Lock()
	st := s.state(tenantID)
	st.setLimit(limit, s.o.Now())
	if wait := st.debt(s.o.Now()); wait > 0 {
		s.forget(tenantID, st)
		s.mu.Unlock()
		return nil, RateLimited, wait, nil
	}
	if s.free > 0 {
		s.free--
		st.inflight++
		s.mu.Unlock()
		return s.releaser(tenantID), Granted, 0, nil
	}
	if !queue && (st.inflight >= s.o.Share && s.othersWaiting(tenantID, st.inflight) || !s.makeRoom(tenantID, st)) {
		s.forget(tenantID, st)
		s.mu.Unlock()
		return nil, Busy, s.o.BusyDelay, nil
	}
	s.seq++
	w := &waiter{seq: s.seq, granted: make(chan struct{})}
	st.waiting = append(st.waiting, w)
	s.mu.Unlock()

	select {
	case <-w.granted:
		if w.busy {
			return nil, Busy, s.o.BusyDelay, nil
		}
		return s.releaser(tenantID), Granted, 0, nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	select {
	case <-w.granted:
		if w.busy {
			break
		}
		// handed a worker while giving up: pass it on
		st.inflight--
		s.free++
		s.dispatch()
	default:
		for i, x := range st.waiting {
			if x == w {
				st.waiting = append(st.waiting[:i], st.waiting[i+1:]...)
				break
			}
		}
	}
	s.forget(tenantID, st)
	s.mu.Unlock()
	return nil, Granted, 0, ctx.Err()
}

func (s *Scheduler) releaser(tenantID string) Release {
	var once sync.Once
	return func(events, bytes int64) {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			st := s.tenants[tenantID]
			now := s.o.Now()
			st.charge(float64(events), float64(bytes), now)
			st.inflight--
			s.free++
			s.dispatch()
			s.forget(tenantID, st)
		})
	}
}

// dispatch hands free workers to waiting tenants, fewest in flight first. Called with s.mu held.
func (s *Scheduler) dispatch() {
	for s.free > 0 {
		var best *tenantState
		for _, st := range s.tenants {
			if len(st.waiting) == 0 {
				continue
			}
			if best == nil || st.inflight < best.inflight || st.inflight == best.inflight && st.waiting[0].seq < best.waiting[0].seq {
				best = st
			}
		}
		if best == nil {
			return
		}
		w := best.waiting[0]
		best.waiting = best.waiting[1:]
		best.inflight++
		s.free--
		close(w.granted)
	}
}

// makeRoom reports whether one more object of tenantID may wait: there is a free place, or the newest
// waiter of a more loaded tenant gives its place up (answered Busy). Called with s.mu held.
func (s *Scheduler) makeRoom(tenantID string, st *tenantState) bool {
	total := 0
	var victim *tenantState
	for id, o := range s.tenants {
		total += len(o.waiting)
		if id != tenantID && len(o.waiting) > 0 && (victim == nil || o.load() > victim.load()) {
			victim = o
		}
	}
	if total < s.o.Waiting {
		return true
	}
	if victim == nil || victim.load()-1 <= st.load() {
		return false
	}
	w := victim.waiting[len(victim.waiting)-1]
	victim.waiting = victim.waiting[:len(victim.waiting)-1]
	w.busy = true
	close(w.granted)
	return true
}

func (st *tenantState) load() int { return st.inflight + len(st.waiting) }

// othersWaiting reports whether another tenant with fewer than inflight objects in flight waits: one that
// would have to share the next free workers with tenantID's waiting object otherwise. (With as many in
// flight, the one that queued first is served first, so tenantID's object may wait behind it.) Called with
// s.mu held.
func (s *Scheduler) othersWaiting(tenantID string, inflight int) bool {
	for id, st := range s.tenants {
		if id != tenantID && len(st.waiting) > 0 && st.inflight < inflight {
			return true
		}
	}
	return false
}

func (s *Scheduler) state(tenantID string) *tenantState {
	st := s.tenants[tenantID]
	if st == nil {
		st = &tenantState{}
		s.tenants[tenantID] = st
	}
	return st
}

// forget drops a tenant's state once it holds nothing a later call needs. Called with s.mu held.
func (s *Scheduler) forget(tenantID string, st *tenantState) {
	if st.inflight == 0 && len(st.waiting) == 0 && !st.limit.Set() {
		delete(s.tenants, tenantID)
	}
}

// Crowded reports whether one tenant's objects take more than half of the waiting places. A caller that
// receives work in batches (the SQS poller) uses it to keep receiving beyond its usual holding while one
// tenant crowds the queue: the other tenants' objects it finds then take the crowding tenant's places
// (rule 3), instead of waiting behind its backlog.
func (s *Scheduler) Crowded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.tenants {
		if 2*len(st.waiting) > s.o.Waiting {
			return true
		}
	}
	return false
}

// Stats is a snapshot of the scheduler, for metrics and tests.
type Stats struct {
	Free     int
	InFlight map[string]int
	Waiting  map[string]int
}

// Stats returns a snapshot.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Free: s.free, InFlight: map[string]int{}, Waiting: map[string]int{}}
	for id, st := range s.tenants {
		if st.inflight > 0 {
			out.InFlight[id] = st.inflight
		}
		if len(st.waiting) > 0 {
			out.Waiting[id] = len(st.waiting)
		}
	}
	return out
}

// setLimit adopts the tenant's current limit; a changed limit starts with full buckets.
func (st *tenantState) setLimit(l tenant.RateLimit, now time.Time) {
	if l == st.limit {
		return
	}
	st.limit = l
	st.events = bucket{tokens: capacity(l.EventsPerSecond, l), at: now}
	st.bytes = bucket{tokens: capacity(l.BytesPerSecond, l), at: now}
}

func capacity(rate float64, l tenant.RateLimit) float64 { return rate * l.Burst().Seconds() }

// refill brings b to now at rate, up to its capacity.
func (b *bucket) refill(rate, capacity float64, now time.Time) {
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = math.Min(capacity, b.tokens+dt*rate)
	}
	b.at = now
}

// debt is how long until both buckets are out of debt (0: now).
func (st *tenantState) debt(now time.Time) time.Duration {
	var wait float64
	for _, x := range []struct {
		b    *bucket
		rate float64
	}{{&st.events, st.limit.EventsPerSecond}, {&st.bytes, st.limit.BytesPerSecond}} {
		if x.rate <= 0 {
			continue
		}
		x.b.refill(x.rate, capacity(x.rate, st.limit), now)
		if x.b.tokens < 0 {
			wait = math.Max(wait, -x.b.tokens/x.rate)
		}
	}
	if wait == 0 {
		return 0
	}
	return max(time.Duration(wait*float64(time.Second)), time.Millisecond)
}

func (st *tenantState) charge(events, bytes float64, now time.Time) {
	if r := st.limit.EventsPerSecond; r > 0 {
		st.events.refill(r, capacity(r, st.limit), now)
		st.events.tokens -= events
	}
	if r := st.limit.BytesPerSecond; r > 0 {
		st.bytes.refill(r, capacity(r, st.limit), now)
		st.bytes.tokens -= bytes
	}
}
