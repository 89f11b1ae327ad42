package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/batcher"
)

// Metrics are the engine's Prometheus collectors. All names start with "logrouter_". A nil *Metrics
// records nothing.
type Metrics struct {
	tenantLabels bool

	MessagesReceived prometheus.Counter
	MessagesDeleted  prometheus.Counter
	MessagesRetried  *prometheus.CounterVec // reason
	MessagesDropped  *prometheus.CounterVec // reason
	DeleteErrors     prometheus.Counter
	SQSRequests      *prometheus.CounterVec // operation: the poller's SQS API calls, failed ones included
	Heartbeats       prometheus.Counter
	HeartbeatErrors  prometheus.Counter

	Objects       *prometheus.CounterVec // outcome, reason
	ObjectBytes   prometheus.Counter     // compressed bytes read from the central bucket
	ObjectBytesUn prometheus.Counter     // uncompressed bytes
	EventsRead    prometheus.Counter
	Malformed     prometheus.Counter // malformed + oversized lines skipped by the parser

	Deliveries   *prometheus.CounterVec // type, outcome, reason
	CopiedBytes  prometheus.Counter
	Latency      *prometheus.HistogramVec // type
	Skipped      *prometheus.CounterVec   // type: destinations already done by an earlier attempt
	Filtered     prometheus.Counter       // (object, config) pairs excluded by the application filter
	ConfigLookup *prometheus.CounterVec   // result: found, empty, error
	BreakerOpen  prometheus.Counter
	BreakerFast  prometheus.Counter
	ProgressErr  *prometheus.CounterVec // op

	InFlightMessages prometheus.Gauge
	InFlightObjects  prometheus.Gauge
	TenantWaits      prometheus.Counter
	Leased           prometheus.Counter

	TenantDeliveries *prometheus.CounterVec // tenant, type, outcome (only with tenant labels)
	TenantEvents     *prometheus.CounterVec // tenant (only with tenant labels)

	// Batcher is shared by every batcher the engine starts (logrouter_batcher_*, logrouter_putlogevents_*:
	// CloudWatch events by outcome, requests, retries, fill ratio).
	Batcher *batcher.Metrics
}

// NewMetrics registers the engine's collectors (and the batcher's, shared by all batchers) with reg.
// tenantLabels adds the per-tenant counters logrouter_tenant_*; leave it off for large fleets.
func NewMetrics(reg prometheus.Registerer, tenantLabels bool) *Metrics {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{tenantLabels: tenantLabels}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "logrouter_" + name, Help: help})
		f(c)
		return c
	}
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logrouter_" + name, Help: help}, labels)
		f(c)
		return c
	}
	m.MessagesReceived = counter("messages_received_total", "SQS messages received.")
	m.MessagesDeleted = counter("messages_deleted_total", "SQS messages deleted (delivered or dropped).")
	m.MessagesRetried = vec("messages_retried_total", "SQS messages left for redelivery, by reason.", "reason")
	m.MessagesDropped = vec("messages_dropped_total", "Non-recoverable messages deleted without (full) delivery, by reason.", "reason")
	m.DeleteErrors = counter("message_delete_errors_total", "SQS messages whose deletion failed (they will be redelivered).")
	m.SQSRequests = vec("sqs_requests_total", "SQS API calls made by the poller, by operation (failed ones included): with messages_received_total, the SQS requests per object.", "operation")
	m.Heartbeats = counter("visibility_extensions_total", "ChangeMessageVisibility calls extending in-flight messages.")
	m.HeartbeatErrors = counter("visibility_extension_errors_total", "Failed visibility extensions.")
	m.Objects = vec("objects_total", "Objects processed, by outcome and reason.", "outcome", "reason")
	m.ObjectBytes = counter("object_bytes_read_total", "Bytes read from the central bucket (as stored, usually gzip).")
	m.ObjectBytesUn = counter("object_bytes_decoded_total", "Uncompressed bytes decoded from central-bucket objects.")
	m.EventsRead = counter("events_read_total", "Log events decoded from central-bucket objects.")
	m.Malformed = counter("lines_skipped_total", "Malformed or oversized lines skipped while decoding objects.")
	m.Deliveries = vec("deliveries_total", "Deliveries of an object to one destination, by destination type, outcome and reason.", "type", "outcome", "reason")
	m.CopiedBytes = counter("s3_copied_bytes_total", "Bytes copied to tenant S3 buckets.")
	m.Latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "logrouter_delivery_latency_seconds",
		Help:    "End-to-end latency from the object's LastModified to the end of its delivery to one destination.",
		Buckets: []float64{1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600},
	}, []string{"type"})
	f(m.Latency)
	m.Skipped = vec("deliveries_skipped_total", "Destinations skipped because an earlier attempt already delivered the object.", "type")
	m.Filtered = counter("deliveries_filtered_total", "Destination configs not applied to an object because their application filter excludes it.")
	m.ConfigLookup = vec("tenant_resolutions_total", "Objects whose tenant configuration was resolved, by result: found, empty (no enabled config), error.", "result")
	m.BreakerOpen = counter("circuit_breaker_opened_total", "Times a per-tenant circuit breaker opened after repeated AccessDenied.")
	m.BreakerFast = counter("circuit_breaker_rejections_total", "Deliveries failed fast because the circuit breaker was open.")
	m.ProgressErr = vec("progress_errors_total", "Errors reading or writing delivery progress, by operation.", "op")
	m.InFlightMessages = prometheus.NewGauge(prometheus.GaugeOpts{Name: "logrouter_inflight_messages", Help: "Messages being processed."})
	f(m.InFlightMessages)
	m.InFlightObjects = prometheus.NewGauge(prometheus.GaugeOpts{Name: "logrouter_inflight_objects", Help: "Objects being delivered."})
	f(m.InFlightObjects)
	m.Leased = counter("deliveries_leased_elsewhere_total", "Deliveries not started because another process held their lease (the same object received twice).")
	m.TenantWaits = counter("tenant_limit_waits_total", "Objects handed back to the queue because their tenant had its share of the workers or was over its rate limit.")
	if tenantLabels {
		m.TenantDeliveries = vec("tenant_deliveries_total", "Deliveries per tenant, by destination type and outcome.", "tenant", "type", "outcome")
		m.TenantEvents = vec("tenant_events_delivered_total", "CloudWatch events delivered per tenant.", "tenant")
	}
	m.Batcher = batcher.NewMetrics(reg)
	return m
}
