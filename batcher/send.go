package batcher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func (b *Batcher) worker() {
	defer b.wg.Done()
	for req := range b.queue {
		b.send(req)
	}
}

// backoffErr asks retry for a new attempt after the backoff wait, whatever the error's class.
type backoffErr struct{ err error }

func (e backoffErr) Error() string { return e.err.Error() }
func (e backoffErr) Unwrap() error { return e.err }

func (b *Batcher) send(req *request) {
	defer close(req.done)
	defer req.release()
	for _, d := range req.deps {
		select {
		case <-d.done:
			if d.err != nil {
				req.err = fmt.Errorf("previous piece of a split message not delivered: %w", d.err)
				return
			}
		case <-b.ctx.Done():
			req.err = b.ctx.Err()
			b.fail(&Error{Op: "PutLogEvents", Dest: b.dest, Retryable: true, Err: req.err})
			return
		}
	}
	if err := b.failure(); err != nil {
		req.err = err
		return
	}
	if err := b.createFirst(); err != nil {
		req.err = err
		var be *Error
		if !errors.As(err, &be) {
			c := classify(err)
			be = &Error{Op: "CreateLogStream", Dest: b.dest, Err: err, Retryable: c.transient() || c == classCanceled}
		}
		b.fail(be)
		return
	}
	if m := b.opts.Metrics; m != nil {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
	}
	attempts, err := retry(b.ctx, b.failed, b.opts.Retry, func(n int) error {
		if n > 1 {
			b.statsMu.Lock()
			b.stats.Retries++
			b.statsMu.Unlock()
			if m := b.opts.Metrics; m != nil {
				m.retries.Inc()
			}
		}
		seen := b.opts.Existence.generation(streamKey(b.scope, b.dest))
		start := time.Now()
		out, err := b.put(req)
		if m := b.opts.Metrics; m != nil {
			m.duration.Observe(time.Since(start).Seconds())
			result := "ok"
			if err != nil {
				result = classify(err).String()
			}
			m.requests.WithLabelValues(result).Inc()
		}
		if err == nil {
			b.accepted(req, out)
			return nil
		}
		if errors.As(err, new(backoffErr)) || classify(err) != classNotFound {
			return err
		}
		createdNow, cerr := b.ensureDestination(groupMissing(err), seen)
		if cerr != nil {
			return cerr
		}
		if createdNow {
			return retryNow{err}
		}
		// Created earlier by this batcher and still not found: eventual consistency or a concurrent
		// delete; retry with backoff within the attempt budget rather than recreating.
		return backoffErr{err}
	})
	if err != nil {
		req.err = err
		var be *Error
		if !errors.As(err, &be) {
			c := classify(err)
			be = &Error{Op: "PutLogEvents", Dest: b.dest, Attempts: attempts, Err: err,
				Retryable: c.transient() || c == classCanceled || errors.As(err, new(backoffErr))}
		}
		b.fail(be)
	}
}

func disableSDKRetries(o *cloudwatchlogs.Options) { o.RetryMaxAttempts = 1 }

func (b *Batcher) put(req *request) (*cloudwatchlogs.PutLogEventsOutput, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.AttemptTimeout)
	defer cancel()
	out, err := b.putAttempt(ctx, req)
	if err != nil && b.ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		// The attempt timed out, not the delivery: a network failure, retried with backoff.
		return nil, backoffErr{fmt.Errorf("attempt timed out after %v: %w", b.opts.AttemptTimeout, err)}
	}
	return out, err
}

func (b *Batcher) putAttempt(ctx context.Context, req *request) (*cloudwatchlogs.PutLogEventsOutput, error) {
	in := &cloudwatchlogs.PutLogEventsInput{
		LogGroupName:  aws.String(b.dest.LogGroup),
		LogStreamName: aws.String(b.dest.LogStream),
	}
	if b.opts.StockSerializer {
		if req.body == nil && len(req.wires) > 0 {
			evs := make([]types.InputLogEvent, req.n)
			var buf []byte
			for i := range req.n {
				buf = unescapeWire(buf[:0], req.wires[i])
				evs[i] = types.InputLogEvent{Timestamp: aws.Int64(req.ts[i]), Message: aws.String(string(buf))}
			}
			in.LogEvents = evs
		}
		return b.client.PutLogEvents(ctx, in, disableSDKRetries)
	}
	in.LogEvents = []types.InputLogEvent{}
	body := *req.body
	if req.hash == "" {
		// Hashed once per request (retries reuse it) and straight from the buffer: the SDK would read the
		// body through a 32 KiB copy buffer on every attempt.
		sum := sha256.Sum256(body)
		req.hash = hex.EncodeToString(sum[:])
	}
	hash := req.hash
	return b.client.PutLogEvents(ctx, in, disableSDKRetries, func(o *cloudwatchlogs.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			_, err := s.Serialize.Swap("OperationSerializer", &rawBodySerializer{body: body, hash: hash})
			return err
		})
	})
}

