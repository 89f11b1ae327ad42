package status

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/tenant"
)

// Category names the cause of a failed delivery (or validation step). The values are stable: they are
// stored, returned by the API and used as metric label values.
type Category string

// Categories. Side tells who has to act: the customer (their role, log group, key or bucket) or the
// platform (logrouter's own role, source bucket or capacity).
const (
	CategoryNone Category = ""
	// Platform side.
	CategoryCentralRole   Category = "central_role_denied"
	CategorySourceBucket  Category = "source_unavailable"
	CategoryCorruptObject Category = "corrupt_object"
	CategoryTransient     Category = "transient"
	CategorySTSError      Category = "sts_unavailable"
	// Customer side.
	CategoryCustomerRole      Category = "customer_role_denied"
	CategoryCustomerRoleError Category = "customer_role_invalid"
	CategoryLogGroupCreate    Category = "log_group_create_denied"
	CategoryKMS               Category = "kms_denied"
	CategoryPutDenied         Category = "put_log_events_denied"
	CategoryThrottled         Category = "throttled"
	CategoryEventsRejected    Category = "events_rejected"
	CategoryBucketMissing     Category = "destination_bucket_missing"
	CategoryBucketDenied      Category = "bucket_policy_denied"
	CategoryWrongRegion       Category = "wrong_region"
	CategoryDestinationReject Category = "destination_rejected"
	CategorySlowDestination   Category = "slow_destination"
	CategoryCircuitOpen       Category = "circuit_open"
	CategoryUnknown           Category = "unknown"
)

// Side is who has to act on a category.
func (c Category) Side() string {
	switch c {
	case CategoryNone:
		return ""
	case CategoryCentralRole, CategorySourceBucket, CategoryCorruptObject, CategoryTransient, CategorySTSError, CategoryUnknown:
		return "platform"
	}
	return "customer"
}

