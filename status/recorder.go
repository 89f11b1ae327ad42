package status

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/tenant"
)

// DefaultFlushInterval and DefaultUsageRetention are the recorder's defaults.
const (
	DefaultFlushInterval  = 30 * time.Second
	DefaultUsageRetention = 400 * 24 * time.Hour
)

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	// FlushInterval is how often Run writes what was recorded (default 30s).
	FlushInterval time.Duration
	// UsageRetention is how long usage items are kept (their expires_at; default 400 days).
	UsageRetention time.Duration
	// Registerer, when set, receives the recorder's metrics; TenantHealth adds the per-tenant gauge
	// logrouter_tenant_delivery_failing (behind the tenant-metrics flag: its labels grow with tenants).
	Registerer   prometheus.Registerer
	TenantHealth bool
	Logger       *slog.Logger
	Now          func() time.Time
}

// Validate reports bad values.
func (o RecorderOptions) Validate() error {
	if o.FlushInterval < time.Second {
		return errors.New("status flush interval must be at least 1s")
	}
	if o.UsageRetention < 24*time.Hour {
		return errors.New("usage retention must be at least one day")
	}
	return nil
}

type statusKey struct {
	tenant string
	typ    tenant.Type
}

type usageKey struct {
	statusKey
	date string
}

// batch is what one process recorded for one tenant × type since its last flush.
type batch struct {
	ok, failed  int64
	success     *Success
	failure     *Failure // latest failure; a circuit-open one keeps the details of the failure before it
	warning     *Failure
	streak      int64 // failures after success (all failures when there is none)
	streakFirst time.Time
	streakLast  time.Time
	hours       map[string]Counters // by hour "2006010215"
}

func newer[T any](at func(*T) time.Time, a, b *T) *T {
	if a == nil || (b != nil && at(b).After(at(a))) {
		return b
	}
	return a
}

func successAt(s *Success) time.Time { return s.At }
func failureAt(f *Failure) time.Time { return f.At }

// absorb adds an older batch o (one whose write failed) back into b, which was recorded after it.
func (b *batch) absorb(o *batch) {
	b.ok += o.ok
	b.failed += o.failed
	if b.success == nil {
		// b's failures (if any) follow o's events: o's streak continues into b's.
		if o.streak > 0 {
			b.streak += o.streak
			b.streakFirst = o.streakFirst
			if b.streakLast.IsZero() {
				b.streakLast = o.streakLast
			}
		}
		b.success = o.success
	}
	b.failure = newer(failureAt, o.failure, b.failure)
	b.warning = newer(failureAt, o.warning, b.warning)
	for h, c := range o.hours {
		if b.hours[h] == nil {
			b.hours[h] = Counters{}
		}
		b.hours[h].add(c)
	}
}

// Recorder aggregates delivery outcomes in memory and writes them to the status table: per flush at most one
// status write per tenant × destination type and one usage write per tenant × destination type × UTC day
// touched, whatever the object rate (a status write is retried when another process updated the same item
// concurrently). It implements engine.StatusRecorder. Safe for concurrent use.
type Recorder struct {
	table *Table
	o     RecorderOptions
	log   *slog.Logger

	mu     sync.Mutex
	status map[statusKey]*batch
	usage  map[usageKey]Counters

	flushMu sync.Mutex // one flush at a time

	flushes *prometheus.CounterVec
	writes  *prometheus.CounterVec
	failing *prometheus.GaugeVec
}

var _ engine.StatusRecorder = (*Recorder)(nil)

