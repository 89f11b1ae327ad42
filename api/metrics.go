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

	authzDenied    *prometheus.CounterVec
	replaysRefused prometheus.Counter
	rateLimited    *prometheus.CounterVec
	historyWrites  *prometheus.CounterVec
	keyReloads     *prometheus.CounterVec
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
			Help: "Requests rejected with 401, by reason (missing, unknown_key, expired, timestamp, body_mismatch, signature, algorithm, request_id, v1_mutation).",
		}, []string{"reason"}),
		authzDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_api_authorization_denials_total",
			Help: "Authenticated requests refused with 403 by the key's scope, by reason (tenant, all_tenants, read_only).",
		}, []string{"reason"}),
		replaysRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logrouter_api_replays_refused_total",
			Help: "Mutating requests refused with 409 because their request id was already used.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_api_rate_limited_total",
			Help: "Requests refused with 429, by limit (auth_failures: per client address; aws_calls: per tenant).",
		}, []string{"limit"}),
		historyWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_api_history_writes_total",
			Help: "Changes recorded in the change history (in the same transaction as the change), by operation.",
		}, []string{"operation"}),
		keyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_api_key_reloads_total",
			Help: "Reloads of the API keys file, by result (ok; refused: the new file was invalid and the old keys were kept).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.authFail, m.authzDenied, m.replaysRefused, m.rateLimited, m.historyWrites, m.keyReloads)
	}
	return m
}

// KeyReloaded counts a reload of the keys file (for KeyRing.OnReload).
func (s *Server) KeyReloaded(err error) {
	if err != nil {
		s.metrics.keyReloads.WithLabelValues("refused").Inc()
		return
	}
	s.metrics.keyReloads.WithLabelValues("ok").Inc()
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
	case errors.Is(err, errKeyExpired):
		reason = "expired"
	case errors.Is(err, ErrBadAlgorithm):
		reason = "algorithm"
	case errors.Is(err, ErrBadRequestID):
		reason = "request_id"
	case errors.Is(err, ErrV1Mutation):
		reason = "v1_mutation"
	}
	m.authFail.WithLabelValues(reason).Inc()
}
