package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/logrouter/logrouter/credentials"
)

func TestClassify(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	denied := &credentials.AccessDeniedError{Hop: "customer", RoleARN: "arn:aws:iam::1:role/r", TenantID: "t", Err: apiErr("AccessDenied")}
	tests := map[string]struct {
		f      func(context.Context, error) status
		ctx    context.Context
		err    error
		want   Outcome
		reason Reason
	}{
		"source NoSuchKey":               {classifySource, bg, fmt.Errorf("get: %w", apiErr("NoSuchKey")), OutcomeDropped, ReasonSourceMissing},
		"source head NotFound":           {classifySource, bg, apiErr("NotFound"), OutcomeDropped, ReasonSourceMissing},
		"source AccessDenied":            {classifySource, bg, apiErr("AccessDenied"), OutcomeRetry, ReasonAccessDenied},
		"source central role denied":     {classifySource, bg, denied, OutcomeRetry, ReasonAccessDenied},
		"source 5xx":                     {classifySource, bg, apiErr("InternalError"), OutcomeRetry, ReasonTransient},
		"source network":                 {classifySource, bg, errors.New("connection reset"), OutcomeRetry, ReasonTransient},
		"source cancelled":               {classifySource, canceled, context.Canceled, OutcomeRetry, ReasonInterrupted},
		"copy NoSuchBucket":              {classifyCopy, bg, apiErr("NoSuchBucket"), OutcomeDropped, ReasonDestinationBucketMissing},
		"copy source gone":               {classifyCopy, bg, apiErr("NoSuchKey"), OutcomeDropped, ReasonSourceMissing},
		"copy AccessDenied":              {classifyCopy, bg, apiErr("AccessDenied"), OutcomeRetry, ReasonAccessDenied},
		"copy invalid argument":          {classifyCopy, bg, apiErr("InvalidArgument"), OutcomeDropped, ReasonDestinationRejected},
		"copy SlowDown":                  {classifyCopy, bg, apiErr("SlowDown"), OutcomeRetry, ReasonTransient},
		"copy cancelled":                 {classifyCopy, canceled, apiErr("RequestCanceled"), OutcomeRetry, ReasonInterrupted},
		"cloudwatch customer role":       {classifyCloudWatch, bg, fmt.Errorf("put: %w", denied), OutcomeRetry, ReasonAccessDenied},
		"cloudwatch AccessDeniedExc":     {classifyCloudWatch, bg, apiErr("AccessDeniedException"), OutcomeRetry, ReasonAccessDenied},
		"cloudwatch throttled":           {classifyCloudWatch, bg, apiErr("ThrottlingException"), OutcomeRetry, ReasonTransient},
		"cloudwatch unavailable":         {classifyCloudWatch, bg, apiErr("ServiceUnavailableException"), OutcomeRetry, ReasonTransient},
		"cloudwatch invalid parameter":   {classifyCloudWatch, bg, apiErr("InvalidParameterException"), OutcomeDropped, ReasonDestinationRejected},
		"cloudwatch cancelled":           {classifyCloudWatch, canceled, context.Canceled, OutcomeRetry, ReasonInterrupted},
		"cloudwatch unknown non-API err": {classifyCloudWatch, bg, errors.New("something odd"), OutcomeRetry, ReasonTransient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := tc.f(tc.ctx, tc.err)
			assert.Equal(t, tc.want, s.Outcome)
			assert.Equal(t, tc.reason, s.Reason)
			assert.Equal(t, tc.err, s.Err)
		})
	}
}

func TestWorstOutcome(t *testing.T) {
	ok := status{}
	drop := status{OutcomeDropped, ReasonKeyLayout, nil}
	retry := status{OutcomeRetry, ReasonTransient, nil}
	assert.Equal(t, drop, ok.worse(drop))
	assert.Equal(t, retry, drop.worse(retry))
	assert.Equal(t, retry, retry.worse(drop))
	assert.Equal(t, drop, drop.worse(ok))
	assert.Equal(t, drop, drop.worse(status{OutcomeDropped, ReasonNoTenantConfig, nil}), "first of equals is kept")
}
