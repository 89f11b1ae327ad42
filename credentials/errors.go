package credentials

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Hop names a step of role assumption.
type Hop string

const (
	// HopCentral is the base credentials assuming the central log distribution role (and discovering the
	// central account id).
	HopCentral Hop = "central"
	// HopCustomer is the central role assuming a customer's log distribution role.
	HopCustomer Hop = "customer"
)

// AccessDeniedError is STS refusing a role assumption (AccessDenied): the role does not exist, its trust
// policy does not admit the assuming identity or ExternalId, or that identity lacks sts:AssumeRole. On the
// customer hop this is a customer misconfiguration; on the central hop it is logrouter's own.
// It never carries credentials or the ExternalId.
type AccessDeniedError struct {
	Hop      Hop
	RoleARN  string
	TenantID string // empty on the central hop
	Err      error
}

func (e *AccessDeniedError) Error() string {
	return fmt.Sprintf("access denied assuming %s: %v", describeRole(e.Hop, e.RoleARN, e.TenantID), e.Err)
}

func (e *AccessDeniedError) Unwrap() error { return e.Err }

// AssumeRoleError is any other failure of a hop. Transient failures (throttling, 5xx, network, timeouts)
// may succeed later without a configuration change; the others need one.
type AssumeRoleError struct {
	Hop       Hop
	RoleARN   string
	TenantID  string // empty on the central hop
	Code      string // the STS error code, or "network", "timeout", "canceled", "other"
	Transient bool
	Err       error
}

func (e *AssumeRoleError) Error() string {
	kind := "failed"
	if e.Transient {
		kind = "failed transiently"
	}
	return fmt.Sprintf("assuming %s %s (%s): %v", describeRole(e.Hop, e.RoleARN, e.TenantID), kind, e.Code, e.Err)
}

func (e *AssumeRoleError) Unwrap() error { return e.Err }

func describeRole(hop Hop, roleARN, tenantID string) string {
	if hop == HopCustomer {
		return fmt.Sprintf("customer role %s of tenant %q", roleARN, tenantID)
	}
	if roleARN == "" {
		return "central identity"
	}
	return "central role " + roleARN
}

// IsAccessDenied reports whether err (or an error it wraps, e.g. from a client call) is an *AccessDeniedError.
func IsAccessDenied(err error) bool {
	var ad *AccessDeniedError
	return errors.As(err, &ad)
}

// IsTransient reports whether err comes from a credential failure that may succeed later without a
// configuration change (throttling, 5xx, network, timeout). It is false for misconfiguration
// (AccessDenied, validation errors) and for errors that are not credential failures.
func IsTransient(err error) bool {
	var ar *AssumeRoleError
	return errors.As(err, &ar) && ar.Transient
}

// IsCredentialError reports whether err comes from retrieving credentials (either hop).
func IsCredentialError(err error) bool {
	var ar *AssumeRoleError
	return IsAccessDenied(err) || errors.As(err, &ar)
}

// transientCodes are STS (and generic AWS) error codes for rate limiting and server-side failures.
var transientCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestThrottledException": true,
	"TooManyRequestsException": true, "RequestLimitExceeded": true, "RequestThrottled": true,
	"PriorRequestNotComplete": true, "SlowDown": true, "IDPCommunicationError": true,
	"ServiceUnavailable": true, "InternalFailure": true, "InternalError": true,
}

var accessDeniedCodes = map[string]bool{"AccessDenied": true, "AccessDeniedException": true}

var codeLabelPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// classify names err's cause and tells whether it is transient.
func classify(err error) (code string, transient bool) {
	var status int
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
		if !codeLabelPattern.MatchString(code) {
			code = "other"
		}
		return code, transientCodes[code] || ae.ErrorFault() == smithy.FaultServer || status >= 500 || status == 429
	}
	if status != 0 {
		return fmt.Sprintf("http_%d", status), status >= 500 || status == 429
	}
	var canceled *aws.RequestCanceledError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", true
	case errors.Is(err, context.Canceled) || errors.As(err, &canceled):
		return "canceled", true
	}
	var ne net.Error
	if errors.As(err, &ne) || retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		return "network", true
	}
	return "other", false
}

// classifyHop turns a hop's failure into a typed error and names its code. An error that already is typed
// (the central hop failing underneath the customer hop) is returned unchanged, with own false.
func classifyHop(hop Hop, roleARN, tenantID string, err error) (code string, own bool, typed error) {
	if IsCredentialError(err) {
		return "", false, err
	}
	code, transient := classify(err)
	if accessDeniedCodes[code] {
		return code, true, &AccessDeniedError{Hop: hop, RoleARN: roleARN, TenantID: tenantID, Err: err}
	}
	return code, true, &AssumeRoleError{Hop: hop, RoleARN: roleARN, TenantID: tenantID, Code: code, Transient: transient, Err: err}
}
