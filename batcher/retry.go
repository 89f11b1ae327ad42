package batcher

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds retries of transient failures (throttling, 5xx, network errors). Waits use exponential
// backoff with full jitter: before retry n (n = 1, 2, ...) the batcher waits a uniformly random duration in
// [0, min(MaxDelay, BaseDelay·2^(n-1))). The context deadline bounds the whole sequence as well.
type RetryPolicy struct {
	MaxAttempts int           // total attempts per request, including the first; default 10
	BaseDelay   time.Duration // default 100ms
	MaxDelay    time.Duration // default 20s
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 10
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 100 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 20 * time.Second
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p
}

// Backoff returns the wait before retry n (n ≥ 1), drawing the jitter from rnd (a uniform value in [0,1)).
func (p RetryPolicy) Backoff(n int, rnd float64) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < n && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	return time.Duration(rnd * float64(ceiling))
}

// retryNow asks retry for an immediate new attempt (no wait), e.g. after creating a missing stream.
type retryNow struct{ err error }

func (r retryNow) Error() string { return r.err.Error() }
func (r retryNow) Unwrap() error { return r.err }

// retry runs attempt until it succeeds, returns a non-transient error, the attempts are exhausted, ctx is
// done or stop is closed. attempt receives the attempt number (1-based). It returns the last error and the
// number of attempts made. Every wait selects on ctx.Done() and stop.
func retry(ctx context.Context, stop <-chan struct{}, p RetryPolicy, attempt func(n int) error) (int, error) {
	var err error
	for n := 1; ; n++ {
		err = attempt(n)
		if err == nil {
			return n, nil
		}
		immediate, backoff := false, false
		switch e := err.(type) {
		case retryNow:
			immediate = true
		case backoffErr:
			backoff = true
		default:
			backoff = classify(e).transient()
		}
		if !immediate && !backoff {
			return n, err
		}
		if n >= p.MaxAttempts {
			return n, err
		}
		if immediate {
			continue
		}
		t := time.NewTimer(p.Backoff(n, rand.Float64()))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return n, err
		case <-stop:
			t.Stop()
			return n, err
		}
	}
}