// NewRecorder returns a Recorder writing to table.
func NewRecorder(table *Table, o RecorderOptions) (*Recorder, error) {
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.UsageRetention == 0 {
		o.UsageRetention = DefaultUsageRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	r := &Recorder{table: table, o: o, log: o.Logger, status: map[statusKey]*batch{}, usage: map[usageKey]Counters{}}
	if o.Registerer != nil {
		r.flushes = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_status_flushes_total", Help: "Status and usage flushes by result (ok, error).",
		}, []string{"result"})
		r.writes = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logrouter_status_writes_total", Help: "Status table writes by item kind (status, usage) and result (ok, conflict, error).",
		}, []string{"kind", "result"})
		o.Registerer.MustRegister(r.flushes, r.writes)
		if o.TenantHealth {
			r.failing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "logrouter_tenant_delivery_failing",
				Help: "1 when this process's last delivery to the tenant's destination type failed, 0 when it succeeded.",
			}, []string{"tenant", "type"})
			o.Registerer.MustRegister(r.failing)
		}
	}
	return r, nil
}

func (r *Recorder) batchFor(k statusKey) *batch {
	b := r.status[k]
	if b == nil {
		b = &batch{hours: map[string]Counters{}}
		r.status[k] = b
	}
	return b
}

// RecordObject aggregates one object's destination results. Planned (dry-run) results, destinations an
// earlier attempt completed and results without a tenant are ignored; an interrupted delivery (shutdown)
// counts in usage but is neither a success nor a failure.
func (r *Recorder) RecordObject(res engine.ObjectResult) {
	if res.TenantID == "" || len(res.Destinations) == 0 {
		return
	}
	now := r.o.Now().UTC()
	date := now.Format(time.DateOnly)
	hour := now.Format("2006010215")

	// A failure before any destination ran (reading the source object) leaves the destinations' own
	// results empty: it applies to each of them.
	objectLevel := res.Outcome != engine.OutcomeSuccess
	for _, d := range res.Destinations {
		if d.Outcome != engine.OutcomeSuccess {
			objectLevel = false
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range res.Destinations {
		if d.AlreadyDone || d.DryRun {
			continue
		}
		outcome, reason, err := d.Outcome, d.Reason, d.Err
		if objectLevel {
			outcome, reason, err = res.Outcome, res.Reason, res.Err
		}
		k := statusKey{res.TenantID, d.Type}
		uk := usageKey{k, date}
		u := r.usage[uk]
		if u == nil {
			u = Counters{}
			r.usage[uk] = u
		}
		u[CounterObjects]++
		delivered := outcome == engine.OutcomeSuccess
		interrupted := reason == engine.ReasonInterrupted
		if delivered {
			u[CounterObjectsDelivered]++
		} else if !interrupted {
			u[CounterDeliveriesFailed]++
		}
		var rejected, events int64
		switch d.Type {
		case tenant.TypeCloudWatch:
			// d.Events are the input events this attempt had acknowledged, which includes those dropped by
			// policy and those CloudWatch rejected: delivered are the others.
			events = d.Events
			if st := d.Stats; st != nil {
				u[CounterDroppedEmpty] += st.DroppedEmpty
				u[CounterDroppedOutOfWindow] += st.DroppedOutOfWindow
				u[CounterRejectedTooOld] += st.RejectedTooOld
				u[CounterRejectedTooNew] += st.RejectedTooNew
				u[CounterRejectedExpired] += st.RejectedExpired
				u[CounterClamped] += st.Clamped
				rejected = st.RejectedTooOld + st.RejectedTooNew + st.RejectedExpired
				events = max(0, events-rejected-st.DroppedEmpty-st.DroppedOutOfWindow)
			}
			u[CounterEventsIn] += res.EventsRead
			u[CounterBytesRead] += res.BytesRead
			u[CounterBytesReadUncompressed] += res.BytesUncompressed
			u[CounterDroppedOversized] += res.OversizedLines
			u[CounterEventsDelivered] += events
			u[CounterBytesDelivered] += d.Bytes
			u[CounterPutLogEventsRequests] += d.Requests
		case tenant.TypeS3:
			if delivered {
				u[CounterS3Copies]++
				u[CounterS3CopiedBytes] += d.Bytes
				u[CounterBytesDelivered] += d.Bytes
			}
		}
		if interrupted {
			continue
		}

		b := r.batchFor(k)
		hc := b.hours[hour]
		if hc == nil {
			hc = Counters{}
			b.hours[hour] = hc
		}
		hc[CounterEventsDelivered] += events
		hc[CounterBytesDelivered] += d.Bytes
		if delivered {
			b.ok++
			hc[CounterDeliveriesOK]++
			b.success = &Success{At: now, Key: res.Key}
			b.streak, b.streakFirst, b.streakLast = 0, time.Time{}, time.Time{}
			if rejected > 0 {
				b.warning = &Failure{At: now, Key: res.Key, Category: CategoryEventsRejected, Side: CategoryEventsRejected.Side(),
					Message: rejectedMessage(d.Stats)}
			}
			r.setFailing(k, 0)
			continue
		}
		b.failed++
		hc[CounterDeliveriesFailed]++
		cat := Classify(d.Type, string(reason), err)
		f := &Failure{At: now, Key: res.Key, Category: cat, Side: cat.Side(), Reason: string(reason), Message: Scrub(errString(err))}
		if cat == CategoryCircuitOpen && b.failure != nil && b.failure.Category != CategoryCircuitOpen {
			// Keep what opened the breaker: that is what has to be fixed.
			kept := *b.failure
			kept.At = now
			f = &kept
		}
		b.failure = f
		if b.streak == 0 {
			b.streakFirst = now
		}
		b.streak++
		b.streakLast = now
		r.setFailing(k, 1)
	}
}

func (r *Recorder) setFailing(k statusKey, v float64) {
	if r.failing != nil {
		r.failing.WithLabelValues(k.tenant, string(k.typ)).Set(v)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Flush writes everything recorded since the last flush. What could not be written is kept for the next
// flush (counters are added again only when a write failed; a write that timed out after DynamoDB applied
// it may therefore count twice). Flushes are serialised.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	status, usage := r.status, r.usage
	r.status, r.usage = map[statusKey]*batch{}, map[usageKey]Counters{}
	r.mu.Unlock()
	if len(status) == 0 && len(usage) == 0 {
		return nil
	}
	now := r.o.Now()
	expires := now.Add(r.o.UsageRetention)
	var errs []error
	for k, c := range usage {
		err := r.table.addUsage(ctx, k, c, expires)
		r.countWrite("usage", err)
		if err != nil {
			errs = append(errs, err)
			r.mu.Lock()
			if r.usage[k] == nil {
				r.usage[k] = Counters{}
			}
			r.usage[k].add(c)
			r.mu.Unlock()
		}
	}
	for k, b := range status {
		conflicts, err := r.table.mergeStatus(ctx, k, b, now)
		for range conflicts {
			r.countWrite("status_conflict", nil)
		}
		r.countWrite("status", err)
		if err != nil {
			errs = append(errs, err)
			r.mu.Lock()
			cur := r.batchFor(k)
			cur.absorb(b)
			r.mu.Unlock()
		}
	}
	err := errors.Join(errs...)
	if r.flushes != nil {
		res := "ok"
		if err != nil {
			res = "error"
		}
		r.flushes.WithLabelValues(res).Inc()
	}
	return err
}

func (r *Recorder) countWrite(kind string, err error) {
	if r.writes == nil {
		return
	}
	res := "ok"
	switch {
	case kind == "status_conflict":
		kind, res = "status", "conflict"
	case err != nil:
		res = "error"
	}
	r.writes.WithLabelValues(kind, res).Inc()
}

// Run flushes every FlushInterval until ctx ends, then flushes once more (bounded to 10s) and returns.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := r.Flush(fctx); err != nil {
				r.log.Warn("final delivery status flush failed; the last interval's status and usage are lost", "error", err.Error())
			}
			cancel()
			return
		case <-t.C:
			if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("delivery status flush failed; retried at the next interval", "error", err.Error())
			}
		}
	}
}
