package credentials

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newManager(t *testing.T, f *fakeAWS, optFns ...func(*Options)) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := Options{CentralRoleARN: centralARN, Metrics: NewMetrics(reg)}
	for _, fn := range optFns {
		fn(&opts)
	}
	m, err := New(f.config(), opts)
	require.NoError(t, err)
	return m, reg
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func putLogGroup(ctx context.Context, c *cloudwatchlogs.Client) error {
	_, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/logrouter/test")})
	return err
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestConcurrentFirstCallsMakeOneAssumeRolePerHop(t *testing.T) {
	f := newFakeAWS(t)
	f.delay = 50 * time.Millisecond // keep the first calls in flight while the others arrive
	m, reg := newManager(t, f)
	ctx := testContext(t)

	const callers = 100
	start := make(chan struct{})
	errs := make(chan error, 2*callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "")
			if err == nil {
				err = putLogGroup(ctx, c)
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			<-start
			c, err := m.S3(ctx, "")
			if err == nil {
				_, err = c.ListBuckets(ctx, &s3.ListBucketsInput{})
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	assert.Len(t, f.stsCalls("AssumeRole", centralARN), 1, "central hop")
	assert.Len(t, f.stsCalls("AssumeRole", customerARN), 1, "customer hop")
	assert.Len(t, f.stsCalls("GetCallerIdentity", ""), 1, "central account discovery")
	assert.Len(t, f.logs, callers)
	assert.Len(t, f.s3, callers)
	assert.Equal(t, 1.0, counter(t, reg, "logrouter_credentials_assume_role_calls_total", map[string]string{"hop": "central"}))
	assert.Equal(t, 1.0, counter(t, reg, "logrouter_credentials_assume_role_calls_total", map[string]string{"hop": "customer"}))
	assert.Equal(t, 1.0, counter(t, reg, "logrouter_credentials_cache_misses_total", map[string]string{"cache": "provider"}))
	assert.Equal(t, float64(callers-1), counter(t, reg, "logrouter_credentials_cache_hits_total", map[string]string{"cache": "provider"}))
}

func TestSecondHopSignedWithFirstHopCredentials(t *testing.T) {
	f := newFakeAWS(t)
	m, _ := newManager(t, f)
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "eu-west-1")
	require.NoError(t, err)
	require.NoError(t, putLogGroup(ctx, c))
	s, err := m.S3(ctx, "eu-west-1")
	require.NoError(t, err)
	_, err = s.ListBuckets(ctx, &s3.ListBucketsInput{})
	require.NoError(t, err)

	central := f.stsCalls("AssumeRole", centralARN)
	require.Len(t, central, 1)
	assert.Equal(t, baseAccessKey, central[0].AccessKeyID, "the central hop is signed with the base credentials")
	assert.Empty(t, central[0].SecurityToken)

	customer := f.stsCalls("AssumeRole", customerARN)
	require.Len(t, customer, 1)
	centralCreds := f.issuedTo(customer[0].AccessKeyID)
	assert.Equal(t, centralARN, centralCreds.roleARN, "the customer hop is signed with the central role's credentials")
	assert.Equal(t, centralCreds.token, customer[0].SecurityToken)

	identity := f.stsCalls("GetCallerIdentity", "")
	require.Len(t, identity, 1)
	assert.Equal(t, centralARN, f.issuedTo(identity[0].AccessKeyID).roleARN, "the account is discovered as the central role")

	require.Len(t, f.logs, 1)
	assert.Equal(t, customerARN, f.issuedTo(f.logs[0]).roleARN, "CloudWatch Logs is called as the customer role")
	require.Len(t, f.s3, 1)
	assert.Equal(t, centralARN, f.issuedTo(f.s3[0]).roleARN, "S3 is called as the central role")
}

func TestExternalIDAndSessionNameSent(t *testing.T) {
	tests := map[string]struct {
		optionExternalID string
		configExternalID string
		tenant           string
		wantExternalID   string
		wantSession      string
		wantIdentity     int // GetCallerIdentity calls
	}{
		"default is the central account id": {
			tenant: "acme-corp", wantExternalID: "111111111111", wantSession: "logrouter-acme-corp", wantIdentity: 1,
		},
		"configured default": {
			optionExternalID: "logrouter-prod", tenant: "acme-corp",
			wantExternalID: "logrouter-prod", wantSession: "logrouter-acme-corp",
		},
		"per-config external id wins": {
			optionExternalID: "logrouter-prod", configExternalID: "acme:unique/7f3a", tenant: "acme-corp",
			wantExternalID: "acme:unique/7f3a", wantSession: "logrouter-acme-corp",
		},
		"per-config external id without a configured default": {
			configExternalID: "acme-unique", tenant: "t1",
			wantExternalID: "acme-unique", wantSession: "logrouter-t1",
		},
		"tenant id outside the session charset": {
			tenant: "Acme Corp/ü", wantExternalID: "111111111111", wantIdentity: 1,
			wantSession: "logrouter-Acme_Corp__-" + sessionName("Acme Corp/ü")[len("logrouter-Acme_Corp__-"):],
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeAWS(t)
			m, _ := newManager(t, f, func(o *Options) { o.ExternalID = tc.optionExternalID })
			ctx := testContext(t)
			c, _, err := m.CloudWatchLogs(ctx, customerARN, tc.configExternalID, tc.tenant, "")
			require.NoError(t, err)
			require.NoError(t, putLogGroup(ctx, c))

			customer := f.stsCalls("AssumeRole", customerARN)
			require.Len(t, customer, 1)
			assert.Equal(t, tc.wantExternalID, customer[0].ExternalID)
			assert.Equal(t, tc.wantSession, customer[0].SessionName)
			assert.Equal(t, "3600", customer[0].Duration)
			central := f.stsCalls("AssumeRole", centralARN)
			require.Len(t, central, 1)
			assert.Equal(t, "logrouter-central", central[0].SessionName)
			assert.Empty(t, central[0].ExternalID, "the central role is logrouter's own: no ExternalId")
			assert.Len(t, f.stsCalls("GetCallerIdentity", ""), tc.wantIdentity)
		})
	}
}

func TestDefaultExternalIDDiscoveredOnce(t *testing.T) {
	f := newFakeAWS(t)
	m, _ := newManager(t, f)
	ctx := testContext(t)
	for _, tenant := range []string{"a", "b", "c"} {
		c, _, err := m.CloudWatchLogs(ctx, customerARN, "", tenant, "")
		require.NoError(t, err)
		require.NoError(t, putLogGroup(ctx, c))
	}
	id, err := m.DefaultExternalID(ctx)
	require.NoError(t, err)
	assert.Equal(t, "111111111111", id)
	assert.Len(t, f.stsCalls("GetCallerIdentity", ""), 1)
	assert.Len(t, f.stsCalls("AssumeRole", customerARN), 3, "one provider per tenant")
}

func TestWithoutCentralRoleTheBaseCredentialsAreCentral(t *testing.T) {
	f := newFakeAWS(t)
	m, _ := newManager(t, f, func(o *Options) { o.CentralRoleARN = "" })
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "")
	require.NoError(t, err)
	require.NoError(t, putLogGroup(ctx, c))
	customer := f.stsCalls("AssumeRole", customerARN)
	require.Len(t, customer, 1)
	assert.Equal(t, baseAccessKey, customer[0].AccessKeyID)
	assert.Equal(t, baseAccount, customer[0].ExternalID)
	assert.Len(t, f.stsCalls("AssumeRole", ""), 1, "a single hop")
}

func TestSessionDuration(t *testing.T) {
	f := newFakeAWS(t)
	m, _ := newManager(t, f, func(o *Options) { o.SessionDuration = 2 * time.Hour })
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "")
	require.NoError(t, err)
	require.NoError(t, putLogGroup(ctx, c))
	assert.Equal(t, "7200", f.stsCalls("AssumeRole", centralARN)[0].Duration)
	assert.Equal(t, "3600", f.stsCalls("AssumeRole", customerARN)[0].Duration, "role chaining is capped at 1h")
}

func TestRefreshBeforeExpiry(t *testing.T) {
	// The expiry window is 5m with refreshes spread over its last half: credentials with 10m left are
	// served from the cache, credentials with 2m left (still valid) are refreshed on the next use.
	f := newFakeAWS(t)
	f.lifetime[centralARN] = 10 * time.Minute
	f.lifetime[customerARN] = 2 * time.Minute
	m, _ := newManager(t, f, func(o *Options) { o.ExpiryWindow = 5 * time.Minute })
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "")
	require.NoError(t, err)
	for range 3 {
		require.NoError(t, putLogGroup(ctx, c))
	}
	assert.Len(t, f.stsCalls("AssumeRole", customerARN), 3, "customer credentials inside the window are refreshed")
	assert.Len(t, f.stsCalls("AssumeRole", centralARN), 1, "central credentials outside the window are reused")
	for i, key := range f.logs {
		assert.Equal(t, customerARN, f.issuedTo(key).roleARN, "request %d", i)
	}
	assert.NotEqual(t, f.logs[0], f.logs[2], "a refresh yields new credentials")

	// Once the central credentials enter the window too, both hops refresh.
	f.set(func(f *fakeAWS) { f.lifetime[centralARN] = 2 * time.Minute })
	m2, _ := newManager(t, f, func(o *Options) { o.ExpiryWindow = 5 * time.Minute })
	c2, _, err := m2.CloudWatchLogs(ctx, customerARN, "x-ext", "acme", "")
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, putLogGroup(ctx, c2))
	}
	assert.Len(t, f.stsCalls("AssumeRole", centralARN), 1+2, "each customer refresh also refreshes the central credentials")
}

func TestLRUEviction(t *testing.T) {
	f := newFakeAWS(t)
	m, reg := newManager(t, f, func(o *Options) { o.MaxEntries = 2 })
	ctx := testContext(t)
	use := func(tenant string) {
		t.Helper()
		c, _, err := m.CloudWatchLogs(ctx, customerARN, "", tenant, "")
		require.NoError(t, err)
		require.NoError(t, putLogGroup(ctx, c))
	}
	use("a")
	use("b")
	use("a") // a is now the most recently used
	use("c") // evicts b
	assert.Len(t, f.stsCalls("AssumeRole", customerARN), 3)
	use("a")
	assert.Len(t, f.stsCalls("AssumeRole", customerARN), 3, "a stayed cached")
	use("b")
	assert.Len(t, f.stsCalls("AssumeRole", customerARN), 4, "b was evicted and is assumed again")
	assert.Equal(t, 2, m.providers.len())
	assert.Equal(t, 2.0, counter(t, reg, "logrouter_credentials_cache_evictions_total", map[string]string{"cache": "provider"}))
}

func TestClientsCachedPerCredentialsAndRegion(t *testing.T) {
	f := newFakeAWS(t)
	m, _ := newManager(t, f)
	ctx := testContext(t)
	a1, scope1, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "eu-west-1")
	require.NoError(t, err)
	a2, scope2, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "eu-west-1")
	require.NoError(t, err)
	b, scope3, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "us-west-2")
	require.NoError(t, err)
	d, _, err := m.CloudWatchLogs(ctx, customerARN, "other-external-id", "acme", "eu-west-1")
	require.NoError(t, err)
	assert.Same(t, a1, a2)
	assert.NotSame(t, a1, b)
	assert.NotSame(t, a1, d)
	assert.Equal(t, "eu-west-1", a1.Options().Region)
	assert.Equal(t, "us-west-2", b.Options().Region)
	assert.Same(t, a1.Options().Credentials, b.Options().Credentials, "one provider for both regions")
	assert.Same(t, a1.Options().HTTPClient, d.Options().HTTPClient, "one connection pool for all tenants")
	assert.Equal(t, "aws:222222222222:eu-west-1", scope1)
	assert.Equal(t, scope1, scope2)
	assert.Equal(t, "aws:222222222222:us-west-2", scope3)

	s1, err := m.S3(ctx, "")
	require.NoError(t, err)
	s2, err := m.S3(ctx, "us-east-1")
	require.NoError(t, err)
	assert.Same(t, s1, s2)
}

func TestS3PathStyle(t *testing.T) {
	for _, pathStyle := range []bool{false, true} {
		f := newFakeAWS(t)
		m, _ := newManager(t, f, func(o *Options) { o.S3UsePathStyle = pathStyle })
		c, err := m.S3(testContext(t), "")
		require.NoError(t, err)
		assert.Equal(t, pathStyle, c.Options().UsePathStyle)
	}
}

func TestAccessDenied(t *testing.T) {
	f := newFakeAWS(t)
	f.fail[customerARN] = failure{status: 403, code: "AccessDenied"}
	now := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	m, reg := newManager(t, f, func(o *Options) {
		o.NegativeTTL = time.Minute
		o.Now = func() time.Time { return now }
	})
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "tenant-specific-external-id", "acme", "")
	require.NoError(t, err)
	err = putLogGroup(ctx, c)
	require.Error(t, err)

	assert.True(t, IsAccessDenied(err))
	assert.False(t, IsTransient(err))
	var ad *AccessDeniedError
	require.ErrorAs(t, err, &ad)
	assert.Equal(t, HopCustomer, ad.Hop)
	assert.Equal(t, customerARN, ad.RoleARN)
	assert.Equal(t, "acme", ad.TenantID)
	assert.Contains(t, err.Error(), customerARN)
	assert.Contains(t, err.Error(), `tenant "acme"`)
	for _, s := range append(f.secrets(), "tenant-specific-external-id") {
		assert.NotContains(t, err.Error(), s)
	}
	assert.Empty(t, f.logs, "no CloudWatch request without credentials")
	assert.Equal(t, 1.0, counter(t, reg, "logrouter_credentials_assume_role_failures_total",
		map[string]string{"hop": "customer", "code": "AccessDenied"}))

	// Remembered for the negative TTL: STS is not asked again ...
	require.True(t, IsAccessDenied(putLogGroup(ctx, c)))
	assert.Len(t, f.stsCalls("AssumeRole", customerARN), 1)
	assert.Equal(t, 1.0, counter(t, reg, "logrouter_credentials_assume_role_suppressed_total", map[string]string{"hop": "customer"}))
	// ... and asked again after it: the customer fixed the trust policy.
	now = now.Add(time.Minute + time.Second)
	f.set(func(f *fakeAWS) { delete(f.fail, customerARN) })
	require.NoError(t, putLogGroup(ctx, c))
	assert.Len(t, f.stsCalls("AssumeRole", customerARN), 2)
}

func TestCentralAccessDenied(t *testing.T) {
	f := newFakeAWS(t)
	f.fail[centralARN] = failure{status: 403, code: "AccessDenied"}
	m, _ := newManager(t, f)
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "")
	require.NoError(t, err)
	err = putLogGroup(ctx, c)
	var ad *AccessDeniedError
	require.ErrorAs(t, err, &ad)
	assert.Equal(t, HopCentral, ad.Hop, "the central hop failed underneath the customer hop")
	assert.Equal(t, centralARN, ad.RoleARN)
	assert.Empty(t, f.stsCalls("AssumeRole", customerARN))

	s, err := m.S3(ctx, "")
	require.NoError(t, err)
	_, err = s.ListBuckets(ctx, &s3.ListBucketsInput{})
	require.ErrorAs(t, err, &ad)
	assert.Equal(t, HopCentral, ad.Hop)
	for _, secret := range f.secrets() {
		assert.NotContains(t, err.Error(), secret)
	}
}

func TestTransientFailures(t *testing.T) {
	tests := map[string]struct {
		fail     failure
		wantCode string
	}{
		"throttling":        {failure{400, "Throttling"}, "Throttling"},
		"service error 500": {failure{500, "InternalFailure"}, "InternalFailure"},
		"unavailable 503":   {failure{503, "SomethingNew"}, "SomethingNew"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeAWS(t)
			f.fail[customerARN] = tc.fail
			m, _ := newManager(t, f)
			ctx := testContext(t)
			c, _, err := m.CloudWatchLogs(ctx, customerARN, "x-ext", "acme", "")
			require.NoError(t, err)
			err = putLogGroup(ctx, c)
			assert.True(t, IsTransient(err), "%v", err)
			assert.False(t, IsAccessDenied(err))
			var ar *AssumeRoleError
			require.ErrorAs(t, err, &ar)
			assert.Equal(t, tc.wantCode, ar.Code)
			assert.Equal(t, HopCustomer, ar.Hop)

			require.Error(t, putLogGroup(ctx, c))
			assert.Len(t, f.stsCalls("AssumeRole", customerARN), 2, "transient failures are not remembered")
		})
	}
}

func TestMisconfigurationIsNotTransient(t *testing.T) {
	f := newFakeAWS(t)
	f.fail[customerARN] = failure{400, "ValidationError"}
	m, _ := newManager(t, f)
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "")
	require.NoError(t, err)
	err = putLogGroup(ctx, c)
	assert.False(t, IsTransient(err))
	assert.False(t, IsAccessDenied(err))
	assert.True(t, IsCredentialError(err))
}

func TestNetworkFailureIsTransient(t *testing.T) {
	f := newFakeAWS(t)
	cfg := f.config()
	f.srv.Close() // nothing listens any more
	m, err := New(cfg, Options{CentralRoleARN: centralARN})
	require.NoError(t, err)
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "x-ext", "acme", "")
	require.NoError(t, err)
	err = putLogGroup(ctx, c)
	var ar *AssumeRoleError
	require.ErrorAs(t, err, &ar)
	assert.Equal(t, HopCentral, ar.Hop)
	assert.Equal(t, "network", ar.Code)
	assert.True(t, IsTransient(err))
}

func TestInvalidArguments(t *testing.T) {
	f := newFakeAWS(t)
	m, _ := newManager(t, f)
	ctx := testContext(t)
	tests := map[string]struct{ role, externalID, region string }{
		"not an ARN":            {"LogDistributionRole", "", ""},
		"user ARN":              {"arn:aws:iam::222222222222:user/bob", "", ""},
		"short account":         {"arn:aws:iam::2222:role/x", "", ""},
		"role name with spaces": {"arn:aws:iam::222222222222:role/a b", "", ""},
		"external id too short": {customerARN, "x", ""},
		"external id charset":   {customerARN, "abc def", ""},
		"bad region":            {customerARN, "", "../evil"},
		"region with host":      {customerARN, "", "us-east-1.example.com"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := m.CloudWatchLogs(ctx, tc.role, tc.externalID, "acme", tc.region)
			require.Error(t, err)
			if len(tc.externalID) > 3 {
				assert.NotContains(t, err.Error(), tc.externalID)
			}
		})
	}
	_, err := m.S3(ctx, "not a region")
	require.Error(t, err)
	assert.Empty(t, f.stsCalls("", ""), "nothing reached STS")
}

func TestNewValidates(t *testing.T) {
	f := newFakeAWS(t)
	tests := map[string]struct {
		cfg  func() aws.Config
		opts Options
	}{
		"bad central ARN":    {f.config, Options{CentralRoleARN: "central"}},
		"short duration":     {f.config, Options{SessionDuration: time.Minute}},
		"long duration":      {f.config, Options{SessionDuration: 13 * time.Hour}},
		"negative entries":   {f.config, Options{MaxEntries: -1}},
		"bad external id":    {f.config, Options{ExternalID: "a"}},
		"window too long":    {f.config, Options{ExpiryWindow: time.Hour}},
		"no region":          {func() aws.Config { c := f.config(); c.Region = ""; return c }, Options{}},
		"no credentials":     {func() aws.Config { c := f.config(); c.Credentials = nil; return c }, Options{}},
		"negative neg. TTL":  {f.config, Options{NegativeTTL: -time.Second}},
		"max duration is ok": {nil, Options{SessionDuration: 12 * time.Hour}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.cfg == nil {
				_, err := New(f.config(), tc.opts)
				require.NoError(t, err)
				return
			}
			_, err := New(tc.cfg(), tc.opts)
			require.Error(t, err)
		})
	}
}

func TestMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.assumeCall(HopCentral)
	m.assumeFailure(HopCustomer, "AccessDenied")
	m.suppress(HopCustomer)
	m.lookup(cacheProvider, true, 1)
	m.lookup(cacheProvider, false, 0)
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		assert.True(t, strings.HasPrefix(mf.GetName(), "logrouter_credentials_"), mf.GetName())
	}
	var nilMetrics *Metrics
	nilMetrics.assumeCall(HopCentral) // a nil *Metrics is a no-op
}

func TestClassify(t *testing.T) {
	code, transient := classify(context.DeadlineExceeded)
	assert.Equal(t, "timeout", code)
	assert.True(t, transient)
	code, transient = classify(errors.New("something odd"))
	assert.Equal(t, "other", code)
	assert.False(t, transient)
}

func TestAccountDiscoveryFailureIsNotKept(t *testing.T) {
	f := newFakeAWS(t)
	f.fail[""] = failure{500, "InternalFailure"} // GetCallerIdentity carries no RoleArn
	m, _ := newManager(t, f)
	ctx := testContext(t)
	c, _, err := m.CloudWatchLogs(ctx, customerARN, "", "acme", "")
	require.NoError(t, err)
	err = putLogGroup(ctx, c)
	var ar *AssumeRoleError
	require.ErrorAs(t, err, &ar)
	assert.Equal(t, HopCentral, ar.Hop)
	assert.True(t, IsTransient(err))
	assert.Empty(t, f.stsCalls("AssumeRole", customerARN), "no customer hop without an ExternalId")

	f.set(func(f *fakeAWS) { delete(f.fail, "") })
	require.NoError(t, putLogGroup(ctx, c))
	assert.Len(t, f.stsCalls("GetCallerIdentity", ""), 2)
	assert.Equal(t, "111111111111", f.stsCalls("AssumeRole", customerARN)[0].ExternalID)
}