// rawBodySerializer replaces PutLogEvents' operation serializer with a pre-built JSON body and hands the
// signer that body's SHA-256 (hex), so the SDK's payload-hash step does not compute it again; everything else
// (endpoint resolution, signing, SDK middleware) stays the SDK's.
type rawBodySerializer struct {
	body []byte
	hash string
}

func (*rawBodySerializer) ID() string { return "OperationSerializer" }

func (m *rawBodySerializer) HandleSerialize(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected transport type %T", in.Request)
	}
	req.Method = http.MethodPost
	if req.URL.Path == "" {
		req.URL.Path = "/"
	}
	req.Header.Set("X-Amz-Target", "Logs_20140328.PutLogEvents")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sreq, err := req.SetStream(&bodyStream{r: bytes.NewReader(m.body)})
	if err != nil {
		return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("set stream: %w", err)
	}
	*req = *sreq
	return next.HandleSerialize(v4.SetPayloadHash(ctx, m.hash), in)
}

// bodyStream is a seekable request body that deliberately does not implement io.WriterTo. smithy-go wraps
// request bodies in a reader that, once closed (which the SDK does as soon as the response headers
// arrive), answers WriteTo with an io.EOF error; net/http's final read of the body goes through WriteTo when
// available, takes that error for a failed body read and closes the connection, breaking the read of a
// response body that had not yet arrived. That would turn an accepted request into a retry and duplicates.
// Through Read, a closed body reads as a clean EOF.
type bodyStream struct{ r *bytes.Reader }

func (b *bodyStream) Read(p []byte) (int, error)                   { return b.r.Read(p) }
func (b *bodyStream) Seek(offset int64, whence int) (int64, error) { return b.r.Seek(offset, whence) }
func (b *bodyStream) Len() int                                     { return b.r.Len() }

// accepted accounts for a successful PutLogEvents: rejected events per rejectedLogEventsInfo, the rest
// accepted; every event of the request is resolved (none is retried).
func (b *Batcher) accepted(req *request, out *cloudwatchlogs.PutLogEventsOutput) {
	tooOldEnd, expiredEnd, tooNewStart := 0, 0, req.n
	if out != nil && out.RejectedLogEventsInfo != nil {
		ri := out.RejectedLogEventsInfo
		if ri.TooOldLogEventEndIndex != nil {
			tooOldEnd = clampIndex(*ri.TooOldLogEventEndIndex, req.n)
		}
		if ri.ExpiredLogEventEndIndex != nil {
			expiredEnd = clampIndex(*ri.ExpiredLogEventEndIndex, req.n)
		}
		if ri.TooNewLogEventStartIndex != nil {
			tooNewStart = clampIndex(*ri.TooNewLogEventStartIndex, req.n)
		}
	}
	var old, expired, tooNew int64
	for i := range req.n {
		switch {
		case i < tooOldEnd:
			old++
		case i < expiredEnd:
			expired++
		case i >= tooNewStart:
			tooNew++
		}
	}
	okEvents := int64(req.n) - old - expired - tooNew
	fill := max(float64(req.bytes)/MaxRequestBytes, float64(req.n)/MaxRequestEvents)
	b.statsMu.Lock()
	b.stats.Requests++
	b.stats.Bytes += int64(req.bytes)
	b.stats.FillSum += fill
	b.statsMu.Unlock()
	b.count("out", &b.stats.EventsOut, okEvents)
	if old > 0 {
		b.count("rejected_too_old", &b.stats.RejectedTooOld, old)
	}
	if expired > 0 {
		b.count("rejected_expired", &b.stats.RejectedExpired, expired)
	}
	if tooNew > 0 {
		b.count("rejected_too_new", &b.stats.RejectedTooNew, tooNew)
	}
	if m := b.opts.Metrics; m != nil {
		m.bytes.Add(float64(req.bytes))
		m.fill.Observe(fill)
	}
	b.acked(b.acks.resolveAll(req.seqs))
	b.knownMu.Lock()
	if !b.knownMarks {
		b.knownMarks = true
		b.opts.Existence.markKnown(streamKey(b.scope, b.dest))
	}
	b.knownMu.Unlock()
}

func clampIndex(v int32, n int) int {
	return min(max(int(v), 0), n)
}