// Hint is the customer-actionable advice for a category of a destination type. It never contains
// credentials or ExternalIds (it is a fixed text).
func Hint(c Category, t tenant.Type) string {
	switch c {
	case CategoryCentralRole:
		return "Platform side: logrouter cannot assume its own central log distribution role. Check the role's trust policy admits the processor's execution identity and that it exists; no customer action is needed."
	case CategoryCustomerRole:
		return "Customer side: the central role cannot assume your log distribution role. Check that the role exists, that its trust policy names the central role ARN as principal, and that its sts:ExternalId condition equals the ExternalId given to you at onboarding (the tenant's external_id, or the central account id when none is configured)."
	case CategoryCustomerRoleError:
		return "Customer side: assuming your log distribution role failed for a reason other than access (for example the role ARN is malformed, or its maximum session duration is below one hour). Check the role ARN in the delivery configuration."
	case CategorySTSError:
		return "Platform side: AWS STS was unavailable or throttled while assuming roles; deliveries are retried. No customer action is needed unless this persists."
	case CategoryLogGroupCreate:
		return "Customer side: the log group does not exist and your role may not create it. Create the log group yourself, or allow logs:CreateLogGroup (and logs:PutRetentionPolicy when retention is configured) on it in the role's policy."
	case CategoryKMS:
		if t == tenant.TypeS3 {
			return "Customer side: the KMS key configured for the bucket's encryption cannot be used. Check the key exists, is enabled, is in the bucket's region, and that its key policy allows kms:GenerateDataKey and kms:Encrypt for the central role."
		}
		return "Customer side: CloudWatch Logs cannot use the configured KMS key. Check the key exists, is enabled, is in the destination region, and that its key policy allows the logs.<region>.amazonaws.com service principal (kms:Encrypt*, kms:Decrypt*, kms:ReEncrypt*, kms:GenerateDataKey*, kms:Describe*) for this log group."
	case CategoryPutDenied:
		return "Customer side: your role was assumed but may not write to the log group. Allow logs:CreateLogStream and logs:PutLogEvents on arn:aws:logs:<region>:<account>:log-group:<group>:* in the role's policy (and check no SCP or permission boundary denies them)."
	case CategoryThrottled:
		return "CloudWatch Logs throttled the deliveries to your account (PutLogEvents or stream creation quotas). Deliveries are retried; if this persists, request a quota increase or reduce the number of log streams."
	case CategoryEventsRejected:
		return "Some events were rejected by CloudWatch Logs as too old (older than 14 days or than the log group's retention) or too new (more than 2 hours in the future). Check the clocks of the sending workloads and the log group's retention."
	case CategoryBucketMissing:
		return "Customer side: the destination bucket does not exist (or is not visible from the configured region). Create it, or correct bucket_name in the delivery configuration."
	case CategoryBucketDenied:
		return "Customer side: the bucket refused the copy. The bucket policy must allow s3:PutObject for the central role ARN on the configured prefix; when it requires the bucket-owner-full-control ACL (condition s3:x-amz-acl), that is what logrouter sends. Also check that no SCP, Block Public Access or KMS key policy denies the write."
	case CategoryWrongRegion:
		return "Customer side: the destination is in another region than the delivery configuration says. Set target_region to the bucket's (or log group's) region."
	case CategoryDestinationReject:
		return "The destination rejected the request as invalid (for example an unsupported storage class or encryption setting). Check the delivery configuration's encryption and naming settings."
	case CategorySlowDestination:
		return "The destination stopped accepting events for a long time (throttling or a slow network) and was detached from the object; it resumes on redelivery. Check the destination account's CloudWatch Logs quotas."
	case CategoryCircuitOpen:
		return "Deliveries to this destination are paused for a short cooldown after repeated access denials; see the last failure's category for what to fix."
	case CategorySourceBucket:
		return "Platform side: logrouter could not read the object from its central bucket (missing, access denied or unavailable). No customer action is needed."
	case CategoryCorruptObject:
		return "Platform side: the collected object was corrupt; everything readable was delivered. No customer action is needed."
	case CategoryTransient:
		return "A transient error (network or a service's 5xx); deliveries are retried. No action is needed unless this persists."
	case CategoryUnknown:
		return "An unexpected error; the message has details. Contact the platform team if it persists."
	}
	return ""
}

// Failure stage of a delivery, as the engine reports it (its Reason), used where the error alone is not
// enough (e.g. a source-side failure).
const (
	reasonSourceMissing    = "source_object_missing"
	reasonSourceSuperseded = "source_object_superseded"
	reasonBucketMissing    = "destination_bucket_missing"
	reasonRejected         = "destination_rejected"
	reasonCorrupt          = "corrupt_object"
	reasonCircuitOpen      = "circuit_open"
	reasonSlow             = "slow_destination"
	reasonConfigLookup     = "config_lookup"
	reasonProgress         = "progress_store"
)

