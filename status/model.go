package status

import (
	"maps"
	"slices"
	"time"

	"github.com/logrouter/logrouter/tenant"
)

// Health is a destination's derived delivery health.
type Health string

// Health values.
const (
	// HealthHealthy: the last delivery succeeded.
	HealthHealthy Health = "healthy"
	// HealthFailing: the last delivery failed (since FailingSince, with the last failure's category).
	HealthFailing Health = "failing"
	// HealthIdle: nothing was delivered or attempted for the idle threshold.
	HealthIdle Health = "idle"
	// HealthUnknown: no delivery was ever recorded.
	HealthUnknown Health = "unknown"
)

// DefaultIdleAfter is the idle threshold when none is configured.
const DefaultIdleAfter = 24 * time.Hour

// Success is a successful delivery.
type Success struct {
	At  time.Time `json:"at"`
	Key string    `json:"object_key" doc:"Source object key."`
}

// Failure is a failed delivery (or, as a warning, a delivery with rejected events).
type Failure struct {
	At       time.Time `json:"at"`
	Key      string    `json:"object_key" doc:"Source object key."`
	Category Category  `json:"category" doc:"Failure category (stable identifier)."`
	Side     string    `json:"side" enum:"customer,platform" doc:"Who has to act: the customer or the platform."`
	Reason   string    `json:"reason,omitempty" doc:"The processor's outcome reason."`
	Message  string    `json:"message" doc:"The error, without credentials or ExternalIds."`
	Hint     string    `json:"hint" doc:"What to fix."`
}

// Record is the stored delivery status of one tenant's destination type, as the API returns it.
type Record struct {
	TenantID string      `json:"tenant_id"`
	Type     tenant.Type `json:"type"`
	Health   Health      `json:"health" enum:"healthy,failing,idle,unknown"`
	// FailingSince is the first failure of the current run of failures (when failing).
	FailingSince        *time.Time `json:"failing_since,omitempty"`
	ConsecutiveFailures int64      `json:"consecutive_failures"`
	LastSuccess         *Success   `json:"last_success,omitempty"`
	LastFailure         *Failure   `json:"last_failure,omitempty"`
	LastWarning         *Failure   `json:"last_warning,omitempty" doc:"Last delivery that succeeded with rejected events."`
	// Last24h are the counters of the current hour and the 23 before it.
	Last24h   Counters  `json:"last_24h" doc:"deliveries_ok, deliveries_failed, events_delivered, bytes_delivered over the last 24 hours (hourly buckets)."`
	Total     Counters  `json:"total" doc:"deliveries_ok and deliveries_failed since the status was first recorded."`
	UpdatedAt time.Time `json:"updated_at"`
}

// DeriveHealth sets Health from the last outcomes: unknown without any, idle when the latest is older than
// idleAfter, else failing when the last failure is newer than the last success, else healthy.
func (r *Record) DeriveHealth(now time.Time, idleAfter time.Duration) {
	var last time.Time
	if r.LastSuccess != nil {
		last = r.LastSuccess.At
	}
	failing := false
	if r.LastFailure != nil && (r.LastSuccess == nil || r.LastFailure.At.After(r.LastSuccess.At)) {
		failing, last = true, r.LastFailure.At
	}
	switch {
	case r.LastSuccess == nil && r.LastFailure == nil:
		r.Health = HealthUnknown
	case idleAfter > 0 && now.Sub(last) > idleAfter:
		r.Health = HealthIdle
	case failing:
		r.Health = HealthFailing
	default:
		r.Health = HealthHealthy
	}
	if !failing {
		r.FailingSince = nil
	}
}

// Counters are named counters (see the Counter* names).
type Counters map[string]int64

// Usage and status counter names. Dropped and rejected events are counted by reason.
const (
	CounterObjects               = "objects"           // delivery attempts (object × destination), retries included
	CounterObjectsDelivered      = "objects_delivered" // attempts that completed
	CounterDeliveriesOK          = "deliveries_ok"
	CounterDeliveriesFailed      = "deliveries_failed"
	CounterEventsIn              = "events_in"        // events decoded from the objects (every attempt)
	CounterEventsDelivered       = "events_delivered" // input events CloudWatch kept (a split message counts once)
	CounterBytesRead             = "bytes_read"
	CounterBytesReadUncompressed = "bytes_read_uncompressed"
	CounterBytesDelivered        = "bytes_delivered" // CloudWatch: Σ(message bytes + 26) of accepted requests; S3: bytes copied
	CounterPutLogEventsRequests  = "put_log_events_requests"
	CounterS3Copies              = "s3_copies"
	CounterS3CopiedBytes         = "s3_copied_bytes"
	CounterDroppedEmpty          = "dropped_empty"
	CounterDroppedOutOfWindow    = "dropped_out_of_window"
	CounterDroppedOversized      = "dropped_oversized_lines"
	CounterRejectedTooOld        = "rejected_too_old"
	CounterRejectedTooNew        = "rejected_too_new"
	CounterRejectedExpired       = "rejected_expired"
	CounterClamped               = "clamped"
)

// UsageCounters lists the usage counters in their export (CSV) order.
var UsageCounters = []string{
	CounterObjects, CounterObjectsDelivered, CounterDeliveriesFailed, CounterEventsIn, CounterEventsDelivered,
	CounterDroppedEmpty, CounterDroppedOutOfWindow, CounterDroppedOversized, CounterRejectedTooOld,
	CounterRejectedTooNew, CounterRejectedExpired, CounterClamped, CounterBytesRead, CounterBytesReadUncompressed,
	CounterBytesDelivered, CounterPutLogEventsRequests, CounterS3Copies, CounterS3CopiedBytes,
}

// hourCounters are the counters kept per hour in the status item (for the last 24 h).
var hourCounters = []string{CounterDeliveriesOK, CounterDeliveriesFailed, CounterEventsDelivered, CounterBytesDelivered}

func (c Counters) add(o Counters) {
	for k, v := range o {
		c[k] += v
	}
}

// UsageRow is one tenant's usage of one destination type on one UTC day.
type UsageRow struct {
	TenantID string      `json:"tenant_id"`
	Type     tenant.Type `json:"type"`
	Date     string      `json:"date" doc:"UTC day, YYYY-MM-DD."`
	Counters Counters    `json:"counters"`
}

// Get returns a counter (0 when absent).
func (r UsageRow) Get(name string) int64 { return r.Counters[name] }

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
