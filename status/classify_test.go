package status

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/tenant"
)

func api(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "message text is never read"}
}

func TestClassify(t *testing.T) {
	cw, s3 := tenant.TypeCloudWatch, tenant.TypeS3
	wrap := func(err error) error { return fmt.Errorf("deliver to g:s: %w", err) }
	tests := map[string]struct {
		typ    tenant.Type
		reason string
		err    error
		want   Category
	}{
		"central hop denied": {cw, "access_denied", wrap(&credentials.AccessDeniedError{Hop: credentials.HopCentral, Err: api("AccessDenied")}), CategoryCentralRole},
		"customer hop denied": {cw, "access_denied", wrap(&credentials.AccessDeniedError{Hop: credentials.HopCustomer, RoleARN: "arn:aws:iam::1:role/r", Err: api("AccessDenied")}),
			CategoryCustomerRole},
		"customer hop malformed":   {cw, "transient", &credentials.AssumeRoleError{Hop: credentials.HopCustomer, Code: "ValidationError", Err: api("ValidationError")}, CategoryCustomerRoleError},
		"sts throttled":            {cw, "transient", &credentials.AssumeRoleError{Hop: credentials.HopCustomer, Code: "Throttling", Transient: true, Err: api("Throttling")}, CategorySTSError},
		"create log group denied":  {cw, "access_denied", wrap(&batcher.Error{Op: "CreateLogGroup", Err: api("AccessDeniedException")}), CategoryLogGroupCreate},
		"retention denied":         {cw, "access_denied", wrap(&batcher.Error{Op: "PutRetentionPolicy", Err: api("AccessDeniedException")}), CategoryLogGroupCreate},
		"kms key refused":          {cw, "destination_rejected", wrap(&batcher.Error{Op: "CreateLogGroup", Err: api("InvalidParameterException")}), CategoryKMS},
		"kms invalid state on put": {cw, "destination_rejected", wrap(&batcher.Error{Op: "PutLogEvents", Err: api("KMSInvalidStateException")}), CategoryKMS},
		"put denied":               {cw, "access_denied", wrap(&batcher.Error{Op: "PutLogEvents", Err: api("AccessDeniedException")}), CategoryPutDenied},
		"stream denied":            {cw, "access_denied", wrap(&batcher.Error{Op: "CreateLogStream", Err: api("AccessDeniedException")}), CategoryPutDenied},
		"throttled":                {cw, "transient", wrap(&batcher.Error{Op: "PutLogEvents", Retryable: true, Err: api("ThrottlingException")}), CategoryThrottled},
		"invalid parameter":        {cw, "destination_rejected", wrap(&batcher.Error{Op: "PutLogEvents", Err: api("InvalidParameterException")}), CategoryDestinationReject},
		"network":                  {cw, "transient", wrap(&batcher.Error{Op: "PutLogEvents", Retryable: true, Err: context.DeadlineExceeded}), CategoryTransient},
		"slow":                     {cw, "slow_destination", fmt.Errorf("accepted no event"), CategorySlowDestination},
		"circuit":                  {cw, "circuit_open", fmt.Errorf("circuit breaker open"), CategoryCircuitOpen},
		"source missing":           {cw, "source_object_missing", wrap(api("NoSuchKey")), CategorySourceBucket},
		"corrupt":                  {cw, "corrupt_object", fmt.Errorf("gzip: invalid header"), CategoryCorruptObject},
		"bucket missing":           {s3, "destination_bucket_missing", wrap(api("NoSuchBucket")), CategoryBucketMissing},
		"bucket policy denies":     {s3, "access_denied", wrap(api("AccessDenied")), CategoryBucketDenied},
		"wrong region":             {s3, "transient", wrap(api("PermanentRedirect")), CategoryWrongRegion},
		"wrong region signature":   {s3, "transient", wrap(api("AuthorizationHeaderMalformed")), CategoryWrongRegion},
		"s3 kms disabled":          {s3, "destination_rejected", wrap(api("KMS.DisabledException")), CategoryKMS},
		"s3 slow down":             {s3, "transient", wrap(api("SlowDown")), CategoryThrottled},
		"s3 invalid":               {s3, "destination_rejected", wrap(api("InvalidStorageClass")), CategoryDestinationReject},
		"success":                  {s3, "", nil, CategoryNone},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Classify(tc.typ, tc.reason, tc.err)
			assert.Equal(t, tc.want, got)
			if got != CategoryNone {
				assert.NotEmpty(t, Hint(got, tc.typ), "every category has a hint")
				assert.NotEmpty(t, got.Side())
			}
		})
	}
}

func TestClassifyIgnoresMessageText(t *testing.T) {
	// A message that mentions throttling and KMS, with a code that means neither.
	err := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "ThrottlingException KMS NoSuchBucket"}
	assert.Equal(t, CategoryPutDenied, Classify(tenant.TypeCloudWatch, "access_denied", &batcher.Error{Op: "PutLogEvents", Err: err}))
}

func TestScrub(t *testing.T) {
	tests := map[string]struct {
		in      string
		secrets []string
		gone    []string
		kept    []string
	}{
		"external id given":   {"assume role with external id my-ext-id-123 failed", []string{"my-ext-id-123"}, []string{"my-ext-id-123"}, []string{"assume role"}},
		"external id pattern": {`request ExternalId=abc123XYZ&RoleArn=arn:aws:iam::1:role/r`, nil, []string{"abc123XYZ"}, []string{"RoleArn=arn:aws:iam::1:role/r"}},
		"json external id":    {`{"external_id":"zzz-999"}`, nil, []string{"zzz-999"}, nil},
		"access key":          {"signed with AKIAIOSFODNN7EXAMPLE and ASIAXXXXXXXXXXXXXXXX", nil, []string{"AKIAIOSFODNN7EXAMPLE", "ASIAXXXXXXXXXXXXXXXX"}, []string{"signed with"}},
		"session token":       {"X-Amz-Security-Token=FQoGZXIvYXdzEJr//////////wEaDM&x=1", nil, []string{"FQoGZXIvYXdzEJr"}, []string{"x=1"}},
		"signature":           {"Credential=AKID/20261204/us-east-1/sts/aws4_request, Signature=deadbeef01", nil, []string{"deadbeef01", "AKID/2026"}, nil},
		"secret key":          {`SecretAccessKey: "wJalrXUtnFEMI/K7MDENG"`, nil, []string{"wJalrXUtnFEMI"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := Scrub(tc.in, tc.secrets...)
			for _, g := range tc.gone {
				assert.NotContains(t, out, g)
			}
			for _, k := range tc.kept {
				assert.Contains(t, out, k)
			}
		})
	}
	long := Scrub(strings.Repeat("é", 1000))
	assert.LessOrEqual(t, len(long), maxMessage+len("…"))
	assert.True(t, strings.HasSuffix(long, "…"))
}

func TestHintsHoldNoSecrets(t *testing.T) {
	for _, c := range []Category{CategoryCentralRole, CategoryCustomerRole, CategoryCustomerRoleError, CategorySTSError, CategoryLogGroupCreate,
		CategoryKMS, CategoryPutDenied, CategoryThrottled, CategoryEventsRejected, CategoryBucketMissing, CategoryBucketDenied,
		CategoryWrongRegion, CategoryDestinationReject, CategorySlowDestination, CategoryCircuitOpen, CategorySourceBucket,
		CategoryCorruptObject, CategoryTransient, CategoryUnknown} {
		for _, typ := range tenant.Types {
			h := Hint(c, typ)
			assert.NotEmpty(t, h, c)
			assert.Equal(t, h, Scrub(h), "hint of %s is fixed text without secrets", c)
		}
	}
}

