package batcher

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

func TestBackoffFullJitter(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	tests := map[string]struct {
		n       int
		ceiling time.Duration
	}{
		"first retry":    {1, 100 * time.Millisecond},
		"second retry":   {2, 200 * time.Millisecond},
		"fourth retry":   {4, 800 * time.Millisecond},
		"capped":         {5, time.Second},
		"far past limit": {60, time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if d := p.Backoff(tc.n, 0); d != 0 {
				t.Fatalf("jitter 0 gave %v", d)
			}
			if d := p.Backoff(tc.n, 0.5); d != tc.ceiling/2 {
				t.Fatalf("jitter 0.5 gave %v, want %v", d, tc.ceiling/2)
			}
		})
	}
}

func TestRetryStopsOnContext(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException"}
	ctx, cancel := context.WithCancel(context.Background())
	p := RetryPolicy{MaxAttempts: 100, BaseDelay: time.Hour, MaxDelay: time.Hour}
	done, attempted := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		n, err := retry(ctx, nil, p, func(int) error { close(attempted); return throttled })
		if n != 1 || !errors.Is(err, throttled) {
			t.Errorf("retry returned %d, %v", n, err)
		}
	}()
	<-attempted // the first attempt failed; retry now waits an hour unless cancelled
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("retry kept waiting after the context was cancelled")
	}
	// A terminal error is not retried.
	n, _ := retry(context.Background(), nil, p, func(int) error { return &smithy.GenericAPIError{Code: "AccessDeniedException"} })
	if n != 1 {
		t.Fatalf("terminal error attempted %d times", n)
	}
}
