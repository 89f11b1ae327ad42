package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/tenant"
)

// SQSSender is the subset of *sqs.Client an enqueueing replay calls.
type SQSSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Deliverer delivers one object in this process (an *engine.Processor).
type Deliverer interface {
	ProcessObject(ctx context.Context, obj engine.ObjectRef) engine.ObjectResult
}

// Options say how a replay runs: exactly one of dry run, enqueue (Queue) or local delivery (Deliverer).
type Options struct {
	Lister S3Lister

	// Enqueue: one signed notification per object on QueueURL, at most Rate messages per second (0: no
	// limit), signed with the replay key KeyID/Secret (shared with the processors).
	Queue    SQSSender
	QueueURL string
	KeyID    string
	Secret   []byte
	Rate     float64
	// OnEnqueued, when set, is called after each batch the queue accepted with the last key sent (everything
	// up to it is enqueued); it must not block long.
	OnEnqueued func(lastKey string)

	// Local delivery: Workers objects at a time (default 4).
	Deliverer Deliverer
	Workers   int

	// DryRun lists the window's objects (to OnObject) and sends nothing.
	DryRun   bool
	OnObject func(Object)

	Logger *slog.Logger
	Now    func() time.Time
	// Wait blocks for d or until ctx ends (default: a timer); tests substitute a recording fake.
	Wait func(ctx context.Context, d time.Duration) error
}

// Progress is a running replay's counters, safe to read while it runs (see Snapshot).
type Progress struct {
	List      ListStats
	Handled   atomic.Int64 // objects enqueued, delivered, or (dry run) listed
	Bytes     atomic.Int64 // their bytes
	Failed    atomic.Int64 // local delivery: objects not (fully) delivered
	Skipped   atomic.Int64 // too old for a CloudWatch-only drop replay: not enqueued
	Messages  atomic.Int64 // SQS messages sent
	started   time.Time
	startOnce sync.Once
}

func (p *Progress) start(now time.Time) { p.startOnce.Do(func() { p.started = now }) }

// Summary is a replay's result, printed as JSON at its end.
type Summary struct {
	ReplayID    string        `json:"replay_id"`
	Tenant      string        `json:"tenant"`
	Bucket      string        `json:"bucket"`
	Mode        string        `json:"mode"` // enqueue, local or dry-run
	Since       *time.Time    `json:"since,omitempty"`
	Until       *time.Time    `json:"until,omitempty"`
	Clusters    []string      `json:"clusters,omitempty"`
	Apps        []string      `json:"applications,omitempty"`
	Types       []tenant.Type `json:"types"`
	OutOfWindow string        `json:"out_of_window"`
	Force       bool          `json:"force,omitempty"`
	StartAfter  string        `json:"start_after,omitempty"`

	ClustersListed int64 `json:"clusters_listed"`
	ObjectsListed  int64 `json:"objects_listed"`
	BeforeWindow   int64 `json:"objects_before_window"`
	AfterWindow    int64 `json:"objects_after_window"`
	BadKeys        int64 `json:"objects_bad_key,omitempty"`
	Matched        int64 `json:"objects_in_window"`
	MatchedBytes   int64 `json:"bytes_in_window"`
	// TooOld: objects in the window written more than 14 days ago (CloudWatch takes none of their events).
	TooOld int64 `json:"objects_out_of_cloudwatch_window"`

	Enqueued int64 `json:"objects_enqueued,omitempty"`
	Messages int64 `json:"messages_sent,omitempty"`
	// SkippedTooOld: too-old objects a CloudWatch-only drop replay did not enqueue.
	SkippedTooOld int64 `json:"objects_not_enqueued_out_of_window,omitempty"`

	Delivered       int64            `json:"objects_delivered,omitempty"`
	Failed          int64            `json:"objects_failed,omitempty"`
	FailedReasons   map[string]int64 `json:"failed_by_reason,omitempty"`
	FailedKeys      []string         `json:"failed_keys,omitempty"` // the first maxFailedKeys
	AlreadyDone     int64            `json:"destinations_already_done,omitempty"`
	DestDelivered   int64            `json:"destinations_delivered,omitempty"`
	Events          int64            `json:"events_delivered,omitempty"`
	EventsDropped   int64            `json:"events_out_of_window_dropped,omitempty"`
	EventsClamped   int64            `json:"events_out_of_window_clamped,omitempty"`
	EventsRejected  int64            `json:"events_rejected_by_cloudwatch,omitempty"`
	Interrupted     bool             `json:"interrupted,omitempty"`
	NextStartAfter  string           `json:"next_start_after,omitempty"` // continue with --start-after this
	Error           string           `json:"error,omitempty"`
	DurationSeconds float64          `json:"duration_seconds"`
}

const maxFailedKeys = 100

