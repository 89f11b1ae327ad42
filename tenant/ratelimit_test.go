package tenant

import (
	"math"
	"testing"
	"time"
)

func TestRateLimitValidation(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := map[string]struct {
		limit *RateLimit
		bad   string // the field reported, "" when valid
	}{
		"absent":            {nil, ""},
		"events only":       {&RateLimit{EventsPerSecond: 500}, ""},
		"bytes with burst":  {&RateLimit{BytesPerSecond: 1 << 20, BurstSeconds: 60}, ""},
		"negative rate":     {&RateLimit{EventsPerSecond: -1}, "rate_limit.events_per_second"},
		"not a number":      {&RateLimit{BytesPerSecond: math.NaN()}, "rate_limit.bytes_per_second"},
		"burst too long":    {&RateLimit{EventsPerSecond: 1, BurstSeconds: 3601}, "rate_limit.burst_seconds"},
		"burst without any": {&RateLimit{BurstSeconds: 5}, "rate_limit"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Config{TenantID: "acme", Type: TypeS3, BucketName: "acme-logs", RateLimit: tc.limit}
			err := c.Validate(now)
			if tc.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ve, ok := err.(*ValidationError)
			if !ok || ve.Fields[tc.bad] == "" {
				t.Fatalf("want an error on %s, got %v", tc.bad, err)
			}
		})
	}
}

func TestEffectiveRateLimit(t *testing.T) {
	off := false
	got := EffectiveRateLimit([]Config{
		{RateLimit: &RateLimit{EventsPerSecond: 100, BurstSeconds: 30}},
		{RateLimit: &RateLimit{EventsPerSecond: 50, BytesPerSecond: 1000}},
		{RateLimit: &RateLimit{EventsPerSecond: 1}, Enabled: &off}, // disabled: ignored
		{},
	})
	want := RateLimit{EventsPerSecond: 50, BytesPerSecond: 1000, BurstSeconds: 30}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if (RateLimit{}).Set() || (RateLimit{}).Burst() != 10*time.Second {
		t.Fatal("zero limit: unset, 10 s burst")
	}
}
