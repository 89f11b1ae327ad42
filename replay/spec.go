package replay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/tenant"
)

// Spec says which objects a replay covers and how they are delivered.
type Spec struct {
	// ID names the replay (engine.ValidateReplayID); NewID makes one. A continued replay keeps its id, so
	// that a forced one stays idempotent across the continuation.
	ID     string
	Bucket string // the central bucket (must be a configured source bucket)
	Tenant string
	// Clusters and Applications restrict the listing (empty: all).
	Clusters     []string
	Applications []string
	// Since and Until bound the objects' LastModified: Since <= t < Until (zero: unbounded).
	Since, Until time.Time
	// Types are the destination types replayed (empty: all).
	Types []tenant.Type
	// Clamp moves CloudWatch events older than 14 days to the window's edge instead of dropping them.
	Clamp bool
	// Force re-delivers destinations that already have the object (duplicates).
	Force bool
	// StartAfter continues a replay after this key (as printed by an interrupted one).
	StartAfter string
}

// NewID returns a fresh replay id: "r" + UTC time to the second + 6 random hex digits.
func NewID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "r" + now.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

// Validate reports every problem of the spec; sources are the allowed central buckets.
func (s *Spec) Validate(sources []string) error {
	var errs []error
	if err := engine.ValidateReplayID(s.ID); err != nil {
		errs = append(errs, err)
	}
	if err := tenant.ValidateTenantID(s.Tenant); err != nil {
		errs = append(errs, fmt.Errorf("tenant %q %v", s.Tenant, err))
	}
	if s.Bucket == "" {
		errs = append(errs, errors.New("no central bucket"))
	} else if !slices.Contains(sources, s.Bucket) {
		errs = append(errs, fmt.Errorf("bucket %q is not one of the configured source buckets %v", s.Bucket, sources))
	}
	for _, c := range s.Clusters {
		if err := segment(c); err != nil {
			errs = append(errs, fmt.Errorf("cluster %q %v", c, err))
		}
	}
	for _, a := range s.Applications {
		if err := segment(a); err != nil {
			errs = append(errs, fmt.Errorf("application %q %v", a, err))
		}
	}
	for _, t := range s.Types {
		if !t.Valid() {
			errs = append(errs, fmt.Errorf("unknown destination type %q (want cloudwatch or s3)", t))
		}
	}
	if !s.Since.IsZero() && !s.Until.IsZero() && !s.Since.Before(s.Until) {
		errs = append(errs, fmt.Errorf("since %s is not before until %s", s.Since.Format(time.RFC3339), s.Until.Format(time.RFC3339)))
	}
	if s.StartAfter != "" {
		if k, err := engine.ParseObjectKey(s.StartAfter); err != nil || k.TenantID != s.Tenant {
			errs = append(errs, fmt.Errorf("start-after %q is not a key of tenant %q", s.StartAfter, s.Tenant))
		}
	}
	return errors.Join(errs...)
}

func segment(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return errors.New("is not a key segment")
	}
	return nil
}

// types are the replayed types, all when none were named.
func (s *Spec) types() []tenant.Type {
	if len(s.Types) == 0 {
		return slices.Clone(tenant.Types)
	}
	return s.Types
}

// Marker is the engine marker of this replay.
func (s *Spec) Marker() engine.Replay {
	p := batcher.PolicyDrop
	if s.Clamp {
		p = batcher.PolicyClamp
	}
	return engine.Replay{V: engine.ReplayVersion, ID: s.ID, Types: s.types(), OutOfWindow: p.String(), Force: s.Force}
}

// ParseTime reads an RFC 3339 time, or a duration before now ("48h", "90m", "7d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n >= 0 && n <= 3660 {
			return now.Add(-time.Duration(n) * 24 * time.Hour).UTC(), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("time %q is neither RFC 3339 (2026-12-01T10:00:00Z) nor a duration before now (48h, 7d)", s)
	}
	return now.Add(-d).UTC(), nil
}
