// Package validate checks a delivery configuration by running the real delivery path step by step, before
// (or instead of waiting for) the first delivery: the role assumptions, the destination's existence and
// region, and one clearly marked write. Each step reports its result, duration and, when it failed, the
// failure category and the customer-actionable hint of package status (the same classification as the
// processor's delivery status), so an onboarding problem reads the same before and after go-live.
//
// CloudWatch: assume the central role; assume the customer role with the config's ExternalId; check the log
// group exists (or create it with the configured retention and KMS key); write one validation event to the
// stream logrouter-validation with the batcher the processor uses.
// S3: assume the central role; check the bucket exists and is in the expected region; put a small marker
// object under the configured prefix with the bucket-owner-full-control ACL and the configured encryption.
// With Write false the writing steps (group creation, the event, the marker) are skipped and say so.
//
// Messages never contain credentials or the config's ExternalId (status.Scrub).
package validate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
)

// ValidationStream is the CloudWatch log stream validation events are written to.
const ValidationStream = "logrouter-validation"

// MarkerDir is the folder, under the configured prefix, of S3 validation markers.
const MarkerDir = "logrouter-validation/"

// Step names.
const (
	StepCentralRole  = "assume_central_role"
	StepCustomerRole = "assume_customer_role"
	StepLogGroup     = "log_group"
	StepWriteEvent   = "write_event"
	StepBucket       = "bucket"
	StepPutMarker    = "put_marker"
)

// Result of a step.
type Result string

// Step results.
const (
	ResultOK      Result = "ok"
	ResultFailed  Result = "failed"
	ResultWarning Result = "warning" // could not be checked fully; delivery may still work
	ResultSkipped Result = "skipped" // not run: an earlier step failed, or writes were not requested
)

// Step is one check's outcome.
type Step struct {
	Name       string          `json:"name" doc:"Step identifier."`
	Title      string          `json:"title" doc:"What the step checks."`
	Result     Result          `json:"result" enum:"ok,failed,warning,skipped"`
	DurationMS float64         `json:"duration_ms"`
	Detail     string          `json:"detail,omitempty" doc:"What was found or done."`
	Category   status.Category `json:"category,omitempty" doc:"Failure category (as in the delivery status)."`
	Side       string          `json:"side,omitempty" doc:"Who has to act: customer or platform."`
	Hint       string          `json:"hint,omitempty" doc:"What to fix."`
	Error      string          `json:"error,omitempty" doc:"The error, without credentials or ExternalIds."`
}

// Report is a validation's outcome.
type Report struct {
	TenantID string      `json:"tenant_id"`
	Type     tenant.Type `json:"type"`
	OK       bool        `json:"ok" doc:"True when no step failed."`
	Write    bool        `json:"write" doc:"Whether the writing steps ran (?write=false skips them)."`
	Steps    []Step      `json:"steps"`
}