// Run performs the replay spec describes (validated by the caller) and returns its summary; the error is
// the reason it stopped early (ctx ended: Summary.Interrupted, with NextStartAfter set to continue).
func Run(ctx context.Context, spec *Spec, o Options, p *Progress) (Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wait == nil {
		o.Wait = wait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if p == nil {
		p = &Progress{}
	}
	start := o.Now()
	p.start(start)
	m := spec.Marker()
	sum := Summary{ReplayID: spec.ID, Tenant: spec.Tenant, Bucket: spec.Bucket, Clusters: spec.Clusters, Apps: spec.Applications,
		Types: m.Types, OutOfWindow: m.OutOfWindow, Force: spec.Force, StartAfter: spec.StartAfter}
	if !spec.Since.IsZero() {
		sum.Since = &spec.Since
	}
	if !spec.Until.IsZero() {
		sum.Until = &spec.Until
	}
	var err error
	var next string
	switch {
	case o.DryRun:
		sum.Mode = "dry-run"
		err = List(ctx, o.Lister, spec, start, &p.List, func(obj Object) error {
			if o.OnObject != nil {
				o.OnObject(obj)
			}
			p.Handled.Add(1)
			p.Bytes.Add(obj.Size)
			next = obj.Key
			return nil
		})
	case o.Queue != nil:
		sum.Mode = "enqueue"
		next, err = enqueue(ctx, spec, m, o, p, start)
		sum.Enqueued, sum.Messages, sum.SkippedTooOld = p.Handled.Load(), p.Messages.Load(), p.Skipped.Load()
	case o.Deliverer != nil:
		sum.Mode = "local"
		next, err = deliver(ctx, spec, m, o, p, start, &sum)
	default:
		return sum, errors.New("replay: no queue, no deliverer and not a dry run")
	}
	sum.ClustersListed, sum.ObjectsListed = p.List.Clusters.Load(), p.List.Listed.Load()
	sum.BeforeWindow, sum.AfterWindow, sum.BadKeys = p.List.BeforeWindow.Load(), p.List.AfterWindow.Load(), p.List.BadKeys.Load()
	sum.Matched, sum.MatchedBytes, sum.TooOld = p.List.Matched.Load(), p.List.MatchedBytes.Load(), p.List.TooOld.Load()
	sum.DurationSeconds = o.Now().Sub(start).Seconds()
	if err != nil {
		sum.Error = err.Error()
		sum.Interrupted = true
		sum.NextStartAfter = next
		if next == "" {
			sum.NextStartAfter = spec.StartAfter
		}
	}
	return sum, err
}

// wait blocks for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sendAttempts bounds how often one batch entry is sent before the replay stops.
const sendAttempts = 5

// enqueue sends one signed notification per object, in key order, at most o.Rate per second. It returns
// the last key such that it and every key before it were sent.
func enqueue(ctx context.Context, spec *Spec, m engine.Replay, o Options, p *Progress, start time.Time) (string, error) {
	if o.QueueURL == "" {
		return "", errors.New("replay: no queue URL")
	}
	cwDropOnly := len(m.Types) == 1 && m.Types[0] == tenant.TypeCloudWatch && m.OutOfWindow == "drop"
	batchMax := 10
	if o.Rate > 0 && o.Rate < 10 {
		batchMax = max(1, int(o.Rate))
	}
	var batch []Object
	due := start // when the next batch may leave
	var done string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if o.Rate > 0 {
			// A batch of k messages takes k/rate seconds of the budget; time not used (a slow listing) is not
			// saved up, so no burst ever exceeds one batch.
			if wait := due.Sub(o.Now()); wait > 0 {
				if err := o.Wait(ctx, wait); err != nil {
					return err
				}
			}
			due = later(due, o.Now()).Add(time.Duration(float64(len(batch)) / o.Rate * float64(time.Second)))
		}
		if err := sendBatch(ctx, o, m, spec.Bucket, batch); err != nil {
			return err
		}
		p.Messages.Add(int64(len(batch)))
		for _, obj := range batch {
			p.Handled.Add(1)
			p.Bytes.Add(obj.Size)
		}
		done = batch[len(batch)-1].Key
		batch = batch[:0]
		if o.OnEnqueued != nil {
			o.OnEnqueued(done)
		}
		return nil
	}
	err := List(ctx, o.Lister, spec, start, &p.List, func(obj Object) error {
		if obj.TooOld && cwDropOnly {
			p.Skipped.Add(1) // every event would be dropped
			return nil
		}
		batch = append(batch, obj)
		if len(batch) == batchMax {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return done, err
}

// sendBatch sends one message per object, retrying failed entries; it fails when an entry still fails
// after sendAttempts or ctx ends.
func sendBatch(ctx context.Context, o Options, m engine.Replay, bucket string, objs []Object) error {
	pending := map[string]sqstypes.SendMessageBatchRequestEntry{}
	for i, obj := range objs {
		ref := engine.ObjectRef{Bucket: bucket, Key: obj.Key, Size: obj.Size, ETag: obj.ETag, VersionID: obj.VersionID, EventTime: obj.LastModified}
		body, err := engine.EncodeReplayMessage(m, o.KeyID, o.Secret, []engine.ObjectRef{ref})
		if err != nil {
			return err
		}
		id := strconv.Itoa(i)
		pending[id] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(string(body))}
	}
	var lastErr error
	for attempt := range sendAttempts {
		if attempt > 0 {
			if err := o.Wait(ctx, time.Duration(1<<attempt)*100*time.Millisecond); err != nil {
				return err
			}
		}
		entries := make([]sqstypes.SendMessageBatchRequestEntry, 0, len(pending))
		for _, e := range pending {
			entries = append(entries, e)
		}
		sort.Slice(entries, func(i, j int) bool { return aws.ToString(entries[i].Id) < aws.ToString(entries[j].Id) })
		out, err := o.Queue.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(o.QueueURL), Entries: entries})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			lastErr = fmt.Errorf("send replay messages to %s: %w", o.QueueURL, err)
			o.Logger.Warn("send replay messages", "attempt", attempt+1, "error", err.Error())
			continue
		}
		for _, s := range out.Successful {
			delete(pending, aws.ToString(s.Id))
		}
		for _, f := range out.Failed {
			lastErr = fmt.Errorf("send replay message: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
			if f.SenderFault {
				return lastErr // the message itself is refused: retrying cannot help
			}
		}
		if len(pending) == 0 {
			return nil
		}
	}
	return lastErr
}
