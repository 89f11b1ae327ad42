package credentials

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Cache label values of the cache metrics.
const (
	cacheProvider = "provider" // customer credential providers, per (role ARN, external id, tenant)
	cacheClient   = "client"   // service clients, per (credentials, region)
)

// Metrics holds the package's counters. Labels are bounded: hop (central, customer), STS error code, cache.
type Metrics struct {
	assumeCalls    *prometheus.CounterVec
	assumeFailures *prometheus.CounterVec
	suppressed     *prometheus.CounterVec
	cacheHits      *prometheus.CounterVec
	cacheMisses    *prometheus.CounterVec
	cacheEvictions *prometheus.CounterVec
}

// NewMetrics creates the counters and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		assumeCalls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_credentials_assume_role_calls_total",
			Help: "Role assumptions attempted (STS AssumeRole, after the SDK's own retries), by hop.",
		}, []string{"hop"}),
		assumeFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_credentials_assume_role_failures_total",
			Help: "Failed role assumptions, by hop and STS error code (or network, timeout, canceled, other).",
		}, []string{"hop", "code"}),
		suppressed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_credentials_assume_role_suppressed_total",
			Help: "Credential retrievals answered with a remembered misconfiguration failure instead of calling STS, by hop.",
		}, []string{"hop"}),
		cacheHits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_credentials_cache_hits_total",
			Help: "Lookups that found a cached customer credential provider or client, by cache.",
		}, []string{"cache"}),
		cacheMisses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_credentials_cache_misses_total",
			Help: "Lookups that created a customer credential provider or client, by cache.",
		}, []string{"cache"}),
		cacheEvictions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_credentials_cache_evictions_total",
			Help: "Least recently used entries evicted, by cache.",
		}, []string{"cache"}),
	}
}

func (m *Metrics) assumeCall(hop Hop) {
	if m != nil {
		m.assumeCalls.WithLabelValues(string(hop)).Inc()
	}
}

func (m *Metrics) assumeFailure(hop Hop, code string) {
	if m != nil {
		m.assumeFailures.WithLabelValues(string(hop), code).Inc()
	}
}

func (m *Metrics) suppress(hop Hop) {
	if m != nil {
		m.suppressed.WithLabelValues(string(hop)).Inc()
	}
}

func (m *Metrics) lookup(cache string, hit bool, evicted int) {
	if m == nil {
		return
	}
	if hit {
		m.cacheHits.WithLabelValues(cache).Inc()
	} else {
		m.cacheMisses.WithLabelValues(cache).Inc()
	}
	if evicted > 0 {
		m.cacheEvictions.WithLabelValues(cache).Add(float64(evicted))
	}
}
