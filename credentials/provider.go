package credentials

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// retrieveTimeout bounds one hop's retrieval including the SDK's retries. aws.CredentialsCache shares one
// retrieval among concurrent callers and detaches it from their contexts, so without a bound a hung STS
// connection would hold every caller of that provider.
const retrieveTimeout = time.Minute

// hopProvider performs one hop (through retrieve, an stscreds.AssumeRoleProvider) and turns its failures
// into typed errors, counting calls and failures. A misconfiguration failure is remembered for the negative
// TTL so that a broken tenant does not spend the account's STS quota on every delivery attempt.
// It is always used behind an aws.CredentialsCache, which caches successes and coalesces concurrent calls.
type hopProvider struct {
	hop      Hop
	roleARN  string
	tenantID string
	retrieve func(context.Context) (aws.Credentials, error)
	metrics  *Metrics
	ttl      time.Duration
	now      func() time.Time

	mu        sync.Mutex
	failErr   error
	failUntil time.Time
}

func (p *hopProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	if p.failErr != nil && p.now().Before(p.failUntil) {
		err := p.failErr
		p.mu.Unlock()
		p.metrics.suppress(p.hop)
		return aws.Credentials{}, err
	}
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, retrieveTimeout)
	defer cancel()
	p.metrics.assumeCall(p.hop)
	creds, err := p.retrieve(ctx)
	if err == nil {
		p.mu.Lock()
		p.failErr = nil
		p.mu.Unlock()
		return creds, nil
	}
	code, own, typed := classifyHop(p.hop, p.roleARN, p.tenantID, err)
	if !own {
		// The hop below failed; it counted and remembered its own failure.
		return aws.Credentials{}, typed
	}
	p.metrics.assumeFailure(p.hop, code)
	if !IsTransient(typed) && p.ttl > 0 {
		p.mu.Lock()
		p.failErr, p.failUntil = typed, p.now().Add(p.ttl)
		p.mu.Unlock()
	}
	return aws.Credentials{}, typed
}

func newCredentialsCache(p aws.CredentialsProvider, window time.Duration) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = window
		o.ExpiryWindowJitterFrac = 0.5
	})
}
