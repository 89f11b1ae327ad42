package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/logrouter/logrouter/tenant"
)

// Job states. A job is running until it ends in one of the others; a running job whose process stopped
// is resumed (see Jobs).
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// Errors of Jobs' methods.
var (
	ErrNoJob       = errors.New("no such replay job")
	ErrJobFinished = errors.New("the replay job has finished")
	ErrJobsOff     = errors.New("replay jobs are not configured")
)

// JobRunningError says the tenant already has a running replay job.
type JobRunningError struct{ ID string }

func (e *JobRunningError) Error() string {
	return fmt.Sprintf("the tenant already has a running replay job (%s); wait for it or cancel it", e.ID)
}

// JobRequest is what a replay job covers (see Spec).
type JobRequest struct {
	Since        time.Time     `json:"since,omitzero"`
	Until        time.Time     `json:"until,omitzero"`
	Types        []tenant.Type `json:"types,omitempty"`
	Applications []string      `json:"applications,omitempty"`
	Clusters     []string      `json:"clusters,omitempty"`
	Force        bool          `json:"force,omitempty"`
	Clamp        bool          `json:"clamp,omitempty"`
}

// JobProgress are a job's counters, cumulative over its resumptions.
type JobProgress struct {
	Listed        int64 `json:"objects_listed"`
	InWindow      int64 `json:"objects_in_window"`
	InWindowBytes int64 `json:"bytes_in_window"`
	BeforeWindow  int64 `json:"objects_before_window"`
	AfterWindow   int64 `json:"objects_after_window"`
	TooOld        int64 `json:"objects_out_of_cloudwatch_window"`
	SkippedTooOld int64 `json:"objects_not_enqueued_out_of_window"`
	Enqueued      int64 `json:"objects_enqueued"`
	EnqueuedBytes int64 `json:"bytes_enqueued"`
}

func (p JobProgress) plus(q JobProgress) JobProgress {
	return JobProgress{p.Listed + q.Listed, p.InWindow + q.InWindow, p.InWindowBytes + q.InWindowBytes, p.BeforeWindow + q.BeforeWindow,
		p.AfterWindow + q.AfterWindow, p.TooOld + q.TooOld, p.SkippedTooOld + q.SkippedTooOld, p.Enqueued + q.Enqueued, p.EnqueuedBytes + q.EnqueuedBytes}
}

func progressOf(p *Progress) JobProgress {
	return JobProgress{Listed: p.List.Listed.Load(), InWindow: p.List.Matched.Load(), InWindowBytes: p.List.MatchedBytes.Load(),
		BeforeWindow: p.List.BeforeWindow.Load(), AfterWindow: p.List.AfterWindow.Load(), TooOld: p.List.TooOld.Load(),
		SkippedTooOld: p.Skipped.Load(), Enqueued: p.Handled.Load(), EnqueuedBytes: p.Bytes.Load()}
}

