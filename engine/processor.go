package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/fairshare"
	"github.com/logrouter/logrouter/parser"
	"github.com/logrouter/logrouter/tenant"
)

// S3API is the subset of *s3.Client the engine calls.
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
}

// Clients hands out AWS clients: S3 with the central role's credentials (region "" = the processor's),
// CloudWatch Logs with a tenant's role (double hop). scope identifies account+region for the batcher's
// existence cache. Credential errors may surface only when a client is used.
type Clients interface {
	S3(ctx context.Context, region string) (S3API, error)
	CloudWatchLogs(ctx context.Context, roleARN, externalID, tenantID, region string) (client batcher.API, scope string, err error)
}

// ConfigSource returns a tenant's enabled, valid delivery configs (none: an empty slice and nil error).
type ConfigSource interface {
	Lookup(ctx context.Context, tenantID string) ([]tenant.Config, error)
}

// TenantScheduler hands the processor's workers out between tenants (a *fairshare.Scheduler).
type TenantScheduler interface {
	// Acquire grants a worker, or answers at once that the tenant is busy or rate-limited (see fairshare).
	Acquire(ctx context.Context, tenantID string, limit tenant.RateLimit) (fairshare.Release, fairshare.Decision, time.Duration, error)
	// Wait waits for the rate limit and a worker.
	Wait(ctx context.Context, tenantID string, limit tenant.RateLimit) (fairshare.Release, error)
}

// LogSink delivers one object's events to one CloudWatch destination (a *batcher.Batcher).
type LogSink interface {
	Add(ev batcher.Event) error
	Close() (batcher.Result, error)
}

// StatusRecorder receives the outcome of every object the processor delivered (not of planned ones), with
// each destination's result, counters and typed error, once the object is done. It is called on the
// delivering goroutine: it must not block (the status package aggregates in memory and writes later).
type StatusRecorder interface {
	RecordObject(res ObjectResult)
}

// EventReader decodes an object into events (a *parser.Reader).
type EventReader interface {
	Next() (*parser.Event, error)
	Stats() parser.Stats
	Close() error
}

// Options configure a Processor. NewProcessor fills defaults; Validate reports bad values.
type Options struct {
	// SourceBuckets are the central buckets whose events are accepted (required).
	SourceBuckets []string
	// Region is the processor's region, used when a config has no target_region.
	Region string
	// LogStreamTemplate names CloudWatch streams; placeholders {cluster_id}, {tenant_id}, {application},
	// {pod_name}. Default "{pod_name}".
	LogStreamTemplate string
	// Workers bounds objects delivered at once across all tenants (default 2 × CPUs).
	Workers int
	// TenantInFlight is one tenant's share of the workers while another tenant waits (default
	// max(1, Workers/2)); a tenant alone may use every worker.
	TenantInFlight int
	// HandBack: an object whose tenant is at its share or over its rate limit is answered at once with
	// OutcomeRetry (ReasonTenantBusy, ReasonRateLimited) and a RetryAfter, instead of waiting for a worker,
	// so that the poller hands its message back to the queue rather than hold a slot another tenant could
	// use. Without it (manual runs, Lambda, replays) objects wait.
	HandBack bool
	// Waiting is how many objects may wait for a worker across tenants before the most loaded tenant's are
	// handed back (default max(1, Workers/2)); give it the poller's places beyond Workers (PollerOptions).
	Waiting int
	// Scheduler shares the workers between tenants (default: a fairshare.Scheduler of Workers and
	// TenantInFlight).
	Scheduler TenantScheduler
	// BreakerThreshold consecutive AccessDenied errors for one tenant's role or bucket open its circuit
	// breaker for BreakerCooldown (defaults 3 and 30s; a negative threshold disables the breaker).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// CheckpointInterval is how often a running CloudWatch delivery's acknowledged events are persisted
	// (default 1s) when its sink reports them; a sink that also notifies acknowledgements (the batcher's
	// OnAck) is checkpointed each time its acknowledged set grows as well.
	CheckpointInterval time.Duration
	// DetachAfter is how long an object's event stream waits for one of its several CloudWatch destinations
	// to accept an event before detaching it (its delivery resumes on redelivery); default 20s.
	DetachAfter time.Duration
	// Batcher adjusts every batcher's options (event size, out-of-window policy, ...).
	Batcher func(*batcher.Options)
	// Existence is shared by all batchers (default: a cache of 10,000 entries).
	Existence *batcher.ExistenceCache
	// Progress persists delivery progress (default: in memory). A LeaseStore (the DynamoDB table) also
	// leases each object version to one process at a time.
	Progress ProgressStore
	// LeaseTTL is how long a delivery's lease lasts unless renewed (renewed every third of it; default 30s).
	LeaseTTL time.Duration
	// ReplayKeys (key id -> secret) authenticate replay markers in messages (see Replay); with none, every
	// message carrying a marker is dropped as malformed.
	ReplayKeys map[string][]byte
	// NewSink and NewReader default to batcher.New and parser.NewReader.
	NewSink   func(ctx context.Context, client batcher.API, scope string, dest batcher.Destination, optFns ...func(*batcher.Options)) LogSink
	NewReader func(r io.Reader, fallback time.Time) EventReader

	// Status, when set, receives every delivered object's result (delivery status and usage accounting).
	Status StatusRecorder

	Metrics *Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	if len(o.SourceBuckets) == 0 {
		return errors.New("no source buckets configured")
	}
	for _, b := range o.SourceBuckets {
		if strings.TrimSpace(b) == "" {
			return errors.New("a source bucket name is empty")
		}
	}
	if _, err := parseStreamTemplate(o.LogStreamTemplate); err != nil {
		return err
	}
	if o.LeaseTTL < time.Second {
		return fmt.Errorf("lease TTL %s is below 1s", o.LeaseTTL)
	}
	if o.Workers < 1 || o.TenantInFlight < 1 {
		return fmt.Errorf("workers (%d) and tenant in-flight limit (%d) must be at least 1", o.Workers, o.TenantInFlight)
	}
	return nil
}