// ensureDestination creates the stream, and the log group when it is missing, at most once per batcher (and
// once at a time per destination across batchers sharing the ExistenceCache). noGroup says the group is known
// to be missing (PutLogEvents said so): the group is created first. seen is the stream's generation in the
// cache when the refused request was sent (0: unknown): a stream another batcher created or wrote to since is
// not created again. createdNow is true when this call performed, joined or found a successful creation.
func (b *Batcher) ensureDestination(noGroup bool, seen uint64) (createdNow bool, err error) {
	b.createMu.Lock()
	defer b.createMu.Unlock()
	if b.created {
		return false, nil
	}
	key := streamKey(b.scope, b.dest)
	if err := b.opts.Existence.create(b.ctx, key, seen, func() error { return b.createDestination(noGroup) }); err != nil {
		return false, err
	}
	b.created = true
	return true, nil
}

// createDestination creates the stream; when the group is missing (noGroup, or CreateLogStream says so) it
// creates the group first.
func (b *Batcher) createDestination(noGroup bool) error {
	gk := groupKey(b.scope, b.dest.LogGroup)
	if !noGroup {
		err := b.createStream()
		if err == nil || !errors.As(err, new(*types.ResourceNotFoundException)) {
			return err
		}
		b.opts.Existence.forget(gk) // missing, whatever this process knew
	}
	if err := b.createGroup(); err != nil {
		if noGroup && isAccessDenied(err) && b.createStream() == nil {
			return nil // the group existed after all; this role may create streams, not groups
		}
		return err
	}
	err := b.createStream()
	if noGroup && errors.As(err, new(*types.ResourceNotFoundException)) {
		// The group known to exist (created since the put was refused) is gone: make it again.
		b.opts.Existence.forget(gk)
		if err := b.createGroup(); err != nil {
			return err
		}
		return b.createStream()
	}
	return err
}

func (b *Batcher) createStream() error {
	return b.createCall("CreateLogStream", func() error {
		_, err := b.client.CreateLogStream(b.ctx, &cloudwatchlogs.CreateLogStreamInput{
			LogGroupName: aws.String(b.dest.LogGroup), LogStreamName: aws.String(b.dest.LogStream),
		}, disableSDKRetries)
		return err
	})
}

// createGroup creates the log group (with its retention, KMS key and tags when this call created it), once
// per group across the batchers sharing the ExistenceCache: a group this process created or found existing
// is not created again until it is found missing (forgotten); an existing group is success.
func (b *Batcher) createGroup() error {
	return b.opts.Existence.create(b.ctx, groupKey(b.scope, b.dest.LogGroup), 0, func() error {
		groupCreated := false
		err := b.createCall("CreateLogGroup", func() error {
			in := &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(b.dest.LogGroup), Tags: b.opts.Tags}
			if b.opts.KMSKeyID != "" {
				in.KmsKeyId = aws.String(b.opts.KMSKeyID)
			}
			_, err := b.client.CreateLogGroup(b.ctx, in, disableSDKRetries)
			if err == nil {
				groupCreated = true
			}
			return err
		})
		if err != nil {
			return err
		}
		if groupCreated {
			b.opts.Existence.markKnown(createdGroupKey(b.scope, b.dest.LogGroup))
			if b.opts.RetentionDays > 0 {
				return b.createCall("PutRetentionPolicy", func() error {
					_, err := b.client.PutRetentionPolicy(b.ctx, &cloudwatchlogs.PutRetentionPolicyInput{
						LogGroupName: aws.String(b.dest.LogGroup), RetentionInDays: aws.Int32(b.opts.RetentionDays),
					}, disableSDKRetries)
					return err
				})
			}
		}
		return nil
	})
}

// createCall runs one creation call under the retry policy; ResourceAlreadyExistsException is success.
// A ResourceNotFoundException is returned unwrapped so the caller can react to it; other failures become
// *Error.
func (b *Batcher) createCall(op string, call func() error) error {
	attempts, err := retry(b.ctx, b.failed, b.opts.Retry, func(int) error {
		err := call()
		result := "ok"
		if errors.As(err, new(*types.ResourceAlreadyExistsException)) {
			err, result = nil, "exists"
		} else if err != nil {
			result = "error"
		}
		if m := b.opts.Metrics; m != nil {
			m.creates.WithLabelValues(op, result).Inc()
		}
		return err
	})
	if err == nil || errors.As(err, new(*types.ResourceNotFoundException)) {
		return err
	}
	c := classify(err)
	return &Error{Op: op, Dest: b.dest, Attempts: attempts, Err: err, Retryable: c.transient() || c == classCanceled}
}