// S3API is the subset of *s3.Client validation calls.
type S3API interface {
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// LogsAPI is what validation calls on CloudWatch Logs: the batcher's calls and DescribeLogStreams.
type LogsAPI interface {
	batcher.API
	DescribeLogStreams(context.Context, *cloudwatchlogs.DescribeLogStreamsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error)
}

// Clients makes the role assumptions explicit (so each is a step) and hands out clients like the
// processor's. Errors of the assumptions are the credentials package's typed hop errors.
type Clients interface {
	AssumeCentral(ctx context.Context) error
	AssumeCustomer(ctx context.Context, roleARN, externalID, tenantID, region string) error
	S3(ctx context.Context, region string) (S3API, error)
	CloudWatchLogs(ctx context.Context, roleARN, externalID, tenantID, region string) (LogsAPI, string, error)
}

// Options configure a Validator.
type Options struct {
	// Region is the default destination region (a config without target_region).
	Region string
	// StepTimeout bounds each step (default 20s).
	StepTimeout time.Duration
	Now         func() time.Time
}

// Validator runs validations. Safe for concurrent use.
type Validator struct {
	clients Clients
	o       Options
}

// New returns a Validator.
func New(clients Clients, o Options) (*Validator, error) {
	if o.Region == "" {
		return nil, errors.New("validate: no default region")
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 20 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Validator{clients: clients, o: o}, nil
}

// run is one validation in progress.
type run struct {
	v      *Validator
	c      tenant.Config
	region string
	rep    Report
	failed bool
}

// Validate checks c (already validated as a config) and reports every step; it returns when all ran.
func (v *Validator) Validate(ctx context.Context, c tenant.Config, write bool) Report {
	r := &run{v: v, c: c, region: c.TargetRegion, rep: Report{TenantID: c.TenantID, Type: c.Type, Write: write, Steps: []Step{}}}
	if r.region == "" {
		r.region = v.o.Region
	}
	switch c.Type {
	case tenant.TypeCloudWatch:
		r.cloudwatch(ctx, write)
	case tenant.TypeS3:
		r.s3(ctx, write)
	}
	r.rep.OK = !r.failed
	return r.rep
}

// step runs f unless an earlier step failed, timing it and classifying its error.
func (r *run) step(ctx context.Context, name, title string, f func(ctx context.Context) (Result, string, error)) {
	st := Step{Name: name, Title: title}
	if r.failed {
		st.Result, st.Detail = ResultSkipped, "not run: an earlier step failed"
		r.rep.Steps = append(r.rep.Steps, st)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, r.v.o.StepTimeout)
	start := r.v.o.Now()
	res, detail, err := f(sctx)
	cancel()
	st.DurationMS = float64(r.v.o.Now().Sub(start).Microseconds()) / 1000
	st.Result, st.Detail = res, status.Scrub(detail, r.c.ExternalID)
	if err != nil {
		st.Error = status.Scrub(err.Error(), r.c.ExternalID)
		if res == ResultFailed {
			cat := status.Classify(r.c.Type, "", err)
			if cat == status.CategoryNone {
				cat = status.CategoryUnknown
			}
			st.Category, st.Side, st.Hint = cat, cat.Side(), status.Hint(cat, r.c.Type)
		}
	}
	if res == ResultFailed {
		r.failed = true
	}
	r.rep.Steps = append(r.rep.Steps, st)
}

func skipped(reason string) func(context.Context) (Result, string, error) {
	return func(context.Context) (Result, string, error) { return ResultSkipped, reason, nil }
}

const notWriting = "not run: write=false"

func (r *run) centralStep(ctx context.Context) {
	r.step(ctx, StepCentralRole, "assume the central log distribution role", func(ctx context.Context) (Result, string, error) {
		if err := r.v.clients.AssumeCentral(ctx); err != nil {
			return ResultFailed, "", err
		}
		return ResultOK, "assumed", nil
	})
}

func (r *run) cloudwatch(ctx context.Context, write bool) {
	c := r.c
	r.centralStep(ctx)
	r.step(ctx, StepCustomerRole, "assume the customer's log distribution role with the ExternalId", func(ctx context.Context) (Result, string, error) {
		if err := r.v.clients.AssumeCustomer(ctx, c.LogDistributionRoleARN, c.ExternalID, c.TenantID, r.region); err != nil {
			return ResultFailed, "", err
		}
		return ResultOK, "assumed " + c.LogDistributionRoleARN, nil
	})
	var client LogsAPI
	var scope string
	r.step(ctx, StepLogGroup, "the log group exists or can be created (retention, KMS key)", func(ctx context.Context) (Result, string, error) {
		var err error
		client, scope, err = r.v.clients.CloudWatchLogs(ctx, c.LogDistributionRoleARN, c.ExternalID, c.TenantID, r.region)
		if err != nil {
			return ResultFailed, "", err
		}
		_, err = client.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName: aws.String(c.LogGroupName), LogStreamNamePrefix: aws.String(ValidationStream), Limit: aws.Int32(1),
		})
		var nf *cwltypes.ResourceNotFoundException
		switch {
		case err == nil:
			return ResultOK, fmt.Sprintf("log group %s exists in %s", c.LogGroupName, r.region), nil
		case errors.As(err, &nf):
			if !write {
				return ResultWarning, fmt.Sprintf("log group %s does not exist in %s; the processor creates it on the first delivery (creation not tried: write=false)", c.LogGroupName, r.region), nil
			}
			return r.createGroup(ctx, client)
		case status.Classify(c.Type, "", &batcher.Error{Op: "DescribeLogStreams", Err: err}) == status.CategoryPutDenied:
			// Delivery does not need logs:DescribeLogStreams; the write step tells whether the group works.
			return ResultWarning, "could not check the log group: the role may not call logs:DescribeLogStreams (delivery does not need it)", err
		}
		return ResultFailed, "", &batcher.Error{Op: "DescribeLogStreams", Err: err}
	})
	if !write {
		r.step(ctx, StepWriteEvent, "write one validation event to the stream "+ValidationStream, skipped(notWriting))
		return
	}
	r.step(ctx, StepWriteEvent, "write one validation event to the stream "+ValidationStream, func(ctx context.Context) (Result, string, error) {
		b := batcher.New(ctx, client, scope, batcher.Destination{LogGroup: c.LogGroupName, LogStream: ValidationStream}, func(o *batcher.Options) {
			if c.RetentionInDays != nil {
				o.RetentionDays = *c.RetentionInDays
			}
			o.KMSKeyID = c.KMSKeyID
			o.Retry = batcher.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
		})
		now := r.v.o.Now().UTC()
		msg := fmt.Sprintf(`{"logrouter_validation":true,"tenant_id":%q,"message":"logrouter delivery validation event; safe to ignore","at":%q}`,
			c.TenantID, now.Format(time.RFC3339))
		if err := b.Add(batcher.Event{Timestamp: now.UnixMilli(), Message: []byte(msg)}); err != nil {
			b.Close()
			return ResultFailed, "", err
		}
		res, err := b.Close()
		if err != nil {
			return ResultFailed, "", err
		}
		if res.Stats.EventsOut != 1 {
			return ResultFailed, "", fmt.Errorf("CloudWatch Logs did not accept the validation event (rejected %d)", res.Stats.RejectedTooNew+res.Stats.RejectedTooOld+res.Stats.RejectedExpired)
		}
		return ResultOK, fmt.Sprintf("wrote 1 event to %s/%s", c.LogGroupName, ValidationStream), nil
	})
}