var (
	s3AccessDenied = map[string]bool{"AccessDenied": true, "AllAccessDisabled": true, "AccountProblem": true}
	wrongRegion    = map[string]bool{"PermanentRedirect": true, "AuthorizationHeaderMalformed": true, "IllegalLocationConstraintException": true, "IncorrectEndpoint": true}
	throttleCodes  = map[string]bool{"ThrottlingException": true, "Throttling": true, "TooManyRequestsException": true,
		"RequestLimitExceeded": true, "SlowDown": true, "LimitExceededException": true}
	cwlDenied = map[string]bool{"AccessDeniedException": true, "AccessDenied": true, "UnrecognizedClientException": true}
	kmsCodes  = map[string]bool{"KMSInvalidStateException": true, "KmsInvalidStateException": true, "KMSDisabledException": true,
		"KMSAccessDeniedException": true, "KMSNotFoundException": true, "InvalidKMSKeyException": true}
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Classify names the category of a delivery failure from its typed error (credentials' hop errors,
// batcher.Error's operation, smithy API error codes) and the engine's reason. It never looks at message
// text. A nil error with an empty reason is CategoryNone.
func Classify(t tenant.Type, reason string, err error) Category {
	var ad *credentials.AccessDeniedError
	var ar *credentials.AssumeRoleError
	switch {
	case errors.As(err, &ad):
		if ad.Hop == credentials.HopCentral {
			return CategoryCentralRole
		}
		return CategoryCustomerRole
	case errors.As(err, &ar):
		if ar.Transient {
			return CategorySTSError
		}
		if ar.Hop == credentials.HopCentral {
			return CategoryCentralRole
		}
		return CategoryCustomerRoleError
	}
	switch reason {
	case reasonSourceMissing, reasonSourceSuperseded, reasonConfigLookup, reasonProgress:
		return CategorySourceBucket
	case reasonCorrupt:
		return CategoryCorruptObject
	case reasonCircuitOpen:
		return CategoryCircuitOpen
	case reasonSlow:
		return CategorySlowDestination
	case reasonBucketMissing:
		return CategoryBucketMissing
	}
	code := apiCode(err)
	if code == "" {
		switch {
		case err == nil && reason == "":
			return CategoryNone
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), batcher.IsRetryable(err):
			return CategoryTransient
		case reason == reasonRejected:
			return CategoryDestinationReject
		}
		if err == nil {
			return CategoryUnknown
		}
		return CategoryTransient
	}
	switch {
	case throttleCodes[code]:
		return CategoryThrottled
	case kmsCodes[code] || strings.HasPrefix(code, "KMS."):
		return CategoryKMS
	}
	if t == tenant.TypeS3 {
		switch {
		case code == "NoSuchBucket":
			return CategoryBucketMissing
		case wrongRegion[code]:
			return CategoryWrongRegion
		case s3AccessDenied[code]:
			return CategoryBucketDenied
		}
	} else {
		var be *batcher.Error
		op := ""
		if errors.As(err, &be) {
			op = be.Op
		}
		switch {
		case op == "CreateLogGroup" && code == "InvalidParameterException":
			// CloudWatch answers InvalidParameterException when the KMS key given at creation does not
			// exist, is disabled or may not be used (the group's name is validated before).
			return CategoryKMS
		case (op == "CreateLogGroup" || op == "PutRetentionPolicy") && cwlDenied[code]:
			return CategoryLogGroupCreate
		case cwlDenied[code]:
			return CategoryPutDenied
		}
	}
	if reason == reasonRejected {
		return CategoryDestinationReject
	}
	if batcher.IsRetryable(err) {
		return CategoryTransient
	}
	return CategoryUnknown
}

// maxMessage bounds stored error messages.
const maxMessage = 600

var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b`),      // access key and unique ids
	regexp.MustCompile(`(?i)(external[_-]?id"?\s*[=:]\s*"?)[^\s",&}]+`), // ExternalId=..., "external_id":"..."
	regexp.MustCompile(`(?i)(x-amz-security-token|securitytoken|sessiontoken|secretaccesskey|signature)("?\s*[=:]\s*"?)[^\s",&}]+`),
	regexp.MustCompile(`(?i)(credential=)[^\s,]+`),
}

// Scrub removes credentials and ExternalIds from a message: every string in secrets (e.g. the config's
// ExternalId), anything shaped like an AWS access key id, and the values of ExternalId, session token,
// secret key, signature and credential parameters; then bounds its length.
func Scrub(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 2 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	msg = secretPatterns[0].ReplaceAllString(msg, "[redacted]")
	msg = secretPatterns[1].ReplaceAllString(msg, "${1}[redacted]")
	msg = secretPatterns[2].ReplaceAllString(msg, "${1}${2}[redacted]")
	msg = secretPatterns[3].ReplaceAllString(msg, "${1}[redacted]")
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && msg[cut]&0xC0 == 0x80 {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
