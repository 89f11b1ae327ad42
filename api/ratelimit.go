package api

import (
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket: Burst requests at once, refilled at Per/Burst intervals (Burst per Per).
type RateLimit struct {
	Burst int           // bucket size; <= 0 disables the limit
	Per   time.Duration // time to refill a whole bucket
}

// Default limits.
var (
	// DefaultAuthFailureLimit: a client (remote address) may fail authentication 10 times at once, then once
	// every 6 seconds.
	DefaultAuthFailureLimit = RateLimit{Burst: 10, Per: time.Minute}
	// DefaultAWSCallLimit: a tenant may call the routes that call AWS 20 times at once, then once every 3 s.
	DefaultAWSCallLimit = RateLimit{Burst: 20, Per: time.Minute}
)

// AWSOperations are the operation ids of the routes that call AWS on a tenant's behalf; they are rate-limited
// per tenant (Options.AWSCallLimit).
var AWSOperations = []string{"validate-delivery-config", "validate-stored-delivery-config", "create-replay"}

// maxBuckets bounds a limiter's memory: past it, full buckets (clients that are not limited) are forgotten.
const maxBuckets = 10000

// limiter is a set of token buckets by key, on an injectable clock.
type limiter struct {
	limit   RateLimit
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(l RateLimit, now func() time.Time) *limiter {
	return &limiter{limit: l, now: now, buckets: map[string]*bucket{}}
}

func (l *limiter) enabled() bool { return l.limit.Burst > 0 && l.limit.Per > 0 }

// refill brings key's bucket up to date and returns it (nil when the key has a full bucket).
func (l *limiter) refill(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		return nil
	}
	rate := float64(l.limit.Burst) / l.limit.Per.Seconds()
	b.tokens = math.Min(float64(l.limit.Burst), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= float64(l.limit.Burst) {
		delete(l.buckets, key)
		return nil
	}
	return b
}

// wait returns how long until b holds a whole token.
func (l *limiter) wait(b *bucket) time.Duration {
	rate := float64(l.limit.Burst) / l.limit.Per.Seconds()
	return time.Duration(math.Ceil((1-b.tokens)/rate*1e9)) * time.Nanosecond
}

// blocked reports whether key has no token left, and how long until it has one, without taking one.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	if !l.enabled() {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, l.now())
	if b == nil || b.tokens >= 1 {
		return false, 0
	}
	return true, l.wait(b)
}

// take takes a token from key's bucket; when there is none it returns false and how long until there is one.
func (l *limiter) take(key string) (bool, time.Duration) {
	if !l.enabled() {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.refill(key, now)
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for k := range l.buckets {
				l.refill(k, now)
			}
		}
		b = &bucket{tokens: float64(l.limit.Burst), at: now}
		l.buckets[key] = b
	}
	if b.tokens < 1 {
		return false, l.wait(b)
	}
	b.tokens--
	return true, 0
}

// retryAfterSeconds rounds d up to whole seconds (at least 1), for a Retry-After header.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