// Job is a replay job as stored and reported.
type Job struct {
	ID              string      `json:"id"`
	TenantID        string      `json:"tenant_id"`
	State           string      `json:"state" enum:"running,succeeded,failed,cancelled"`
	Request         JobRequest  `json:"request"`
	Progress        JobProgress `json:"progress"`
	NextStartAfter  string      `json:"next_start_after,omitempty" doc:"The last key enqueued: the job continues after it when resumed."`
	CancelRequested bool        `json:"cancel_requested,omitempty"`
	Resumed         int         `json:"resumed,omitempty" doc:"How often another API process took the job over (restart, crash)."`
	Error           string      `json:"error,omitempty"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
	FinishedAt      time.Time   `json:"finished_at,omitzero"`
}

// JobsDB is the subset of *dynamodb.Client replay jobs use.
type JobsDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// JobsOptions configure Jobs.
type JobsOptions struct {
	DB    JobsDB
	Table string // the status table (pk, sk, TTL expires_at)
	// Bucket is the central bucket listed; Sources the allowed source buckets.
	Bucket  string
	Sources []string
	Lister  S3Lister
	Queue   SQSSender
	// QueueURL, KeyID and Secret: where and how replay notifications are enqueued (see Options).
	QueueURL string
	KeyID    string
	Secret   []byte
	Rate     float64
	// Owner names this process in the jobs it runs (default: a random id).
	Owner string
	// Lease is how long a running job stays this process's without a checkpoint (default 2 minutes); after
	// it another process may take the job over. CheckpointEvery bounds the time between checkpoints
	// (default 5s; also every 1,000 objects).
	Lease           time.Duration
	CheckpointEvery time.Duration
	// Retention is how long a finished job stays readable (default 30 days).
	Retention time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
	// Wait is passed to the runs (Options.Wait); tests substitute it.
	Wait func(ctx context.Context, d time.Duration) error
}

// Jobs runs replay jobs (the enqueue variant) in this process and keeps their state in the status table:
// item pk=tenant#<id>, sk=replay#<job id> per job, sk=replay-lock while a job of the tenant runs (a
// conditional write: one running job per tenant across API replicas), and pk=replay-running,
// sk=<tenant id> listing the running jobs, so that a restarted API finds them.
//
// A job checkpoints its progress and the last key enqueued at least every CheckpointEvery, renewing its
// lease. When its process stops gracefully (Close) the job stays running with its lease released; Resume,
// called at start and then periodically by Serve, takes over every running job whose lease has expired or
// was released and continues it after its last key under the same replay id, so nothing is enqueued twice
// (at most the last unrecorded batch, which the processors skip as already delivered). Cancel works from any
// replica: the owner sees the request at its next checkpoint.
type Jobs struct {
	o       JobsOptions
	base    context.Context
	stop    context.CancelFunc
	mu      sync.Mutex
	running map[string]context.CancelCauseFunc // by job id
	wg      sync.WaitGroup
}

// NewJobs returns Jobs; Close stops its running jobs (they stay resumable).
func NewJobs(o JobsOptions) (*Jobs, error) {
	if o.DB == nil || o.Table == "" || o.Lister == nil || o.Queue == nil || o.QueueURL == "" || o.KeyID == "" || len(o.Secret) == 0 || o.Bucket == "" {
		return nil, errors.New("replay jobs need the status table, the central bucket, the queue and a replay key")
	}
	if o.Owner == "" {
		o.Owner = NewID(time.Now())
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 5 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Sources) == 0 {
		o.Sources = []string{o.Bucket}
	}
	base, stop := context.WithCancel(context.Background())
	return &Jobs{o: o, base: base, stop: stop, running: map[string]context.CancelCauseFunc{}}, nil
}

// errShutdown stops a job because its process stops: it stays running, to be resumed.
var errShutdown = errors.New("the API process is stopping")

// errCancelled stops a job at a user's request.
var errCancelled = errors.New("cancelled")

// Close stops this process's jobs, records where each stopped and releases their leases, so that another
// process resumes them at once. It waits for them.
func (j *Jobs) Close() {
	j.mu.Lock()
	for _, cancel := range j.running {
		cancel(errShutdown)
	}
	j.mu.Unlock()
	j.wg.Wait()
	j.stop()
}

// Wait blocks until every job running in this process has ended or stopped.
func (j *Jobs) Wait() { j.wg.Wait() }

// Serve resumes jobs left running now and every Lease/2 until ctx ends.
func (j *Jobs) Serve(ctx context.Context) {
	t := time.NewTicker(j.o.Lease / 2)
	defer t.Stop()
	for {
		if err := j.Resume(ctx); err != nil && ctx.Err() == nil {
			j.o.Logger.Warn("resume replay jobs", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

const (
	attrPK = "pk"
	attrSK = "sk"
	skLock = "replay-lock"
	// pkRunning is the partition listing the tenants with a running job.
	pkRunning = "replay-running"
)

func tenantPK(id string) string { return "tenant#" + id }
func jobSK(id string) string    { return "replay#" + id }

func sv(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func nv(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: sv(pk), attrSK: sv(sk)}
}

// Start validates req, records a running job for tenantID (JobRunningError when it has one) and starts it.
func (j *Jobs) Start(ctx context.Context, tenantID string, req JobRequest) (Job, error) {
	now := j.o.Now().UTC()
	job := Job{ID: NewID(now), TenantID: tenantID, State: JobRunning, Request: req, CreatedAt: now, UpdatedAt: now}
	spec := j.spec(job)
	if err := spec.Validate(j.o.Sources); err != nil {
		return Job{}, &ValidationError{err}
	}
	item, err := j.item(job)
	if err != nil {
		return Job{}, err
	}
	item["owner"] = sv(j.o.Owner)
	item["lease_until"] = nv(now.Add(j.o.Lease).UnixMilli())
	_, err = j.o.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &j.o.Table, Item: map[string]types.AttributeValue{attrPK: sv(tenantPK(tenantID)), attrSK: sv(skLock), "job_id": sv(job.ID)},
			ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &j.o.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &j.o.Table, Item: map[string]types.AttributeValue{attrPK: sv(pkRunning), attrSK: sv(tenantID), "job_id": sv(job.ID)}}},
	}})
	if err != nil {
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return Job{}, fmt.Errorf("record replay job: %w", err)
		}
		id, lerr := j.lockHolder(ctx, tenantID)
		switch {
		case lerr != nil || id == "":
			return Job{}, fmt.Errorf("record replay job: %w", err)
		case id != job.ID:
			return Job{}, &JobRunningError{ID: id}
		}
		// The lock names this job: an earlier attempt of this same transaction committed (the SDK retries a
		// request whose answer was lost), and the retry found its own lock.
	}
	j.launch(job, spec, JobProgress{})
	return job, nil
}

// ValidationError is a job request that cannot run.
type ValidationError struct{ Err error }

func (e *ValidationError) Error() string { return e.Err.Error() }
func (e *ValidationError) Unwrap() error { return e.Err }

func (j *Jobs) spec(job Job) Spec {
	r := job.Request
	return Spec{ID: job.ID, Bucket: j.o.Bucket, Tenant: job.TenantID, Clusters: r.Clusters, Applications: r.Applications,
		Since: r.Since, Until: r.Until, Types: r.Types, Clamp: r.Clamp, Force: r.Force, StartAfter: job.NextStartAfter}
}

func (j *Jobs) lockHolder(ctx context.Context, tenantID string) (string, error) {
	out, err := j.o.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &j.o.Table, Key: key(tenantPK(tenantID), skLock), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", err
	}
	v, _ := out.Item["job_id"].(*types.AttributeValueMemberS)
	if v == nil {
		return "", nil
	}
	return v.Value, nil
}

// item renders a job's stored attributes (without owner and lease).
func (j *Jobs) item(job Job) (map[string]types.AttributeValue, error) {
	req, err := json.Marshal(job.Request)
	if err != nil {
		return nil, err
	}
	prog, err := json.Marshal(job.Progress)
	if err != nil {
		return nil, err
	}
	it := key(tenantPK(job.TenantID), jobSK(job.ID))
	it["job_id"], it["tenant_id"], it["state"] = sv(job.ID), sv(job.TenantID), sv(job.State)
	it["request"], it["progress"] = sv(string(req)), sv(string(prog))
	it["created_at"], it["updated_at"] = sv(job.CreatedAt.Format(time.RFC3339Nano)), sv(job.UpdatedAt.Format(time.RFC3339Nano))
	it["resumed"] = nv(int64(job.Resumed))
	it["expires_at"] = nv(job.CreatedAt.Add(j.o.Retention).Unix())
	return it, nil
}

// decode reads a stored job; lease is its lease end (epoch ms), owner its owner.
func decode(it map[string]types.AttributeValue) (job Job, owner string, lease int64, err error) {
	str := func(k string) string {
		if v, ok := it[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	num := func(k string) int64 {
		if v, ok := it[k].(*types.AttributeValueMemberN); ok {
			n, _ := strconv.ParseInt(v.Value, 10, 64)
			return n
		}
		return 0
	}
	job = Job{ID: str("job_id"), TenantID: str("tenant_id"), State: str("state"), NextStartAfter: str("next_start_after"),
		Error: str("error"), Resumed: int(num("resumed"))}
	if v, ok := it["cancel_requested"].(*types.AttributeValueMemberBOOL); ok {
		job.CancelRequested = v.Value
	}
	if err := json.Unmarshal([]byte(str("request")), &job.Request); err != nil {
		return job, "", 0, fmt.Errorf("replay job %s: request: %w", job.ID, err)
	}
	if p := str("progress"); p != "" {
		if err := json.Unmarshal([]byte(p), &job.Progress); err != nil {
			return job, "", 0, fmt.Errorf("replay job %s: progress: %w", job.ID, err)
		}
	}
	for k, dst := range map[string]*time.Time{"created_at": &job.CreatedAt, "updated_at": &job.UpdatedAt, "finished_at": &job.FinishedAt} {
		if s := str(k); s != "" {
			*dst, _ = time.Parse(time.RFC3339Nano, s)
		}
	}
	return job, str("owner"), num("lease_until"), nil
}

// Get returns one job of the tenant.
func (j *Jobs) Get(ctx context.Context, tenantID, id string) (Job, error) {
	out, err := j.o.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &j.o.Table, Key: key(tenantPK(tenantID), jobSK(id)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Job{}, fmt.Errorf("read replay job: %w", err)
	}
	if len(out.Item) == 0 {
		return Job{}, ErrNoJob
	}
	job, _, _, err := decode(out.Item)
	return job, err
}

// List returns the tenant's jobs, newest first (at most 100).
func (j *Jobs) List(ctx context.Context, tenantID string) ([]Job, error) {
	out, err := j.o.DB.Query(ctx, &dynamodb.QueryInput{TableName: &j.o.Table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sv(tenantPK(tenantID)), ":p": sv("replay#")},
		ScanIndexForward:          aws.Bool(false), Limit: aws.Int32(100)})
	if err != nil {
		return nil, fmt.Errorf("list replay jobs: %w", err)
	}
	jobs := []Job{}
	for _, it := range out.Items {
		job, _, _, err := decode(it)
		if err != nil {
			j.o.Logger.Warn("unreadable replay job item", "tenant", tenantID, "error", err.Error())
			continue
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// Cancel asks a running job to stop; the job's owner stops it at its next checkpoint (at once when it runs
// here). It returns the job as recorded.
func (j *Jobs) Cancel(ctx context.Context, tenantID, id string) (Job, error) {
	out, err := j.o.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &j.o.Table, Key: key(tenantPK(tenantID), jobSK(id)),
		UpdateExpression:          aws.String("SET cancel_requested = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND #s = :running"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":running": sv(JobRunning)},
		ReturnValues:              types.ReturnValueAllNew})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		job, gerr := j.Get(ctx, tenantID, id)
		if gerr != nil {
			return Job{}, gerr
		}
		return job, ErrJobFinished
	}
	if err != nil {
		return Job{}, fmt.Errorf("cancel replay job: %w", err)
	}
	j.mu.Lock()
	if cancel := j.running[id]; cancel != nil {
		cancel(errCancelled)
	}
	j.mu.Unlock()
	job, _, _, err := decode(out.Attributes)
	return job, err
}

// Resume takes over every running job whose lease expired or was released, and continues it.
func (j *Jobs) Resume(ctx context.Context) error {
	var start map[string]types.AttributeValue
	for {
		out, err := j.o.DB.Query(ctx, &dynamodb.QueryInput{TableName: &j.o.Table, ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sv(pkRunning)}, ExclusiveStartKey: start})
		if err != nil {
			return fmt.Errorf("list running replay jobs: %w", err)
		}
		for _, it := range out.Items {
			t, _ := it[attrSK].(*types.AttributeValueMemberS)
			id, _ := it["job_id"].(*types.AttributeValueMemberS)
			if t == nil || id == nil {
				continue
			}
			if err := j.takeOver(ctx, t.Value, id.Value); err != nil {
				j.o.Logger.Warn("resume replay job", "tenant", t.Value, "job", id.Value, "error", err.Error())
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// takeOver claims a running job whose lease is over and continues it; a finished one is unlisted.
func (j *Jobs) takeOver(ctx context.Context, tenantID, id string) error {
	j.mu.Lock()
	_, mine := j.running[id]
	j.mu.Unlock()
	if mine {
		return nil
	}
	now := j.o.Now().UTC()
	out, err := j.o.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &j.o.Table, Key: key(tenantPK(tenantID), jobSK(id)),
		UpdateExpression:          aws.String("SET #o = :me, lease_until = :lease, resumed = resumed + :one, updated_at = :now"),
		ConditionExpression:       aws.String("#s = :running AND (attribute_not_exists(lease_until) OR lease_until < :nowms)"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner", "#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": sv(j.o.Owner), ":lease": nv(now.Add(j.o.Lease).UnixMilli()), ":one": nv(1), ":now": sv(now.Format(time.RFC3339Nano)), ":nowms": nv(now.UnixMilli()), ":running": sv(JobRunning)},
		ReturnValues:              types.ReturnValueAllNew})
	var ccf *types.ConditionalCheckFailedException
	var it map[string]types.AttributeValue
	switch {
	case errors.As(err, &ccf):
		got, gerr := j.o.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &j.o.Table, Key: key(tenantPK(tenantID), jobSK(id)), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return gerr
		}
		job, owner, _, derr := decode(got.Item)
		switch {
		case len(got.Item) == 0 || derr == nil && job.State != JobRunning:
			return j.unlist(ctx, tenantID, id) // finished, but its process stopped before unlisting it
		case derr != nil || owner != j.o.Owner:
			return derr // another process holds it (nil), or the item is unreadable
		}
		it = got.Item // this process's claim committed but its answer was lost: the SDK's retry found it taken
	case err != nil:
		return err
	default:
		it = out.Attributes
	}
	job, _, _, err := decode(it)
	if err != nil {
		return err
	}
	j.o.Logger.Info("replay job resumed", "tenant", tenantID, "job", id, "start_after", job.NextStartAfter)
	j.launch(job, j.spec(job), job.Progress)
	return nil
}

// unlist removes the tenant's lock and running entry if they still name job id.
func (j *Jobs) unlist(ctx context.Context, tenantID, id string) error {
	cond := aws.String("job_id = :id")
	vals := map[string]types.AttributeValue{":id": sv(id)}
	_, err := j.o.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &j.o.Table, Key: key(tenantPK(tenantID), skLock), ConditionExpression: cond, ExpressionAttributeValues: vals}},
		{Delete: &types.Delete{TableName: &j.o.Table, Key: key(pkRunning, tenantID), ConditionExpression: cond, ExpressionAttributeValues: vals}},
	}})
	return err
}

// launch runs a job on its own goroutine.
func (j *Jobs) launch(job Job, spec Spec, base JobProgress) {
	ctx, cancel := context.WithCancelCause(j.base)
	j.mu.Lock()
	j.running[job.ID] = cancel
	j.mu.Unlock()
	j.wg.Go(func() {
		defer func() {
			j.mu.Lock()
			delete(j.running, job.ID)
			j.mu.Unlock()
			cancel(nil)
		}()
		j.run(ctx, job, spec, base)
	})
}

// run enqueues the job's objects, checkpointing as it goes, and records how it ended.
func (j *Jobs) run(ctx context.Context, job Job, spec Spec, base JobProgress) {
	p := &Progress{}
	// mu guards what checkpoints write: next (the last key enqueued) and snap (the counters as of that key,
	// which a resumption does not list again), and when the last checkpoint was written.
	var mu sync.Mutex
	last := j.o.Now()
	var sinceCkpt int64
	next := job.NextStartAfter
	var snap JobProgress
	write := func() {
		mu.Lock()
		last, sinceCkpt = j.o.Now(), 0
		prog, key := base.plus(snap), next
		mu.Unlock()
		cancelled, err := j.checkpoint(ctx, job, prog, key)
		switch {
		case err != nil:
			j.o.Logger.Warn("replay job checkpoint", "tenant", job.TenantID, "job", job.ID, "error", err.Error())
			if errors.Is(err, errLost) {
				j.cancel(job.ID, errLost)
			}
		case cancelled:
			j.cancel(job.ID, errCancelled)
		}
	}
	ckpt := func(lastKey string) {
		mu.Lock()
		next, snap = lastKey, progressOf(p)
		sinceCkpt++
		due := j.o.Now().Sub(last) >= j.o.CheckpointEvery || sinceCkpt >= 100 // 100 batches: up to 1,000 objects
		mu.Unlock()
		if due {
			write()
		}
	}
	// A heartbeat renews the lease (and sees cancel requests) while nothing is enqueued: a long listing of
	// objects outside the window, or a slow queue.
	hbCtx, stopHB := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Go(func() {
		t := time.NewTicker(max(j.o.CheckpointEvery, time.Second))
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
			}
			mu.Lock()
			due := j.o.Now().Sub(last) >= j.o.CheckpointEvery
			mu.Unlock()
			if due {
				write()
			}
		}
	})
	o := Options{Lister: j.o.Lister, Queue: j.o.Queue, QueueURL: j.o.QueueURL, KeyID: j.o.KeyID, Secret: j.o.Secret, Rate: j.o.Rate,
		OnEnqueued: ckpt, Logger: j.o.Logger, Now: j.o.Now, Wait: j.o.Wait}
	sum, err := Run(ctx, &spec, o, p)
	stopHB()
	hb.Wait()
	prog := base.plus(progressOf(p))
	if sum.NextStartAfter != "" {
		next = sum.NextStartAfter
	}
	fctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		err = j.finish(fctx, job, JobSucceeded, prog, next, "")
	case errors.Is(cause, errShutdown):
		err = j.release(fctx, job, base.plus(snap), next)
	case errors.Is(cause, errLost):
		return // another process owns it now
	case errors.Is(cause, errCancelled):
		err = j.finish(fctx, job, JobCancelled, prog, next, "")
	default:
		err = j.finish(fctx, job, JobFailed, prog, next, err.Error())
	}
	if err != nil {
		j.o.Logger.Warn("record the end of a replay job", "tenant", job.TenantID, "job", job.ID, "error", err.Error())
	}
}

func (j *Jobs) cancel(id string, cause error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if c := j.running[id]; c != nil {
		c(cause)
	}
}

// errLost: the job's lease was taken by another process.
var errLost = errors.New("replay job taken over by another process")

// checkpoint records progress and renews the lease while this process owns the job; it reports a cancel
// request.
func (j *Jobs) checkpoint(ctx context.Context, job Job, prog JobProgress, next string) (cancelled bool, err error) {
	b, _ := json.Marshal(prog)
	now := j.o.Now().UTC()
	out, err := j.o.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &j.o.Table, Key: key(tenantPK(job.TenantID), jobSK(job.ID)),
		UpdateExpression:          aws.String("SET progress = :p, next_start_after = :n, lease_until = :lease, updated_at = :now"),
		ConditionExpression:       aws.String("#o = :me AND #s = :running"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner", "#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(string(b)), ":n": sv(next), ":lease": nv(now.Add(j.o.Lease).UnixMilli()), ":now": sv(now.Format(time.RFC3339Nano)), ":me": sv(j.o.Owner), ":running": sv(JobRunning)},
		ReturnValues:              types.ReturnValueAllNew})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, errLost
	}
	if err != nil {
		return false, err
	}
	v, _ := out.Attributes["cancel_requested"].(*types.AttributeValueMemberBOOL)
	return v != nil && v.Value, nil
}

// release records where a job stopped and gives up its lease: any process may resume it now.
func (j *Jobs) release(ctx context.Context, job Job, prog JobProgress, next string) error {
	b, _ := json.Marshal(prog)
	now := j.o.Now().UTC()
	_, err := j.o.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &j.o.Table, Key: key(tenantPK(job.TenantID), jobSK(job.ID)),
		UpdateExpression:          aws.String("SET progress = :p, next_start_after = :n, lease_until = :zero, updated_at = :now REMOVE #o"),
		ConditionExpression:       aws.String("#o = :me AND #s = :running"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner", "#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(string(b)), ":n": sv(next), ":zero": nv(0), ":now": sv(now.Format(time.RFC3339Nano)), ":me": sv(j.o.Owner), ":running": sv(JobRunning)}})
	return err
}

// finish records a job's end and frees the tenant for another job, in one transaction.
func (j *Jobs) finish(ctx context.Context, job Job, state string, prog JobProgress, next, errText string) error {
	b, _ := json.Marshal(prog)
	now := j.o.Now().UTC()
	cond := aws.String("job_id = :id")
	vals := map[string]types.AttributeValue{":id": sv(job.ID)}
	upd := "SET #s = :state, progress = :p, next_start_after = :n, updated_at = :now, finished_at = :now, expires_at = :exp REMOVE #o, lease_until"
	uvals := map[string]types.AttributeValue{":state": sv(state), ":p": sv(string(b)), ":n": sv(next), ":now": sv(now.Format(time.RFC3339Nano)),
		":exp": nv(now.Add(j.o.Retention).Unix()), ":me": sv(j.o.Owner), ":running": sv(JobRunning)}
	if errText != "" {
		upd = "SET #s = :state, progress = :p, next_start_after = :n, updated_at = :now, finished_at = :now, expires_at = :exp, #e = :err REMOVE #o, lease_until"
		uvals[":err"] = sv(errText)
	}
	names := map[string]string{"#s": "state", "#o": "owner"}
	if errText != "" {
		names["#e"] = "error"
	}
	_, err := j.o.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: &j.o.Table, Key: key(tenantPK(job.TenantID), jobSK(job.ID)), UpdateExpression: &upd,
			ConditionExpression: aws.String("#o = :me AND #s = :running"), ExpressionAttributeNames: names, ExpressionAttributeValues: uvals}},
		{Delete: &types.Delete{TableName: &j.o.Table, Key: key(tenantPK(job.TenantID), skLock), ConditionExpression: cond, ExpressionAttributeValues: vals}},
		{Delete: &types.Delete{TableName: &j.o.Table, Key: key(pkRunning, job.TenantID), ConditionExpression: cond, ExpressionAttributeValues: vals}},
	}})
	if err == nil {
		j.o.Logger.Info("replay job ended", "tenant", job.TenantID, "job", job.ID, "state", state, "enqueued", prog.Enqueued)
	}
	return err
}
