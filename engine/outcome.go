package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/credentials"
)

// Outcome is what happens to a message, record, object or destination after an attempt.
// Outcomes are ordered: a combination takes the worst (the largest).
type Outcome uint8

const (
	// OutcomeSuccess: delivered, or nothing to deliver. The message is deleted.
	OutcomeSuccess Outcome = iota
	// OutcomeDropped: non-recoverable; a redelivery cannot succeed. The message is deleted and counted by Reason.
	OutcomeDropped
	// OutcomeRetry: recoverable; the message is left for redelivery (and the DLQ after maxReceiveCount).
	OutcomeRetry
)

func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeDropped:
		return "dropped"
	case OutcomeRetry:
		return "retry"
	}
	return "unknown"
}

// MarshalText renders the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads an outcome's name.
func (o *Outcome) UnmarshalText(b []byte) error {
	for _, c := range []Outcome{OutcomeSuccess, OutcomeDropped, OutcomeRetry} {
		if string(b) == c.String() {
			*o = c
			return nil
		}
	}
	return fmt.Errorf("unknown outcome %q", b)
}

// Reason names why an attempt was dropped or is retried. The values are metric label values.
type Reason string

// Non-recoverable reasons.
const (
	ReasonMalformedBody            Reason = "malformed_body"
	ReasonKeyLayout                Reason = "key_layout"
	ReasonUnknownBucket            Reason = "unknown_source_bucket"
	ReasonNoTenantConfig           Reason = "no_tenant_config"
	ReasonSourceMissing            Reason = "source_object_missing"
	ReasonSourceSuperseded         Reason = "source_object_superseded"
	ReasonDestinationBucketMissing Reason = "destination_bucket_missing"
	ReasonDestinationRejected      Reason = "destination_rejected"
	ReasonCorruptObject            Reason = "corrupt_object"
)

// Recoverable reasons.
const (
	ReasonTransient    Reason = "transient"
	ReasonAccessDenied Reason = "access_denied"
	ReasonCircuitOpen  Reason = "circuit_open"
	ReasonInterrupted  Reason = "interrupted"
	ReasonConfigLookup Reason = "config_lookup"
	ReasonProgress     Reason = "progress_store"
	// ReasonSlowDestination: a destination stopped accepting events and was detached from the object's
	// stream so its other destinations could finish; it resumes at its acknowledged offset.
	ReasonSlowDestination Reason = "slow_destination"
	// ReasonTenantBusy: the tenant has its share of the workers while a tenant with fewer waits (or its waiting
	// allowance is used); the poller hands the message back with a short, jittered visibility delay.
	ReasonTenantBusy Reason = "tenant_busy"
	// ReasonRateLimited: the tenant is over its rate limit; the message is offered again when it has
	// recovered.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonLeased: another process holds the delivery's lease (it is delivering the same object); the
	// message is offered again once that lease would have expired.
	ReasonLeased Reason = "leased"
)

// status is an outcome with its reason and cause.
type status struct {
	Outcome Outcome
	Reason  Reason
	Err     error
}

func (s status) worse(o status) status {
	if o.Outcome > s.Outcome {
		return o
	}
	return s
}

var accessDeniedCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"InvalidClientTokenId": true, "ExpiredToken": true, "ExpiredTokenException": true,
	"UnrecognizedClientException": true,
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isAccessDenied(err error) bool {
	return credentials.IsAccessDenied(err) || accessDeniedCodes[apiCode(err)]
}

func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// classifySource classifies an error reading the central bucket's object.
func classifySource(ctx context.Context, err error) status {
	switch {
	case interrupted(ctx, err):
		return status{OutcomeRetry, ReasonInterrupted, err}
	case isAccessDenied(err):
		return status{OutcomeRetry, ReasonAccessDenied, err}
	}
	switch apiCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchVersion":
		return status{OutcomeDropped, ReasonSourceMissing, err}
	}
	return status{OutcomeRetry, ReasonTransient, err}
}

// classifyCopy classifies a CopyObject error.
func classifyCopy(ctx context.Context, err error) status {
	switch {
	case interrupted(ctx, err):
		return status{OutcomeRetry, ReasonInterrupted, err}
	case isAccessDenied(err):
		return status{OutcomeRetry, ReasonAccessDenied, err}
	}
	switch apiCode(err) {
	case "NoSuchBucket":
		return status{OutcomeDropped, ReasonDestinationBucketMissing, err}
	case "NoSuchKey", "NotFound":
		return status{OutcomeDropped, ReasonSourceMissing, err}
	case "InvalidArgument", "InvalidRequest", "InvalidBucketName", "KeyTooLongError", "InvalidStorageClass",
		"KMS.NotFoundException", "KMS.DisabledException", "InvalidObjectState":
		return status{OutcomeDropped, ReasonDestinationRejected, err}
	}
	return status{OutcomeRetry, ReasonTransient, err}
}

// classifyCloudWatch classifies a credential or batcher error for a CloudWatch destination.
func classifyCloudWatch(ctx context.Context, err error) status {
	switch {
	case interrupted(ctx, err):
		return status{OutcomeRetry, ReasonInterrupted, err}
	case isAccessDenied(err):
		return status{OutcomeRetry, ReasonAccessDenied, err}
	case batcher.IsRetryable(err):
		return status{OutcomeRetry, ReasonTransient, err}
	case apiCode(err) != "":
		// CloudWatch answered and the batcher judged the answer final (e.g. InvalidParameterException).
		return status{OutcomeDropped, ReasonDestinationRejected, err}
	}
	// Anything else (e.g. a credential endpoint unreachable) may pass.
	return status{OutcomeRetry, ReasonTransient, err}
}
