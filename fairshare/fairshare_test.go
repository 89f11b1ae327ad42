package fairshare

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/tenant"
)

func grant(t *testing.T, s *Scheduler, id string) Release {
	t.Helper()
	r, d, _, err := s.Acquire(context.Background(), id, tenant.RateLimit{})
	require.NoError(t, err)
	require.Equal(t, Granted, d, id)
	return r
}

// waitFor starts an Acquire that has to wait and returns a channel that receives its release.
func waitFor(t *testing.T, s *Scheduler, id string) <-chan Release {
	t.Helper()
	before := s.Stats().Waiting[id]
	ch := make(chan Release, 1)
	refused := make(chan struct{})
	go func() {
		r, d, _, err := s.Acquire(context.Background(), id, tenant.RateLimit{})
		if err != nil || d != Granted {
			t.Errorf("%s: %v %v", id, d, err)
			close(refused)
			return
		}
		ch <- r
	}()
	for s.Stats().Waiting[id] == before {
		select {
		case <-refused:
			t.FailNow()
		case <-ch:
			t.Fatalf("%s was granted at once: it was expected to wait", id)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	return ch
}

func TestLoneTenantUsesEveryWorker(t *testing.T) {
	s, err := New(Options{Workers: 4})
	require.NoError(t, err)
	for range 4 {
		grant(t, s, "a")
	}
	assert.Equal(t, 4, s.Stats().InFlight["a"], "work-conserving: no other tenant, no limit")
}

func TestBusyInsteadOfHoldingASlot(t *testing.T) {
	s, err := New(Options{Workers: 2, Waiting: 2, BusyDelay: 3 * time.Second})
	require.NoError(t, err)
	ra1, ra2 := grant(t, s, "a"), grant(t, s, "a")
	waitingA := waitFor(t, s, "a")
	// a's second waiter is displaced by nobody yet: the queue has room for two.
	displaced := make(chan Decision, 1)
	go func() {
		_, d, _, _ := s.Acquire(context.Background(), "a", tenant.RateLimit{})
		displaced <- d
	}()
	for s.Stats().Waiting["a"] < 2 {
		time.Sleep(time.Millisecond)
	}
	_, d, after, err := s.Acquire(context.Background(), "a", tenant.RateLimit{})
	require.NoError(t, err)
	assert.Equal(t, Busy, d, "the queue is full and a is the most loaded tenant: a may not wait, it would hold a slot")
	assert.Equal(t, 3*time.Second, after)

	// b takes the place of a's newest waiter (answered Busy), and gets the next free worker.
	waitingB := waitFor(t, s, "b")
	assert.Equal(t, Busy, <-displaced)
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, s.Stats().Waiting)
	ra1(0, 0)
	rb := <-waitingB
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, s.Stats().InFlight)
	ra2(0, 0)
	ra3 := <-waitingA
	rb(0, 0)
	ra3(0, 0)
	assert.Equal(t, Stats{Free: 2, InFlight: map[string]int{}, Waiting: map[string]int{}}, s.Stats())
}

func TestTenantAtItsShareIsBusyWhileOthersWait(t *testing.T) {
	s, err := New(Options{Workers: 4, Share: 1, Waiting: 3})
	require.NoError(t, err)
	rs := []Release{grant(t, s, "a"), grant(t, s, "a"), grant(t, s, "a"), grant(t, s, "a")}
	waitFor(t, s, "b")
	_, d, _, _ := s.Acquire(context.Background(), "a", tenant.RateLimit{})
	assert.Equal(t, Busy, d, "a has more than its share and b waits")
	for _, r := range rs {
		r(0, 0)
	}
}

func TestCancelledWaiterPassesItsWorkerOn(t *testing.T) {
	s, err := New(Options{Workers: 1})
	require.NoError(t, err)
	r := grant(t, s, "a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, _, err := s.Acquire(ctx, "b", tenant.RateLimit{})
		done <- err
	}()
	for s.Stats().Waiting["b"] == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	r(0, 0)
	assert.Equal(t, 1, s.Stats().Free)
	r(0, 0) // a second call is ignored
	assert.Equal(t, 1, s.Stats().Free)
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s, err := New(Options{Workers: 4, Now: func() time.Time { return now }})
	require.NoError(t, err)
	lim := tenant.RateLimit{EventsPerSecond: 100, BytesPerSecond: 1000, BurstSeconds: 2} // buckets: 200 events, 2000 bytes
	acquire := func() (Release, Decision, time.Duration) {
		r, d, after, err := s.Acquire(context.Background(), "a", lim)
		require.NoError(t, err)
		return r, d, after
	}
	r, d, _ := acquire()
	require.Equal(t, Granted, d)
	r(500, 1000) // 300 events of debt
	_, d, after := acquire()
	assert.Equal(t, RateLimited, d)
	assert.Equal(t, 3*time.Second, after, "300 events at 100/s")
	assert.Equal(t, 4, s.Stats().Free, "a rate-limited tenant holds no worker")
	now = now.Add(3 * time.Second)
	r, d, _ = acquire()
	require.Equal(t, Granted, d, "out of debt")
	r(0, 2500) // bytes: refilled to the 2000 cap, minus 2500 = 500 of debt
	_, d, after = acquire()
	assert.Equal(t, RateLimited, d)
	assert.Equal(t, 500*time.Millisecond, after)
	// Other tenants are not limited.
	r2, d2, _, _ := s.Acquire(context.Background(), "b", tenant.RateLimit{})
	assert.Equal(t, Granted, d2)
	r2(1e9, 1e9)
}

