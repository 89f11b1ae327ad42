package tenant

import (
	"container/list"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// CacheOptions tune a Cache. Zero values take the defaults.
type CacheOptions struct {
	TTL         time.Duration // how long a tenant's configurations are reused (default 60s)
	NegativeTTL time.Duration // how long "no configurations" is reused (default 30s)
	MaxTenants  int           // bound on cached tenants, least recently used evicted first (default 10,000)
	// FetchTimeout bounds one load from the store (default 30s); it is independent of callers' contexts
	// because a load is shared by every concurrent caller.
	FetchTimeout time.Duration
	Now          func() time.Time // default time.Now
	Logger       *slog.Logger     // default slog.Default()
	Metrics      *CacheMetrics    // optional
}

// CacheMetrics are the cache's Prometheus metrics (logrouter_config_cache_*).
type CacheMetrics struct {
	lookups   *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	loads     prometheus.Counter
	evictions prometheus.Counter
	entries   prometheus.Gauge
}

// NewCacheMetrics creates the cache metrics and registers them with reg (nil = not registered).
func NewCacheMetrics(reg prometheus.Registerer) *CacheMetrics {
	m := &CacheMetrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_config_cache_lookups_total",
			Help: "Tenant configuration lookups by result: hit, negative_hit (cached absence), miss, error.",
		}, []string{"result"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_config_cache_skipped_items_total",
			Help: "Stored configurations not used by the processor, by reason: disabled, expired, invalid, malformed.",
		}, []string{"reason"}),
		loads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logrouter_config_cache_loads_total",
			Help: "Loads of a tenant's configurations from DynamoDB (concurrent lookups share one load).",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logrouter_config_cache_evictions_total",
			Help: "Tenants evicted to keep the cache within its size bound.",
		}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logrouter_config_cache_entries",
			Help: "Tenants currently cached.",
		}),
	}
	for _, r := range []string{"hit", "negative_hit", "miss", "error"} {
		m.lookups.WithLabelValues(r)
	}
	for _, r := range []string{"disabled", "expired", "invalid", "malformed"} {
		m.skipped.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.lookups, m.skipped, m.loads, m.evictions, m.entries)
	}
	return m
}

// Cache is the processor's read-through view of the store: for a tenant it returns the enabled, unexpired,
// valid configurations only. It is safe for concurrent use.
type Cache struct {
	store *Store
	opts  CacheOptions
	sf    singleflight.Group

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry
	lru     *list.List               // front = most recently used
}

type cacheEntry struct {
	tenantID string
	configs  []Config // enabled and valid at load time; ttl re-checked on every lookup
	expires  time.Time
}

// NewCache returns a cache reading through store.
func NewCache(store *Store, opts CacheOptions) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = 60 * time.Second
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 30 * time.Second
	}
	if opts.MaxTenants <= 0 {
		opts.MaxTenants = 10_000
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Cache{store: store, opts: opts, entries: map[string]*list.Element{}, lru: list.New()}
}

// Lookup returns tenantID's usable configurations (possibly none). Results are cached for TTL (NegativeTTL
// when there are none); a configuration whose ttl passes while cached disappears at that moment. Concurrent
// lookups of one tenant share a single load. Store errors are returned and not cached. The returned slice is
// the caller's.
func (c *Cache) Lookup(ctx context.Context, tenantID string) ([]Config, error) {
	now := c.opts.Now()
	if configs, negative, ok := c.get(tenantID, now); ok {
		if negative {
			c.count("negative_hit")
		} else {
			c.count("hit")
		}
		return visible(configs, now), nil
	}
	ch := c.sf.DoChan(tenantID, func() (any, error) {
		// Another caller's load may have finished between our miss and joining this flight.
		if configs, _, ok := c.get(tenantID, c.opts.Now()); ok {
			return configs, nil
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
		defer cancel()
		return c.load(lctx, tenantID)
	})
	select {
	case <-ctx.Done():
		c.count("error")
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			c.count("error")
			return nil, r.Err
		}
		c.count("miss")
		return visible(r.Val.([]Config), c.opts.Now()), nil
	}
}

// Invalidate drops tenantID from the cache so the next lookup reloads it.
func (c *Cache) Invalidate(tenantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[tenantID]; ok {
		c.lru.Remove(el)
		delete(c.entries, tenantID)
		c.setEntriesGauge()
	}
}

// Len returns the number of cached tenants.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) get(tenantID string, now time.Time) (configs []Config, negative, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[tenantID]
	if !ok {
		return nil, false, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		return nil, false, false
	}
	c.lru.MoveToFront(el)
	return e.configs, len(e.configs) == 0, true
}

// visible returns a fresh copy of the configurations whose ttl has not passed at now.
func visible(configs []Config, now time.Time) []Config {
	out := make([]Config, 0, len(configs))
	for _, cfg := range configs {
		if !cfg.Expired(now.Unix()) {
			out = append(out, cfg)
		}
	}
	return out
}

func (c *Cache) load(ctx context.Context, tenantID string) ([]Config, error) {
	if c.opts.Metrics != nil {
		c.opts.Metrics.loads.Inc()
	}
	all, malformed, err := c.store.ListTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	log := c.opts.Logger
	for _, ie := range malformed {
		c.skip("malformed")
		log.Warn("skipping malformed delivery configuration", "tenant_id", tenantID, "type", ie.Type, "error", ie.Err)
	}
	now := c.opts.Now()
	usable := make([]Config, 0, len(all))
	for _, cfg := range all {
		switch {
		case cfg.Expired(now.Unix()):
			c.skip("expired")
			log.Debug("skipping expired delivery configuration", "tenant_id", tenantID, "type", cfg.Type, "ttl", *cfg.TTL)
			continue
		case !cfg.IsEnabled():
			c.skip("disabled")
			log.Debug("skipping disabled delivery configuration", "tenant_id", tenantID, "type", cfg.Type)
			continue
		}
		if err := cfg.Validate(now); err != nil {
			c.skip("invalid")
			log.Warn("skipping invalid delivery configuration", "tenant_id", tenantID, "type", cfg.Type, "error", err)
			continue
		}
		for _, g := range cfg.UnknownGroups() {
			log.Warn("ignoring unknown application group", "tenant_id", tenantID, "type", cfg.Type, "group", g)
		}
		cfg.Normalize()
		usable = append(usable, cfg)
	}
	ttl := c.opts.TTL
	if len(usable) == 0 {
		ttl = c.opts.NegativeTTL
	}
	c.put(&cacheEntry{tenantID: tenantID, configs: usable, expires: now.Add(ttl)})
	return usable, nil
}

func (c *Cache) put(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[e.tenantID]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.entries[e.tenantID] = c.lru.PushFront(e)
	for len(c.entries) > c.opts.MaxTenants {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).tenantID)
		if c.opts.Metrics != nil {
			c.opts.Metrics.evictions.Inc()
		}
	}
	c.setEntriesGauge()
}

func (c *Cache) setEntriesGauge() {
	if c.opts.Metrics != nil {
		c.opts.Metrics.entries.Set(float64(len(c.entries)))
	}
}

func (c *Cache) count(result string) {
	if c.opts.Metrics != nil {
		c.opts.Metrics.lookups.WithLabelValues(result).Inc()
	}
}

func (c *Cache) skip(reason string) {
	if c.opts.Metrics != nil {
		c.opts.Metrics.skipped.WithLabelValues(reason).Inc()
	}
}
