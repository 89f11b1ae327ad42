package batcher

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the batcher's Prometheus metrics; one value may be shared by every batcher of a process.
// Labels are bounded (outcome/result/operation names only; no tenant or destination labels).
type Metrics struct {
	events        *prometheus.CounterVec // logrouter_batcher_events_total{outcome}
	requests      *prometheus.CounterVec // logrouter_putlogevents_requests_total{result}
	retries       prometheus.Counter     // logrouter_putlogevents_retries_total
	bytes         prometheus.Counter     // logrouter_putlogevents_bytes_total
	fill          prometheus.Histogram   // logrouter_putlogevents_batch_fill_ratio
	duration      prometheus.Histogram   // logrouter_putlogevents_duration_seconds
	inFlight      prometheus.Gauge       // logrouter_batcher_requests_in_flight
	creates       *prometheus.CounterVec // logrouter_batcher_create_calls_total{operation,result}
	acked         prometheus.Counter     // logrouter_batcher_acked_events_total
	deliveryError *prometheus.CounterVec // logrouter_batcher_failures_total{class}

	eventsBy map[string]prometheus.Counter // resolved children of events
}

// NewMetrics creates the metrics and registers them with reg (nil = not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_batcher_events_total",
			Help: "Events by outcome: in, out (accepted), split, dropped_empty, dropped_out_of_window, clamped, rejected_too_old, rejected_too_new, rejected_expired.",
		}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_putlogevents_requests_total",
			Help: "PutLogEvents attempts by result: ok, throttled, server_error, network, not_found, canceled, error.",
		}, []string{"result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logrouter_putlogevents_retries_total",
			Help: "PutLogEvents attempts after the first one of a request.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logrouter_putlogevents_bytes_total",
			Help: "Accepted request size as CloudWatch counts it: Σ(message UTF-8 bytes + 26).",
		}),
		fill: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logrouter_putlogevents_batch_fill_ratio",
			Help:    "Fill of each accepted request relative to its binding limit (bytes or event count).",
			Buckets: []float64{0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 1},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logrouter_putlogevents_duration_seconds",
			Help:    "Duration of one PutLogEvents attempt.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logrouter_batcher_requests_in_flight",
			Help: "PutLogEvents requests being sent or retried.",
		}),
		creates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_batcher_create_calls_total",
			Help: "CreateLogGroup, CreateLogStream and PutRetentionPolicy calls by result (ok, exists, error).",
		}, []string{"operation", "result"}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logrouter_batcher_acked_events_total",
			Help: "Input events acknowledged (accepted, or dropped/rejected by policy) in contiguous order.",
		}),
		deliveryError: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_batcher_failures_total",
			Help: "Batchers that ended with a terminal error, by class.",
		}, []string{"class"}),
	}
	m.eventsBy = map[string]prometheus.Counter{}
	for _, o := range []string{"in", "out", "split", "dropped_empty", "dropped_out_of_window", "clamped",
		"rejected_too_old", "rejected_too_new", "rejected_expired"} {
		m.eventsBy[o] = m.events.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.events, m.requests, m.retries, m.bytes, m.fill, m.duration, m.inFlight, m.creates, m.acked, m.deliveryError)
	}
	return m
}

func (m *Metrics) event(outcome string) prometheus.Counter {
	if c, ok := m.eventsBy[outcome]; ok {
		return c
	}
	return m.events.WithLabelValues(outcome)
}