func (r *run) createGroup(ctx context.Context, client LogsAPI) (Result, string, error) {
	c := r.c
	in := &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(c.LogGroupName)}
	if c.KMSKeyID != "" {
		in.KmsKeyId = aws.String(c.KMSKeyID)
	}
	if _, err := client.CreateLogGroup(ctx, in); err != nil && !errors.As(err, new(*cwltypes.ResourceAlreadyExistsException)) {
		return ResultFailed, "", &batcher.Error{Op: "CreateLogGroup", Dest: batcher.Destination{LogGroup: c.LogGroupName}, Attempts: 1, Err: err}
	}
	detail := "created log group " + c.LogGroupName + " in " + r.region
	if c.KMSKeyID != "" {
		detail += " with the KMS key"
	}
	if c.RetentionInDays != nil {
		_, err := client.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(c.LogGroupName), RetentionInDays: c.RetentionInDays})
		if err != nil {
			return ResultFailed, detail, &batcher.Error{Op: "PutRetentionPolicy", Dest: batcher.Destination{LogGroup: c.LogGroupName}, Attempts: 1, Err: err}
		}
		detail += fmt.Sprintf(", retention %d days", *c.RetentionInDays)
	}
	return ResultOK, detail, nil
}

func (r *run) s3(ctx context.Context, write bool) {
	c := r.c
	r.centralStep(ctx)
	var client S3API
	r.step(ctx, StepBucket, "the bucket exists and is in the expected region", func(ctx context.Context) (Result, string, error) {
		var err error
		if client, err = r.v.clients.S3(ctx, r.region); err != nil {
			return ResultFailed, "", err
		}
		out, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.BucketName)})
		var re *smithyhttp.ResponseError
		if err != nil && errors.As(err, &re) {
			switch re.HTTPStatusCode() {
			case http.StatusNotFound:
				return ResultFailed, "", apiError{code: "NoSuchBucket", err: err}
			case http.StatusMovedPermanently, http.StatusBadRequest:
				where := re.Response.Header.Get("X-Amz-Bucket-Region")
				return ResultFailed, "bucket is in " + orUnknown(where) + ", expected " + r.region, apiError{code: "PermanentRedirect", err: err}
			case http.StatusForbidden:
				return ResultWarning, "the bucket exists, but the central role may not list it (s3:ListBucket), so its region was not checked", err
			}
		}
		if err != nil {
			return ResultFailed, "", err
		}
		if got := aws.ToString(out.BucketRegion); got != "" && got != r.region {
			return ResultFailed, "bucket is in " + got + ", expected " + r.region, apiError{code: "PermanentRedirect", err: fmt.Errorf("bucket %s is in %s, not %s", c.BucketName, got, r.region)}
		}
		return ResultOK, fmt.Sprintf("bucket %s exists in %s", c.BucketName, r.region), nil
	})
	if !write {
		r.step(ctx, StepPutMarker, "put a validation marker object with bucket-owner-full-control", skipped(notWriting))
		return
	}
	r.step(ctx, StepPutMarker, "put a validation marker object with bucket-owner-full-control", func(ctx context.Context) (Result, string, error) {
		now := r.v.o.Now().UTC()
		key := c.EffectiveBucketPrefix() + MarkerDir + now.Format("20060102T150405.000Z") + ".txt"
		sse, kms := engine.S3Encryption(c)
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(c.BucketName), Key: aws.String(key),
			Body:                 strings.NewReader("logrouter delivery validation marker for tenant " + c.TenantID + "; safe to delete\n"),
			ContentType:          aws.String("text/plain"),
			ACL:                  types.ObjectCannedACLBucketOwnerFullControl,
			ServerSideEncryption: sse, SSEKMSKeyId: kms,
			Metadata: map[string]string{engine.MetaTenant: c.TenantID, "logrouter-validation": "true"},
		})
		if err != nil {
			return ResultFailed, "", err
		}
		detail := "wrote s3://" + c.BucketName + "/" + key
		if sse != "" {
			detail += " (" + string(sse) + ")"
		}
		return ResultOK, detail, nil
	})
}

func orUnknown(s string) string {
	if s == "" {
		return "another region"
	}
	return s
}

// apiError gives an error without a modelled code (HeadBucket answers have no body) the code S3 uses
// elsewhere for the same condition, so status.Classify names it.
type apiError struct {
	code string
	err  error
}

func (e apiError) Error() string                 { return e.err.Error() }
func (e apiError) Unwrap() error                 { return e.err }
func (e apiError) ErrorCode() string             { return e.code }
func (e apiError) ErrorMessage() string          { return e.err.Error() }
func (e apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }
