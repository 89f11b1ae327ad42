package validate_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/stsgate"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
	"github.com/logrouter/logrouter/validate"
)

const secretExternalID = "ext-id-that-must-not-leak-42"

// faults wraps the real clients (credentials.Manager against moto behind an STS gate, and the strict
// CloudWatch fake) and injects what neither enforces: a bucket policy refusing PutObject, with the error S3
// returns.
type faults struct {
	validate.Clients
	putDenied string // bucket
}

type denyingS3 struct {
	validate.S3API
	bucket string
}

func (d denyingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if aws.ToString(in.Bucket) == d.bucket {
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}
	}
	return d.S3API.PutObject(ctx, in, optFns...)
}

func (f *faults) S3(ctx context.Context, region string) (validate.S3API, error) {
	c, err := f.Clients.S3(ctx, region)
	if err != nil || f.putDenied == "" {
		return c, err
	}
	return denyingS3{c, f.putDenied}, nil
}

type env struct {
	ctx  context.Context
	s3   *s3.Client
	cw   *cwlfake.Server
	f    *faults
	v    *validate.Validator
	gate *stsgate.Gate
}

const centralRoleARN = "arn:aws:iam::" + testaws.AccountID + ":role/central-log-distribution"

func newEnv(t *testing.T) *env {
	ep := testaws.Endpoint(t)
	cw := cwlfake.Start(t)
	gate, err := stsgate.New(ep)
	require.NoError(t, err)
	gateURL, stopGate := gate.Serve()
	t.Cleanup(stopGate)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_STS": gateURL,
		"AWS_ENDPOINT_URL":     ep, "AWS_REGION": testaws.Region, "AWS_ACCESS_KEY_ID": "testing",
		"AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": cw.URL,
	} {
		t.Setenv(k, v)
	}
	ctx := testaws.Context(t, 2*time.Minute)
	cfg, err := config.LoadDefaultConfig(ctx)
	require.NoError(t, err)
	m, err := credentials.New(cfg, credentials.Options{
		CentralRoleARN: centralRoleARN, S3UsePathStyle: true,
		NegativeTTL: time.Nanosecond,
	})
	require.NoError(t, err)
	f := &faults{Clients: validate.ManagerClients(m)}
	v, err := validate.New(f, validate.Options{Region: testaws.Region})
	require.NoError(t, err)
	return &env{ctx: ctx, s3: testaws.S3(t), cw: cw, f: f, v: v, gate: gate}
}

func cwConfig(group string) tenant.Config {
	days := int32(30)
	return tenant.Config{TenantID: "acme", Type: tenant.TypeCloudWatch, LogGroupName: group,
		LogDistributionRoleARN: "arn:aws:iam::210987654321:role/acme-logs", ExternalID: secretExternalID, RetentionInDays: &days}
}

func results(rep validate.Report) map[string]validate.Result {
	out := map[string]validate.Result{}
	for _, s := range rep.Steps {
		out[s.Name] = s.Result
	}
	return out
}

func stepOf(t *testing.T, rep validate.Report, name string) validate.Step {
	for _, s := range rep.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %s in %+v", name, rep.Steps)
	return validate.Step{}
}

func noSecrets(t *testing.T, rep validate.Report) {
	for _, s := range rep.Steps {
		for _, text := range []string{s.Detail, s.Error, s.Hint} {
			assert.NotContains(t, text, secretExternalID)
			assert.NotContains(t, text, "testing") // the base access key id
		}
	}
}

