package credentials

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Defaults applied by New when an Options field is zero.
const (
	DefaultSessionDuration = time.Hour
	DefaultMaxEntries      = 10_000
	DefaultExpiryWindow    = 5 * time.Minute
	DefaultNegativeTTL     = 30 * time.Second
)

// AWS limits on AssumeRole.
const (
	minSessionDuration = 15 * time.Minute
	maxSessionDuration = 12 * time.Hour
	// maxChainedDuration is the longest session AWS grants when role credentials assume another role.
	maxChainedDuration = time.Hour
)

// Options configures a Manager.
type Options struct {
	// CentralRoleARN is the central log distribution role, assumed with the base credentials. Empty means
	// the base credentials already are the central identity (e.g. the execution role is the central role):
	// S3 clients then use them directly and customer roles are assumed with them.
	CentralRoleARN string
	// ExternalID is the ExternalId sent when assuming a customer role whose config sets none. Empty means the
	// central account id, discovered once with GetCallerIdentity as the central identity.
	ExternalID string
	// SessionDuration is the requested lifetime of assumed-role sessions (default 1h, AWS allows 15m–12h).
	// The customer hop is role chaining, which AWS caps at 1h, so it never requests more than that.
	SessionDuration time.Duration
	// MaxEntries bounds the number of customer credential providers (each with its clients) kept; the least
	// recently used is evicted beyond it (default 10,000).
	MaxEntries int
	// S3UsePathStyle makes S3 clients use path-style addressing (needed by most emulators).
	S3UsePathStyle bool
	// Metrics receives the package's counters; nil disables them.
	Metrics *Metrics

	// ExpiryWindow is how long before expiry credentials are refreshed (default 5m). Refreshes are spread
	// over the last half of the window so that providers created together do not refresh together.
	ExpiryWindow time.Duration
	// NegativeTTL is how long a misconfiguration failure of a hop (AccessDenied and other non-transient
	// errors) is returned from memory before STS is asked again (default 30s). Transient failures are never
	// remembered.
	NegativeTTL time.Duration
	// Now returns the current time for NegativeTTL (default time.Now).
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.SessionDuration == 0 {
		o.SessionDuration = DefaultSessionDuration
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.ExpiryWindow == 0 {
		o.ExpiryWindow = DefaultExpiryWindow
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = DefaultNegativeTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports every invalid field of o (after defaults are applied by New; zero values are valid).
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	if o.CentralRoleARN != "" {
		if _, _, err := parseRoleARN(o.CentralRoleARN); err != nil {
			errs = append(errs, fmt.Errorf("central role ARN: %w", err))
		}
	}
	if o.ExternalID != "" {
		if err := validateExternalID(o.ExternalID); err != nil {
			errs = append(errs, err)
		}
	}
	if o.SessionDuration < minSessionDuration || o.SessionDuration > maxSessionDuration {
		errs = append(errs, fmt.Errorf("session duration %v is outside AWS's range %v–%v",
			o.SessionDuration, minSessionDuration, maxSessionDuration))
	}
	if o.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("max entries %d is negative", o.MaxEntries))
	}
	if o.ExpiryWindow < 0 || o.ExpiryWindow > minSessionDuration/2 {
		errs = append(errs, fmt.Errorf("expiry window %v is outside 0–%v", o.ExpiryWindow, minSessionDuration/2))
	}
	if o.NegativeTTL < 0 {
		errs = append(errs, fmt.Errorf("negative TTL %v is negative", o.NegativeTTL))
	}
	return errors.Join(errs...)
}

var (
	// roleARNPattern matches an IAM role ARN: partition, 12-digit account, role path and name.
	roleARNPattern    = regexp.MustCompile(`^arn:(aws[a-z-]{0,20}):iam::(\d{12}):role/[\w+=,.@/-]{1,512}$`)
	externalIDPattern = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	accountPattern    = regexp.MustCompile(`^\d{12}$`)
	regionPattern     = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]{1,16}){1,4}$`)
)

// parseRoleARN validates arn and returns its partition and account id.
func parseRoleARN(arn string) (partition, account string, err error) {
	m := roleARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return "", "", fmt.Errorf("%q is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME)", truncate(arn, 200))
	}
	return m[1], m[2], nil
}

func validateExternalID(id string) error {
	if len(id) < 2 || len(id) > 1224 || !externalIDPattern.MatchString(id) {
		// The value itself is not repeated: a per-customer external id is a shared secret of sorts.
		return fmt.Errorf("external id must be 2–1224 characters of [A-Za-z0-9_+=,.@:/-] (got %d characters)", len(id))
	}
	return nil
}

func validateRegion(region string) error {
	if !regionPattern.MatchString(region) {
		return fmt.Errorf("%q is not an AWS region name", truncate(region, 64))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
