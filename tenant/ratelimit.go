package tenant

import (
	"math"
	"time"
)

// RateLimit bounds one tenant's delivery rate within one processor process (the fairshare package enforces
// it): objects of the tenant start only while its events and bytes delivered over time stay within
// rate × time plus a burst of rate × BurstSeconds. With N processor replicas on one queue the fleet may
// deliver up to N times the limit; set it to the fleet's target divided by the replicas. Zero fields are
// unlimited.
type RateLimit struct {
	EventsPerSecond float64 `json:"events_per_second,omitempty" dynamodbav:"events_per_second,omitempty" minimum:"0" doc:"Log events per second (0 or absent: unlimited)."`
	BytesPerSecond  float64 `json:"bytes_per_second,omitempty" dynamodbav:"bytes_per_second,omitempty" minimum:"0" doc:"Uncompressed object bytes per second (0 or absent: unlimited)."`
	BurstSeconds    float64 `json:"burst_seconds,omitempty" dynamodbav:"burst_seconds,omitempty" minimum:"0" doc:"How many seconds of the rates may be used at once after a quiet period (default 10, at most 3600)."`
}

// Rate-limit bounds accepted by Validate.
const (
	DefaultBurstSeconds = 10
	MaxBurstSeconds     = 3600
	maxRate             = 1e12
)

// Set reports whether any rate is limited.
func (l RateLimit) Set() bool { return l.EventsPerSecond > 0 || l.BytesPerSecond > 0 }

// Burst is the burst window (BurstSeconds, default 10 s).
func (l RateLimit) Burst() time.Duration {
	if l.BurstSeconds <= 0 {
		return DefaultBurstSeconds * time.Second
	}
	return time.Duration(l.BurstSeconds * float64(time.Second))
}

// EffectiveRateLimit is a tenant's limit from its configs: for each field the smallest value set on an
// enabled config (zero when none sets it).
func EffectiveRateLimit(configs []Config) RateLimit {
	var out RateLimit
	least := func(dst *float64, v float64) {
		if v > 0 && (*dst == 0 || v < *dst) {
			*dst = v
		}
	}
	for _, c := range configs {
		if c.RateLimit == nil || !c.IsEnabled() {
			continue
		}
		least(&out.EventsPerSecond, c.RateLimit.EventsPerSecond)
		least(&out.BytesPerSecond, c.RateLimit.BytesPerSecond)
		least(&out.BurstSeconds, c.RateLimit.BurstSeconds)
	}
	return out
}

func (l RateLimit) validate(fe fieldErrors) {
	for _, f := range []struct {
		name  string
		v     float64
		limit float64
	}{
		{"rate_limit.events_per_second", l.EventsPerSecond, maxRate},
		{"rate_limit.bytes_per_second", l.BytesPerSecond, maxRate},
		{"rate_limit.burst_seconds", l.BurstSeconds, MaxBurstSeconds},
	} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > f.limit {
			fe.add(f.name, "must be between 0 and %g", f.limit)
		}
	}
	if !l.Set() && l.BurstSeconds > 0 {
		fe.add("rate_limit", "burst_seconds needs events_per_second or bytes_per_second")
	}
}
