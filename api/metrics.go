package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	authFail *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_api_requests_total",
			Help: "API requests by route template, method and HTTP status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logrouter_api_request_duration_seconds",
			Help:    "API request latency by route template and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_api_auth_failures_total",
			Help: "Requests rejected with 401, by reason (missing, unknown_key, timestamp, body_mismatch, signature).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.authFail)
	}
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
	default:
		method = "other"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

func (m *metrics) authFailure(err error) {
	reason := "signature"
	switch {
	case errors.Is(err, ErrMissingSignature):
		reason = "missing"
	case errors.Is(err, ErrUnknownKey):
		reason = "unknown_key"
	case errors.Is(err, ErrStaleTimestamp):
		reason = "timestamp"
	case errors.Is(err, ErrBodyMismatch):
		reason = "body_mismatch"
	}
	m.authFail.WithLabelValues(reason).Inc()
}