// Processor delivers the objects S3 notifications name to their tenants' destinations. It is safe for
// concurrent use.
type Processor struct {
	clients Clients
	configs ConfigSource
	o       Options
	buckets map[string]bool
	stream  streamTemplate
	sched   TenantScheduler
	owner   string         // this process's lease owner id
	objects *tenantLimiter // one delivery per object at a time: duplicate notifications wait, then skip
	breaker *breaker
	m       *Metrics
	log     *slog.Logger
}

// NewProcessor returns a Processor; opts are completed with defaults and validated.
func NewProcessor(clients Clients, configs ConfigSource, opts Options) (*Processor, error) {
	o := opts
	if o.LogStreamTemplate == "" {
		o.LogStreamTemplate = "{pod_name}"
	}
	if o.Workers == 0 {
		o.Workers = 2 * defaultCPUs()
	}
	if o.TenantInFlight == 0 {
		o.TenantInFlight = max(1, o.Workers/2)
	}
	if o.BreakerThreshold == 0 {
		o.BreakerThreshold = 3
	}
	if o.BreakerCooldown == 0 {
		o.BreakerCooldown = 30 * time.Second
	}
	if o.DetachAfter == 0 {
		o.DetachAfter = 20 * time.Second
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = time.Second
	}
	if o.Existence == nil {
		o.Existence = batcher.NewExistenceCache(10_000)
	}
	if o.Progress == nil {
		o.Progress = NewMemoryProgress()
	}
	if o.NewSink == nil {
		o.NewSink = func(ctx context.Context, c batcher.API, scope string, d batcher.Destination, fns ...func(*batcher.Options)) LogSink {
			return batcher.New(ctx, c, scope, d, fns...)
		}
	}
	if o.NewReader == nil {
		o.NewReader = func(r io.Reader, fallback time.Time) EventReader {
			return parser.NewReader(r, fallback, func(po *parser.Options) { po.Pipeline = true })
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Scheduler == nil {
		s, err := fairshare.New(fairshare.Options{Workers: o.Workers, Share: o.TenantInFlight, Waiting: o.Waiting, Now: o.Now})
		if err != nil {
			return nil, err
		}
		o.Scheduler = s
	}
	tpl, _ := parseStreamTemplate(o.LogStreamTemplate)
	p := &Processor{
		clients: clients, configs: configs, o: o,
		buckets: map[string]bool{},
		stream:  tpl,
		sched:   o.Scheduler,
		owner:   newLeaseOwner(),
		objects: newTenantLimiter(1),
		breaker: newBreaker(o.BreakerThreshold, o.BreakerCooldown, o.Now),
		m:       o.Metrics,
		log:     o.Logger,
	}
	for _, b := range o.SourceBuckets {
		p.buckets[strings.TrimSpace(b)] = true
	}
	return p, nil
}

// Workers is the number of objects the processor delivers at once.
func (p *Processor) Workers() int { return p.o.Workers }

// HandsBack reports whether busy tenants' objects are answered at once (Options.HandBack).
func (p *Processor) HandsBack() bool { return p.o.HandBack }

// MessageResult is the outcome of one SQS message: the worst of its records'.
type MessageResult struct {
	Outcome Outcome `json:"outcome"`
	Reason  Reason  `json:"reason,omitempty"`
	Error   string  `json:"error,omitempty"`
	// RetryAfter: for ReasonTenantBusy and ReasonRateLimited, when to offer the message again.
	RetryAfter time.Duration  `json:"retry_after,omitempty"`
	Test       bool           `json:"test_event,omitempty"`
	Objects    []ObjectResult `json:"objects,omitempty"`
	Err        error          `json:"-"`
}

// ObjectResult is the outcome of one object: the worst of its destinations'.
type ObjectResult struct {
	Bucket      string  `json:"bucket"`
	Key         string  `json:"key"`
	TenantID    string  `json:"tenant_id,omitempty"`
	Application string  `json:"application,omitempty"`
	Outcome     Outcome `json:"outcome"`
	Reason      Reason  `json:"reason,omitempty"`
	Error       string  `json:"error,omitempty"`
	Filtered    int     `json:"filtered_configs,omitempty"`
	// RetryAfter: for ReasonTenantBusy and ReasonRateLimited, when to offer the object again.
	RetryAfter  time.Duration `json:"retry_after,omitempty"`
	ReplayID    string        `json:"replay_id,omitempty"`
	NotReplayed int           `json:"not_replayed_configs,omitempty"` // configs of types the replay does not name
	EventsRead  int64         `json:"events_read"`
	BytesRead   int64         `json:"bytes_read"`
	// BytesUncompressed is the decoded size of what was read; OversizedLines the lines skipped as too long.
	BytesUncompressed int64               `json:"bytes_uncompressed,omitempty"`
	OversizedLines    int64               `json:"oversized_lines,omitempty"`
	Destinations      []DestinationResult `json:"destinations"`
	Err               error               `json:"-"`
}

// DestinationResult is one destination's delivery of one object.
type DestinationResult struct {
	Type     tenant.Type `json:"type"`
	Region   string      `json:"region"`
	LogGroup string      `json:"log_group,omitempty"`
	Stream   string      `json:"log_stream,omitempty"`
	Bucket   string      `json:"bucket,omitempty"`
	Key      string      `json:"key,omitempty"`
	Outcome  Outcome     `json:"outcome"`
	Reason   Reason      `json:"reason,omitempty"`
	Error    string      `json:"error,omitempty"`
	// AlreadyDone: an earlier attempt delivered it; nothing was sent.
	AlreadyDone bool `json:"already_done,omitempty"`
	// ResumedAt is the number of leading events skipped because an earlier attempt delivered them; events
	// it delivered beyond them are skipped as well and counted in Stats.Resumed.
	ResumedAt int64          `json:"resumed_at,omitempty"`
	Events    int64          `json:"events"`
	Requests  int64          `json:"requests"`
	Bytes     int64          `json:"bytes"`
	Stats     *batcher.Stats `json:"stats,omitempty"`
	DryRun    bool           `json:"dry_run,omitempty"`
	Err       error          `json:"-"`
}

func (r *MessageResult) set(s status) {
	r.Outcome, r.Reason, r.Err = s.Outcome, s.Reason, s.Err
	r.Error = errString(s.Err)
}

func (r *ObjectResult) set(s status) {
	r.Outcome, r.Reason, r.Err = s.Outcome, s.Reason, s.Err
	r.Error = errString(s.Err)
}

func (r *DestinationResult) set(s status) {
	r.Outcome, r.Reason, r.Err = s.Outcome, s.Reason, s.Err
	r.Error = errString(s.Err)
}

func (r ObjectResult) status() status      { return status{r.Outcome, r.Reason, r.Err} }
func (r DestinationResult) status() status { return status{r.Outcome, r.Reason, r.Err} }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ProcessMessage handles one SQS message body: each record's object is delivered (concurrently) and the
// message's outcome is the worst of theirs. ctx bounds the work; when it ends, unfinished deliveries save
// their progress and the outcome is OutcomeRetry.
func (p *Processor) ProcessMessage(ctx context.Context, body []byte) MessageResult {
	return p.processMessage(ctx, body, false)
}

// PlanMessage resolves what ProcessMessage would deliver without sending anything.
func (p *Processor) PlanMessage(ctx context.Context, body []byte) MessageResult {
	return p.processMessage(ctx, body, true)
}

func (p *Processor) processMessage(ctx context.Context, body []byte, dry bool) MessageResult {
	var res MessageResult
	n, err := ParseNotification(body)
	if err != nil {
		res.set(status{OutcomeDropped, ReasonMalformedBody, err})
		return res
	}
	if n.Test {
		res.Test = true
		return res
	}
	if n.Replay != nil {
		if err := VerifyReplay(n.Replay, p.o.ReplayKeys, n.Objects); err != nil {
			res.set(status{OutcomeDropped, ReasonMalformedBody, fmt.Errorf("%w: %w", ErrMalformed, err)})
			return res
		}
		for i := range n.Objects {
			n.Objects[i].Replay = n.Replay
		}
	}
	worst := status{}
	for _, e := range n.Invalid {
		worst = worst.worse(status{OutcomeDropped, ReasonMalformedBody, e})
	}
	res.Objects = make([]ObjectResult, len(n.Objects))
	var wg sync.WaitGroup
	for i, obj := range n.Objects {
		wg.Go(func() { res.Objects[i] = p.processObject(ctx, obj, dry) })
	}
	wg.Wait()
	for _, o := range res.Objects {
		worst = worst.worse(o.status())
		res.RetryAfter = max(res.RetryAfter, o.RetryAfter)
	}
	res.set(worst)
	return res
}

// ProcessObject delivers one object (as a notification record names it) to its tenant's destinations.
func (p *Processor) ProcessObject(ctx context.Context, obj ObjectRef) ObjectResult {
	return p.processObject(ctx, obj, false)
}

// PlanObject resolves tenant, filters and destinations for obj without sending anything.
func (p *Processor) PlanObject(ctx context.Context, obj ObjectRef) ObjectResult {
	return p.processObject(ctx, obj, true)
}

func (p *Processor) processObject(ctx context.Context, obj ObjectRef, dry bool) (res ObjectResult) {
	start := p.o.Now()
	res = ObjectResult{Bucket: obj.Bucket, Key: obj.Key, Destinations: []DestinationResult{}}
	handedBack := false // not attempted: counted by the poller, neither logged nor recorded as a delivery
	defer func() {
		if !dry && !handedBack {
			p.observeObject(&res, p.o.Now().Sub(start))
			if p.o.Status != nil {
				p.o.Status.RecordObject(res)
			}
		}
	}()
	if !p.buckets[obj.Bucket] {
		res.set(status{OutcomeDropped, ReasonUnknownBucket, fmt.Errorf("bucket %q is not a configured source bucket", obj.Bucket)})
		return res
	}
	key, err := ParseObjectKey(obj.Key)
	if err != nil {
		res.set(status{OutcomeDropped, ReasonKeyLayout, err})
		return res
	}
	res.TenantID, res.Application = key.TenantID, key.Application
	configs, err := p.configs.Lookup(ctx, key.TenantID)
	if err != nil {
		p.count(func(m *Metrics) { m.ConfigLookup.WithLabelValues("error").Inc() })
		res.set(status{OutcomeRetry, ReasonConfigLookup, fmt.Errorf("look up tenant %q: %w", key.TenantID, err)})
		if interrupted(ctx, err) {
			res.Reason = ReasonInterrupted
		}
		return res
	}
	var active []tenant.Config
	for _, c := range configs {
		if !c.IsEnabled() {
			continue
		}
		if !c.Admits(key.Application) {
			res.Filtered++
			continue
		}
		active = append(active, c)
	}
	if len(active) == 0 && res.Filtered == 0 {
		p.count(func(m *Metrics) { m.ConfigLookup.WithLabelValues("empty").Inc() })
		res.set(status{OutcomeDropped, ReasonNoTenantConfig, fmt.Errorf("tenant %q has no enabled delivery config", key.TenantID)})
		return res
	}
	p.count(func(m *Metrics) {
		m.ConfigLookup.WithLabelValues("found").Inc()
		m.Filtered.Add(float64(res.Filtered))
	})
	if r := obj.Replay; r != nil {
		res.ReplayID = r.ID
		kept := active[:0]
		for _, c := range active {
			if r.Admits(c.Type) {
				kept = append(kept, c)
			} else {
				res.NotReplayed++
			}
		}
		active = kept
	}
	if len(active) == 0 {
		return res // every config filters this application out, or the replay is for other types
	}
	dests := make([]*delivery, len(active))
	for i, c := range active {
		dests[i] = p.newDelivery(key, c)
	}
	if dry {
		for _, d := range dests {
			d.res.DryRun = true
			res.Destinations = append(res.Destinations, d.res)
		}
		return res
	}

	// S3 may notify an object twice, possibly in one message: deliver it once at a time, so that the
	// second delivery finds the first one's progress.
	releaseObj, _, err := p.objects.acquire(ctx, obj.Bucket+"/"+obj.Key)
	if err != nil {
		res.set(status{OutcomeRetry, ReasonInterrupted, err})
		return res
	}
	defer releaseObj()
	limit := tenant.EffectiveRateLimit(active)
	var release fairshare.Release
	if p.o.HandBack {
		var d fairshare.Decision
		var after time.Duration
		release, d, after, err = p.sched.Acquire(ctx, key.TenantID, limit)
		if err == nil && d != fairshare.Granted {
			p.count(func(m *Metrics) { m.TenantWaits.Inc() })
			reason := ReasonTenantBusy
			if d == fairshare.RateLimited {
				reason = ReasonRateLimited
			}
			res.set(status{OutcomeRetry, reason, fmt.Errorf("tenant %q: %s, offered again in %s", key.TenantID, d, after.Round(time.Millisecond))})
			res.RetryAfter = after
			handedBack = true
			return res
		}
	} else {
		release, err = p.sched.Wait(ctx, key.TenantID, limit)
	}
	if err != nil {
		res.set(status{OutcomeRetry, ReasonInterrupted, err})
		return res
	}
	defer func() { release(res.EventsRead, res.BytesRead) }()
	p.count(func(m *Metrics) { m.InFlightObjects.Inc() })
	defer p.count(func(m *Metrics) { m.InFlightObjects.Dec() })

	p.deliver(ctx, obj, key, dests, &res)
	worst := res.status()
	for _, d := range dests {
		res.Destinations = append(res.Destinations, d.res)
		worst = worst.worse(d.res.status())
	}
	res.set(worst)
	return res
}

// delivery is one destination's state during one object's processing.
type delivery struct {
	cfg     tenant.Config
	res     DestinationResult
	id      string    // the object's progress id
	key     string    // identity of the destination within the object
	pkey    string    // its key in the object's progress (progressDestKey of key)
	budget  int       // bound of its encoded ranges (ProgressUpdate.RangesBytes)
	final   *Progress // what the object's final progress write records for it (nil: nothing new)
	brk     string    // circuit breaker key
	sink    LogSink
	skip    int64            // leading events delivered by earlier attempts (not handed to the sink)
	resume  batcher.AckState // every event delivered by earlier attempts (the sink skips those past skip)
	added   int64            // events handed to the sink in this attempt
	failed  error            // the sink's terminal error
	saved   batcher.AckState // last checkpointed state
	ackNote chan struct{}    // the sink acknowledged more events (buffered 1)
	ckpt    *checkpoints
	// ctx is the sink's context; cancel stops it (detaching a slow destination, or at the end).
	ctx      context.Context
	cancel   context.CancelFunc
	feeder   *feeder
	detached atomic.Bool
	fed      atomic.Int64 // events read from the object once reading ended; -1 while reading
}

func (p *Processor) newDelivery(key ObjectKey, c tenant.Config) *delivery {
	region := c.TargetRegion
	if region == "" {
		region = p.o.Region
	}
	d := &delivery{cfg: c, res: DestinationResult{Type: c.Type, Region: region}}
	d.fed.Store(-1)
	switch c.Type {
	case tenant.TypeCloudWatch:
		d.res.LogGroup = c.LogGroupName
		d.res.Stream = p.stream.render(key)
		d.key = cloudWatchDestKey(region, c.LogGroupName, d.res.Stream)
		d.brk = "cloudwatch\x00" + c.TenantID + "\x00" + c.LogDistributionRoleARN
	case tenant.TypeS3:
		d.res.Bucket = c.BucketName
		d.res.Key = key.DestinationKey(c.EffectiveBucketPrefix())
		d.key = s3DestKey(region, c.BucketName, d.res.Key)
		d.brk = "s3\x00" + c.TenantID + "\x00" + c.BucketName
	}
	return d
}

// cloudWatchDestKey and s3DestKey identify a destination within an object (delivery.key).
func cloudWatchDestKey(region, group, stream string) string {
	return strings.Join([]string{"cloudwatch", region, group, stream}, "\x00")
}

func s3DestKey(region, bucket, key string) string {
	return strings.Join([]string{"s3", region, bucket, key}, "\x00")
}

func (p *Processor) deliver(ctx context.Context, obj ObjectRef, key ObjectKey, dests []*delivery, res *ObjectResult) {
	src, err := p.clients.S3(ctx, "")
	if err != nil {
		res.set(classifySource(ctx, err))
		return
	}
	etag := obj.ETag
	var lastModified time.Time
	if etag == "" {
		head, err := src.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &obj.Bucket, Key: &obj.Key, VersionId: nonEmpty(obj.VersionID)})
		if err != nil {
			res.set(classifySource(ctx, fmt.Errorf("head s3://%s/%s: %w", obj.Bucket, obj.Key, err)))
			return
		}
		etag = strings.Trim(aws.ToString(head.ETag), `"`)
		lastModified = aws.ToTime(head.LastModified)
		if obj.Size == 0 {
			obj.Size = aws.ToInt64(head.ContentLength) // copies report what they copied
		}
	}

	// One progress record per object version: one write takes the lease and returns every destination's
	// state, one final write records every destination's outcome and ends the lease.
	id := progressID(obj, etag, obj.Replay.progressScope())
	keys := make([]string, len(dests))
	ncw := 0
	for i, d := range dests {
		d.id, d.pkey = id, progressDestKey(d.key)
		keys[i] = d.pkey
		if d.cfg.Type == tenant.TypeCloudWatch {
			ncw++
		}
	}
	op, leasedUntil, leased, err := p.readProgress(ctx, id, keys)
	var cw, cp []*delivery
	for _, d := range dests {
		d.budget = rangesBudget(ncw)
		pr := op[d.pkey]
		if err == nil && !pr.Done && !leasedUntil.IsZero() {
			// Another process delivers it now: offered again once its lease would have expired, by when
			// that delivery is done (found so) or has died (taken over at its last checkpoint).
			p.count(func(m *Metrics) { m.Leased.Inc() })
			d.res.set(status{OutcomeRetry, ReasonLeased, fmt.Errorf("another processor is delivering it (lease until %s)", leasedUntil.UTC().Format(time.RFC3339))})
			res.RetryAfter = max(res.RetryAfter, leasedUntil.Sub(p.o.Now())+time.Second)
			continue
		}
		if err != nil {
			p.count(func(m *Metrics) { m.ProgressErr.WithLabelValues("get").Inc() })
			s := status{OutcomeRetry, ReasonProgress, err}
			if interrupted(ctx, err) {
				s.Reason = ReasonInterrupted
			}
			d.res.set(s)
			continue
		}
		if pr.Done {
			d.res.AlreadyDone = true
			p.count(func(m *Metrics) { m.Skipped.WithLabelValues(string(d.cfg.Type)).Inc() })
			continue
		}
		d.resume = pr.ackState()
		if d.resume.Validate() != nil {
			d.resume.Ranges = nil // forgetting acknowledgements re-sends events, never loses them
		}
		d.skip, d.saved, d.ackNote = pr.Acked, d.resume, make(chan struct{}, 1)
		d.res.ResumedAt = pr.Acked
		if !p.breaker.allow(d.brk) {
			p.count(func(m *Metrics) { m.BreakerFast.Inc() })
			d.res.set(status{OutcomeRetry, ReasonCircuitOpen, fmt.Errorf("circuit breaker open for tenant %q after repeated AccessDenied", d.cfg.TenantID)})
			continue
		}
		switch d.cfg.Type {
		case tenant.TypeCloudWatch:
			cw = append(cw, d)
		case tenant.TypeS3:
			cp = append(cp, d)
		default:
			d.res.set(status{OutcomeDropped, ReasonDestinationRejected, fmt.Errorf("unknown destination type %q", d.cfg.Type)})
		}
	}

	active := append(append([]*delivery(nil), cw...), cp...)
	dctx, stopRenewing := p.renewLeases(ctx, id, active, leased)
	var wg sync.WaitGroup
	for _, d := range cp {
		wg.Go(func() { p.copyObject(dctx, obj, key, etag, lastModified, d) })
	}
	if len(cw) > 0 {
		p.streamObject(dctx, src, obj, etag, cw, res)
	}
	wg.Wait()
	stopRenewing() // before the final write, so that no renewal takes the lease again after it
	p.finishProgress(ctx, id, leased, active)
	for _, d := range active {
		opened := p.breaker.record(d.brk, d.res.Reason == ReasonAccessDenied)
		if opened {
			p.count(func(m *Metrics) { m.BreakerOpen.Inc() })
			p.log.Warn("circuit breaker opened", "tenant", d.cfg.TenantID, "type", d.cfg.Type, "cooldown", p.o.BreakerCooldown.String())
		}
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// newLeaseOwner names this process in leases: host, pid and a random part (a restarted process is another
// owner).
func newLeaseOwner() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// readProgress reads the object's progress on record. With a LeaseStore it takes the object's lease in the
// same write (leased), unless every destination of keys is done already; a non-zero until means another
// process holds it (and the progress read is as of now).
func (p *Processor) readProgress(ctx context.Context, id string, keys []string) (op ObjectProgress, until time.Time, leased bool, err error) {
	ls, ok := p.o.Progress.(LeaseStore)
	if !ok {
		op, err = p.o.Progress.Get(ctx, id)
		return op, time.Time{}, false, err
	}
	l, err := ls.Lease(ctx, id, p.owner, p.o.LeaseTTL, keys)
	if err != nil {
		return nil, time.Time{}, false, err
	}
	if l.Held || allDone(l.Progress, keys) {
		return l.Progress, time.Time{}, l.Held, nil
	}
	if l.Until.IsZero() {
		l.Until = p.o.Now().Add(p.o.LeaseTTL)
	}
	return l.Progress, l.Until, false, nil
}

// allDone reports whether every destination of keys is done in op.
func allDone(op ObjectProgress, keys []string) bool {
	for _, k := range keys {
		if !op[k].Done {
			return false
		}
	}
	return true
}

// renewLeases renews the object's lease (when leased) every LeaseTTL/3 while ds are delivered, until stop
// is called. A lease found taken over (this process stalled past its expiry) cancels the returned context:
// the object's delivery stops and is retried. The object's final write ends the lease.
func (p *Processor) renewLeases(ctx context.Context, id string, ds []*delivery, leased bool) (context.Context, func()) {
	ls, ok := p.o.Progress.(LeaseStore)
	if !ok || !leased || len(ds) == 0 {
		return ctx, func() {}
	}
	keys := make([]string, len(ds))
	for i, d := range ds {
		keys[i] = d.pkey
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(p.o.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			l, err := ls.Lease(ctx, id, p.owner, p.o.LeaseTTL, keys)
			if err == nil && !l.Held {
				p.count(func(m *Metrics) { m.ProgressErr.WithLabelValues("lease_lost").Inc() })
				p.log.Warn("delivery lease taken over by another processor: stopping this delivery", "tenant", ds[0].cfg.TenantID)
				cancel()
				return
			}
			if err != nil && ctx.Err() == nil {
				p.count(func(m *Metrics) { m.ProgressErr.WithLabelValues("lease").Inc() })
				p.log.Warn("renew delivery lease", "tenant", ds[0].cfg.TenantID, "error", err.Error())
			}
		}
	})
	return ctx, func() {
		close(done)
		wg.Wait()
		cancel()
	}
}

// finishProgress is the object's final progress write: every destination's outcome this attempt (done, or
// the acknowledged set of a CloudWatch one that did not finish) and, when leased, the end of the lease — one
// write whatever the number of destinations. It outlives ctx's cancellation briefly, so that an interrupted
// delivery still records what CloudWatch acknowledged.
func (p *Processor) finishProgress(ctx context.Context, id string, leased bool, ds []*delivery) {
	u := ProgressUpdate{Dests: map[string]Progress{}}
	for _, d := range ds {
		if d.final != nil {
			u.Dests[d.pkey] = *d.final
			u.RangesBytes = d.budget
		}
	}
	if leased {
		u.Owner = p.owner
	}
	if len(u.Dests) == 0 && u.Owner == "" {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.o.Progress.Put(sctx, id, u); err != nil {
		p.count(func(m *Metrics) { m.ProgressErr.WithLabelValues("put").Inc() })
		p.log.Warn("save delivery progress", "tenant", ds[0].cfg.TenantID, "destinations", len(u.Dests), "error", err.Error())
	}
}

// saveProgress persists a destination's intermediate progress (its entry only). It outlives ctx's
// cancellation briefly, so that an interrupted delivery still records what CloudWatch acknowledged.
func (p *Processor) saveProgress(ctx context.Context, d *delivery, pr Progress) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	u := ProgressUpdate{Dests: map[string]Progress{d.pkey: pr}, RangesBytes: d.budget}
	if err := p.o.Progress.Put(sctx, d.id, u); err != nil {
		p.count(func(m *Metrics) { m.ProgressErr.WithLabelValues("put").Inc() })
		p.log.Warn("save delivery progress", "tenant", d.cfg.TenantID, "type", d.cfg.Type, "acked", pr.Acked, "done", pr.Done, "error", err.Error())
	}
}

func (p *Processor) count(f func(*Metrics)) {
	if p.m != nil {
		f(p.m)
	}
}

func (p *Processor) observeObject(res *ObjectResult, took time.Duration) {
	p.count(func(m *Metrics) {
		m.Objects.WithLabelValues(res.Outcome.String(), string(res.Reason)).Inc()
		for _, d := range res.Destinations {
			if d.AlreadyDone {
				continue
			}
			m.Deliveries.WithLabelValues(string(d.Type), d.Outcome.String(), string(d.Reason)).Inc()
			if m.tenantLabels {
				m.TenantDeliveries.WithLabelValues(res.TenantID, string(d.Type), d.Outcome.String()).Inc()
				if d.Type == tenant.TypeCloudWatch {
					m.TenantEvents.WithLabelValues(res.TenantID).Add(float64(d.Events))
				}
			}
		}
	})
	level := slog.LevelInfo
	if res.Outcome == OutcomeRetry {
		level = slog.LevelWarn
	}
	dests := make([]string, 0, len(res.Destinations))
	var events int64
	for _, d := range res.Destinations {
		dests = append(dests, d.summary())
		events += d.Events
	}
	attrs := []slog.Attr{
		slog.String("tenant", res.TenantID), slog.String("bucket", res.Bucket), slog.String("key", res.Key),
		slog.String("outcome", res.Outcome.String()), slog.Int64("events_read", res.EventsRead),
		slog.Int64("events_delivered", events), slog.Int64("bytes_read", res.BytesRead),
		slog.Any("destinations", dests), slog.Int("filtered_configs", res.Filtered),
		slog.Duration("took", took),
	}
	if res.Reason != "" {
		attrs = append(attrs, slog.String("reason", string(res.Reason)), slog.String("error", res.Error))
	}
	if res.ReplayID != "" {
		attrs = append(attrs, slog.String("replay_id", res.ReplayID))
	}
	p.log.LogAttrs(context.Background(), level, "object processed", attrs...)
}

func (d DestinationResult) summary() string {
	var b strings.Builder
	b.WriteString(string(d.Type))
	b.WriteString(":")
	if d.Type == tenant.TypeCloudWatch {
		b.WriteString(d.LogGroup + ":" + d.Stream)
	} else {
		b.WriteString("s3://" + d.Bucket + "/" + d.Key)
	}
	b.WriteString(" " + d.Outcome.String())
	if d.Reason != "" {
		b.WriteString("(" + string(d.Reason) + ")")
	}
	if d.AlreadyDone {
		b.WriteString(" already_done")
	}
	if d.Type == tenant.TypeCloudWatch {
		fmt.Fprintf(&b, " events=%d", d.Events)
	}
	return b.String()
}