func TestOptions(t *testing.T) {
	_, err := New(Options{})
	assert.Error(t, err)
	s, err := New(Options{Workers: 1})
	require.NoError(t, err)
	assert.Equal(t, 1, s.o.Share)
	assert.Equal(t, 1, s.o.Waiting)
}

func TestWaitQueuesAndWaitsOutTheLimit(t *testing.T) {
	s, err := New(Options{Workers: 1, Waiting: 1})
	require.NoError(t, err)
	r := grant(t, s, "a")
	first := waitFor(t, s, "a")
	got := make(chan Release, 1)
	go func() {
		r, err := s.Wait(context.Background(), "a", tenant.RateLimit{})
		assert.NoError(t, err)
		got <- r
	}()
	for s.Stats().Waiting["a"] < 2 {
		time.Sleep(time.Millisecond)
	}
	r(0, 0)
	(<-first)(0, 0)
	(<-got)(0, 0) // queued beyond the waiting allowance, served in turn
	// Rate limit: Wait sleeps until the debt is paid (a few milliseconds here).
	lim := tenant.RateLimit{EventsPerSecond: 1000, BurstSeconds: 0.001} // bucket of 1 event
	s2, err := New(Options{Workers: 1})
	require.NoError(t, err)
	r2, err := s2.Wait(context.Background(), "x", lim)
	require.NoError(t, err)
	r2(5, 0) // 4 events of debt: 4 ms
	r3, err := s2.Wait(context.Background(), "x", lim)
	require.NoError(t, err)
	r3(0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r4, _, _, _ := s2.Acquire(context.Background(), "x", lim)
	r4(1e6, 0)
	_, err = s2.Wait(ctx, "x", lim)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestCrowded(t *testing.T) {
	s, err := New(Options{Workers: 1, Waiting: 4})
	require.NoError(t, err)
	release := grant(t, s, "c") // c holds the only worker; a and b have none in flight, so they may queue
	assert.False(t, s.Crowded(), "nothing waits")
	waitFor(t, s, "a")
	waitFor(t, s, "b")
	waitFor(t, s, "a")
	assert.False(t, s.Crowded(), "a holds half of the waiting places, not more")
	waitFor(t, s, "a")
	assert.True(t, s.Crowded(), "a holds 3 of the 4 places")
	release(0, 0) // a and b have none in flight: a's oldest waiter queued first and takes the worker
	assert.Equal(t, map[string]int{"a": 2, "b": 1}, s.Stats().Waiting)
	assert.False(t, s.Crowded(), "a is back to half of the places")
}

// TestShareBusyOnlyForALessLoadedWaiter: a tenant that delivers its share may still queue behind a waiting
// tenant with as many objects in flight (that one queued first and is served first), but not while a
// tenant with fewer in flight waits.
func TestShareBusyOnlyForALessLoadedWaiter(t *testing.T) {
	s, err := New(Options{Workers: 2, Share: 1, Waiting: 4, BusyDelay: time.Second})
	require.NoError(t, err)
	ra, rb := grant(t, s, "a"), grant(t, s, "b")
	waitingA := waitFor(t, s, "a")
	waitingB := waitFor(t, s, "b") // b has its share in flight, but a, waiting, has as many
	waitingC := waitFor(t, s, "c")
	_, d, after, err := s.Acquire(context.Background(), "b", tenant.RateLimit{})
	require.NoError(t, err)
	assert.Equal(t, Busy, d, "b has its share in flight while c, with none, waits")
	assert.Equal(t, time.Second, after)
	assert.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1}, s.Stats().Waiting)

	ra(0, 0) // a and c have none in flight now; a queued first
	ra2 := <-waitingA
	rb(0, 0) // b and c have none in flight; b queued first
	rb2 := <-waitingB
	ra2(0, 0)
	rc := <-waitingC
	rb2(0, 0)
	rc(0, 0)
	assert.Equal(t, Stats{Free: 2, InFlight: map[string]int{}, Waiting: map[string]int{}}, s.Stats())
}