func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	fail := func(s int, c Category) *Failure { return &Failure{At: at(s), Key: fmt.Sprint("k", s), Category: c} }
	tests := map[string]struct {
		cur         stored
		b           batch
		consecutive int64
		since       time.Time
		success     time.Time
		failureCat  Category
		failureAt   time.Time
	}{
		"first failures": {
			b:           batch{failed: 3, failure: fail(3, CategoryCustomerRole), streak: 3, streakFirst: at(1), streakLast: at(3)},
			consecutive: 3, since: at(1), failureCat: CategoryCustomerRole, failureAt: at(3),
		},
		"more failures add up": {
			cur:         stored{failure: fail(3, CategoryCustomerRole), consecutive: 3, failingSince: at(1)},
			b:           batch{failed: 2, failure: fail(5, CategoryCustomerRole), streak: 2, streakFirst: at(4), streakLast: at(5)},
			consecutive: 5, since: at(1), failureCat: CategoryCustomerRole, failureAt: at(5),
		},
		"a newer success resets": {
			cur:         stored{failure: fail(3, CategoryCustomerRole), consecutive: 3, failingSince: at(1)},
			b:           batch{ok: 1, success: &Success{At: at(6)}},
			consecutive: 0, success: at(6), failureCat: CategoryCustomerRole, failureAt: at(3),
		},
		"older success of another process does not reset": {
			cur:         stored{success: &Success{At: at(2)}, failure: fail(9, CategoryPutDenied), consecutive: 4, failingSince: at(5)},
			b:           batch{ok: 1, success: &Success{At: at(1)}},
			consecutive: 4, since: at(5), success: at(2), failureCat: CategoryPutDenied, failureAt: at(9),
		},
		"failures after my success, others' after it too": {
			cur:         stored{success: &Success{At: at(2)}, failure: fail(8, CategoryPutDenied), consecutive: 2, failingSince: at(7)},
			b:           batch{ok: 1, success: &Success{At: at(5)}, failure: fail(9, CategoryPutDenied), streak: 1, streakFirst: at(9), streakLast: at(9)},
			consecutive: 3, since: at(7), success: at(5), failureCat: CategoryPutDenied, failureAt: at(9),
		},
		"stale failures do not replace a newer one": {
			cur:         stored{failure: fail(9, CategoryKMS), consecutive: 1, failingSince: at(9)},
			b:           batch{failed: 1, failure: fail(4, CategoryThrottled), streak: 1, streakFirst: at(4), streakLast: at(4)},
			consecutive: 2, since: at(4), failureCat: CategoryKMS, failureAt: at(9),
		},
		"circuit open keeps the cause": {
			cur:         stored{failure: fail(3, CategoryCustomerRole), consecutive: 3, failingSince: at(1)},
			b:           batch{failed: 1, failure: fail(7, CategoryCircuitOpen), streak: 1, streakFirst: at(7), streakLast: at(7)},
			consecutive: 4, since: at(1), failureCat: CategoryCustomerRole, failureAt: at(7),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := merge(tc.cur, &tc.b)
			assert.Equal(t, tc.consecutive, got.consecutive, "consecutive")
			assert.Equal(t, tc.since, got.failingSince, "failing since")
			if tc.success.IsZero() {
				assert.Nil(t, got.success)
			} else {
				assert.Equal(t, tc.success, got.success.At)
			}
			assert.Equal(t, tc.failureCat, got.failure.Category)
			assert.Equal(t, tc.failureAt, got.failure.At)
		})
	}
}

func TestDeriveHealth(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	since := now.Add(-time.Hour)
	tests := map[string]struct {
		r    Record
		want Health
	}{
		"never":   {Record{}, HealthUnknown},
		"success": {Record{LastSuccess: &Success{At: now.Add(-time.Minute)}, LastFailure: &Failure{At: now.Add(-time.Hour)}}, HealthHealthy},
		"failing": {Record{LastSuccess: &Success{At: now.Add(-time.Hour)}, LastFailure: &Failure{At: now.Add(-time.Minute)}, FailingSince: &since}, HealthFailing},
		"idle":    {Record{LastSuccess: &Success{At: now.Add(-25 * time.Hour)}}, HealthIdle},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.r.DeriveHealth(now, 24*time.Hour)
			assert.Equal(t, tc.want, tc.r.Health)
			if tc.want != HealthFailing {
				assert.Nil(t, tc.r.FailingSince)
			}
		})
	}
}