func TestValidateCloudWatch(t *testing.T) {
	e := newEnv(t)

	t.Run("correct setup creates the group and writes one marked event", func(t *testing.T) {
		c := cwConfig("/acme/ok")
		c.KMSKeyID = "arn:aws:kms:us-east-1:210987654321:key/good"
		rep := e.v.Validate(e.ctx, c, true)
		assert.True(t, rep.OK, "%+v", rep.Steps)
		assert.Equal(t, map[string]validate.Result{validate.StepCentralRole: validate.ResultOK, validate.StepCustomerRole: validate.ResultOK,
			validate.StepLogGroup: validate.ResultOK, validate.StepWriteEvent: validate.ResultOK}, results(rep))
		g, ok := e.cw.Group("/acme/ok")
		require.True(t, ok)
		assert.EqualValues(t, 30, g.RetentionDays)
		assert.Equal(t, c.KMSKeyID, g.KMSKeyID)
		evs := e.cw.Events("/acme/ok", validate.ValidationStream)
		require.Len(t, evs, 1)
		assert.Contains(t, evs[0].Message, `"logrouter_validation":true`)
		noSecrets(t, rep)

		// Again: the group exists now.
		rep = e.v.Validate(e.ctx, c, true)
		assert.True(t, rep.OK)
		assert.Contains(t, stepOf(t, rep, validate.StepLogGroup).Detail, "exists")
		assert.Len(t, e.cw.Events("/acme/ok", validate.ValidationStream), 2)
	})

	t.Run("the ExternalId the trust policy asks for", func(t *testing.T) {
		c := cwConfig("/acme/pinned")
		e.gate.Pin(c.LogDistributionRoleARN, secretExternalID)
		defer e.gate.Admit(c.LogDistributionRoleARN)
		rep := e.v.Validate(e.ctx, c, true)
		assert.True(t, rep.OK, "%+v", rep.Steps)
	})

	t.Run("write=false touches nothing", func(t *testing.T) {
		before := e.cw.Requests("CreateLogGroup") + e.cw.Requests("PutLogEvents")
		rep := e.v.Validate(e.ctx, cwConfig("/acme/absent"), false)
		assert.True(t, rep.OK, "a missing group is created on first delivery: not a failure")
		assert.Equal(t, validate.ResultWarning, stepOf(t, rep, validate.StepLogGroup).Result)
		assert.Equal(t, validate.ResultSkipped, stepOf(t, rep, validate.StepWriteEvent).Result)
		assert.Equal(t, before, e.cw.Requests("CreateLogGroup")+e.cw.Requests("PutLogEvents"))
		_, ok := e.cw.Group("/acme/absent")
		assert.False(t, ok)
	})

	tests := map[string]struct {
		setup    func(e *env, c *tenant.Config)
		failed   string
		category status.Category
		hint     string
	}{
		"central role denied": {
			setup:  func(e *env, c *tenant.Config) { e.gate.Refuse(centralRoleARN) },
			failed: validate.StepCentralRole, category: status.CategoryCentralRole, hint: "Platform side",
		},
		"customer trust policy wants another ExternalId": {
			setup: func(e *env, c *tenant.Config) {
				e.gate.Pin(c.LogDistributionRoleARN, "the-one-in-the-trust-policy")
			},
			failed: validate.StepCustomerRole, category: status.CategoryCustomerRole, hint: "ExternalId",
		},
		"customer trust policy does not name the central role": {
			setup:  func(e *env, c *tenant.Config) { e.gate.Refuse(c.LogDistributionRoleARN) },
			failed: validate.StepCustomerRole, category: status.CategoryCustomerRole, hint: "ExternalId",
		},
		"group missing and no permission to create it": {
			setup:  func(e *env, c *tenant.Config) { e.cw.Deny("CreateLogGroup", c.LogGroupName, "AccessDeniedException") },
			failed: validate.StepLogGroup, category: status.CategoryLogGroupCreate, hint: "logs:CreateLogGroup",
		},
		"KMS key refused": {
			setup: func(e *env, c *tenant.Config) {
				c.KMSKeyID = "arn:aws:kms:us-east-1:210987654321:key/denied"
				e.cw.DenyKMSKey(c.KMSKeyID)
			},
			failed: validate.StepLogGroup, category: status.CategoryKMS, hint: "key policy",
		},
		"PutLogEvents denied": {
			setup: func(e *env, c *tenant.Config) {
				e.cw.CreateLogStream(c.LogGroupName, validate.ValidationStream)
				e.cw.Deny("PutLogEvents", c.LogGroupName, "AccessDeniedException")
			},
			failed: validate.StepWriteEvent, category: status.CategoryPutDenied, hint: "logs:PutLogEvents",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c := cwConfig("/acme/" + strings.ReplaceAll(name, " ", "-"))
			tc.setup(e, &c)
			rep := e.v.Validate(e.ctx, c, true)
			assert.False(t, rep.OK)
			failedSeen := false
			for _, s := range rep.Steps {
				switch {
				case s.Name == tc.failed:
					failedSeen = true
					assert.Equal(t, validate.ResultFailed, s.Result)
					assert.Equal(t, tc.category, s.Category)
					assert.Contains(t, s.Hint, tc.hint)
					assert.NotEmpty(t, s.Error)
				case failedSeen:
					assert.Equal(t, validate.ResultSkipped, s.Result, "steps after the failing one are skipped")
				default:
					assert.Equal(t, validate.ResultOK, s.Result, "step %s before the failing one", s.Name)
				}
			}
			assert.True(t, failedSeen)
			noSecrets(t, rep)
		})
	}
}

func TestValidateS3(t *testing.T) {
	e := newEnv(t)
	bucket := testaws.Name("dest")
	_, err := e.s3.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: &bucket})
	require.NoError(t, err)
	cfg := tenant.Config{TenantID: "acme", Type: tenant.TypeS3, BucketName: bucket, BucketPrefix: "logs/", SSE: tenant.SSEAES256}

	t.Run("correct setup writes a marker under the prefix", func(t *testing.T) {
		rep := e.v.Validate(e.ctx, cfg, true)
		assert.True(t, rep.OK, "%+v", rep.Steps)
		list, err := e.s3.ListObjectsV2(e.ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("logs/" + validate.MarkerDir)})
		require.NoError(t, err)
		require.Len(t, list.Contents, 1)
		head, err := e.s3.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: list.Contents[0].Key})
		require.NoError(t, err)
		assert.Equal(t, s3types.ServerSideEncryptionAes256, head.ServerSideEncryption)
	})

	t.Run("write=false checks the bucket only", func(t *testing.T) {
		rep := e.v.Validate(e.ctx, cfg, false)
		assert.True(t, rep.OK)
		assert.Equal(t, validate.ResultOK, stepOf(t, rep, validate.StepBucket).Result)
		assert.Equal(t, validate.ResultSkipped, stepOf(t, rep, validate.StepPutMarker).Result)
	})

	t.Run("bucket missing", func(t *testing.T) {
		c := cfg
		c.BucketName = testaws.Name("missing")
		rep := e.v.Validate(e.ctx, c, true)
		assert.False(t, rep.OK)
		st := stepOf(t, rep, validate.StepBucket)
		assert.Equal(t, validate.ResultFailed, st.Result)
		assert.Equal(t, status.CategoryBucketMissing, st.Category)
		assert.Equal(t, validate.ResultSkipped, stepOf(t, rep, validate.StepPutMarker).Result)
	})

	t.Run("bucket in another region", func(t *testing.T) {
		other := testaws.Name("eu")
		_, err := e.s3.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: &other,
			CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest1}})
		require.NoError(t, err)
		c := cfg
		c.BucketName = other
		rep := e.v.Validate(e.ctx, c, true)
		st := stepOf(t, rep, validate.StepBucket)
		assert.Equal(t, validate.ResultFailed, st.Result, "%+v", st)
		assert.Equal(t, status.CategoryWrongRegion, st.Category)
		assert.Contains(t, st.Detail, "eu-west-1")
	})

	t.Run("bucket policy denies PutObject", func(t *testing.T) {
		e.f.putDenied = bucket
		defer func() { e.f.putDenied = "" }()
		rep := e.v.Validate(e.ctx, cfg, true)
		st := stepOf(t, rep, validate.StepPutMarker)
		assert.Equal(t, validate.ResultFailed, st.Result)
		assert.Equal(t, status.CategoryBucketDenied, st.Category)
		assert.Contains(t, st.Hint, "bucket-owner-full-control")
	})
}
