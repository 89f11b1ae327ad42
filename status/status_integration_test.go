package status_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/stsgate"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
)

// staticConfigs is a ConfigSource over a fixed map.
type staticConfigs map[string][]tenant.Config

func (s staticConfigs) Lookup(_ context.Context, id string) ([]tenant.Config, error) {
	return s[id], nil
}

// clients serves S3 from moto and CloudWatch Logs from the strict fake, with static credentials (the tests of
// role failures go through the credentials manager instead).
type clients struct {
	s3 *s3.Client
	cw *cwlfake.Server
}

func (c *clients) S3(context.Context, string) (engine.S3API, error) { return c.s3, nil }

func (c *clients) CloudWatchLogs(_ context.Context, _, _, _, region string) (batcher.API, string, error) {
	return c.cw.Client(), "aws:123456789012:" + region, nil
}

// itemAtomic makes each UpdateItem atomic, as DynamoDB guarantees and moto_server (threaded, read-modify-write
// in Python) does not: concurrent updates of one item lose ADDs there. Reads and writes of different
// processes still interleave freely between calls.
type itemAtomic struct {
	*dynamodb.Client
	mu *sync.Mutex
}

func (a itemAtomic) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Client.UpdateItem(ctx, in, optFns...)
}

type env struct {
	t       *testing.T
	ctx     context.Context
	s3      *s3.Client
	ddb     *dynamodb.Client
	table   *status.Table
	central string
	clients *clients
	configs staticConfigs
}

func newEnv(t *testing.T) *env {
	cfg := testaws.Config(t)
	ctx := testaws.Context(t, 3*time.Minute)
	e := &env{t: t, ctx: ctx, s3: testaws.S3(t), ddb: dynamodb.NewFromConfig(cfg), configs: staticConfigs{}}
	name := testaws.Name("status")
	require.NoError(t, status.CreateTable(ctx, e.ddb, name))
	e.table = status.NewTable(itemAtomic{e.ddb, &sync.Mutex{}}, name)
	e.central = testaws.Name("central")
	e.bucket(e.central)
	e.clients = &clients{s3: e.s3, cw: cwlfake.Start(t)}
	return e
}

func (e *env) bucket(name string) {
	_, err := e.s3.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(e.t, err)
}

// processor returns a processor recording into a fresh recorder with a controlled clock.
func (e *env) processor(now func() time.Time) (*engine.Processor, *status.Recorder) {
	return e.processorWith(e.clients, now)
}

func (e *env) processorWith(clients engine.Clients, now func() time.Time) (*engine.Processor, *status.Recorder) {
	rec, err := status.NewRecorder(e.table, status.RecorderOptions{Now: now})
	require.NoError(e.t, err)
	p, err := engine.NewProcessor(clients, e.configs, engine.Options{
		SourceBuckets: []string{e.central}, Region: testaws.Region, Workers: 4, BreakerThreshold: -1, Status: rec,
	})
	require.NoError(e.t, err)
	return p, rec
}

func lines(n int, base time.Time) []byte {
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, `{"message":"line %d","timestamp":%q}`+"\n", i, base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
	}
	return buf.Bytes()
}

func (e *env) put(key string, body []byte) engine.ObjectRef {
	_, err := e.s3.PutObject(e.ctx, &s3.PutObjectInput{Bucket: &e.central, Key: &key, Body: bytes.NewReader(body)})
	require.NoError(e.t, err)
	return engine.ObjectRef{Bucket: e.central, Key: key, Size: int64(len(body))}
}

func (e *env) statusOf(tenantID string, typ tenant.Type, now time.Time) status.Record {
	recs, err := e.table.TenantStatus(e.ctx, tenantID, now, status.DefaultIdleAfter)
	require.NoError(e.t, err)
	for _, r := range recs {
		if r.Type == typ {
			return r
		}
	}
	e.t.Fatalf("no %s status for tenant %s", typ, tenantID)
	return status.Record{}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestBrokenCustomerRoleFailsThenHeals(t *testing.T) {
	e := newEnv(t)
	id := testaws.Name("tenant")
	role := "arn:aws:iam::210987654321:role/customer-logs"
	e.configs[id] = []tenant.Config{{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: role, LogGroupName: "/t/" + id,
		ExternalID: "s3cr3t-external-id-value"}}
	// The real credential path: the credentials manager assumes the central and then the customer role through
	// STS (moto behind a gate that enforces the trust policy's ExternalId), and CloudWatch Logs is the strict
	// fake. The customer's trust policy expects another ExternalId than the config's.
	gate, err := stsgate.New(testaws.Endpoint(t))
	require.NoError(t, err)
	gateURL, stopGate := gate.Serve()
	t.Cleanup(stopGate)
	gate.Pin(role, "what-the-trust-policy-says")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": testaws.Endpoint(t), "AWS_ENDPOINT_URL_STS": gateURL, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": e.clients.cw.URL,
		"AWS_REGION": testaws.Region, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(e.ctx)
	require.NoError(t, err)
	m, err := credentials.New(cfg, credentials.Options{CentralRoleARN: "arn:aws:iam::" + testaws.AccountID + ":role/central",
		S3UsePathStyle: true, NegativeTTL: time.Nanosecond})
	require.NoError(t, err)
	clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	p, rec := e.processorWith(engine.ManagerClients(m), clk.now)

	base := time.Now().Add(-time.Minute)
	for i := range 3 {
		res := p.ProcessObject(e.ctx, e.put(fmt.Sprintf("c1/%s/app/pod-1/f%d.log", id, i), lines(5, base)))
		require.Equal(t, engine.OutcomeRetry, res.Outcome)
		clk.advance(time.Second)
	}
	require.NoError(t, rec.Flush(e.ctx))

	st := e.statusOf(id, tenant.TypeCloudWatch, clk.now())
	assert.Equal(t, status.HealthFailing, st.Health)
	require.NotNil(t, st.LastFailure)
	assert.Equal(t, status.CategoryCustomerRole, st.LastFailure.Category)
	assert.Equal(t, "customer", st.LastFailure.Side)
	assert.Contains(t, st.LastFailure.Hint, "trust policy")
	assert.Contains(t, st.LastFailure.Hint, "ExternalId")
	assert.NotContains(t, st.LastFailure.Message, "s3cr3t-external-id-value")
	assert.Equal(t, fmt.Sprintf("c1/%s/app/pod-1/f2.log", id), st.LastFailure.Key)
	assert.EqualValues(t, 3, st.ConsecutiveFailures)
	require.NotNil(t, st.FailingSince)
	assert.True(t, st.FailingSince.Before(st.LastFailure.At))
	assert.Nil(t, st.LastSuccess)
	assert.EqualValues(t, 3, st.Last24h[status.CounterDeliveriesFailed])

	assert.Equal(t, 3, gate.Refusals(), "each delivery asked STS")

	// The customer fixes the trust policy: the next delivery succeeds and the next flush shows it.
	gate.Pin(role, "s3cr3t-external-id-value")
	clk.advance(time.Second)
	res := p.ProcessObject(e.ctx, e.put(fmt.Sprintf("c1/%s/app/pod-1/f9.log", id), lines(5, base)))
	require.Equal(t, engine.OutcomeSuccess, res.Outcome, res.Error)
	require.NoError(t, rec.Flush(e.ctx))
	st = e.statusOf(id, tenant.TypeCloudWatch, clk.now())
	assert.Equal(t, status.HealthHealthy, st.Health)
	assert.Zero(t, st.ConsecutiveFailures)
	assert.Nil(t, st.FailingSince)
	require.NotNil(t, st.LastSuccess)
	assert.Equal(t, fmt.Sprintf("c1/%s/app/pod-1/f9.log", id), st.LastSuccess.Key)
	require.NotNil(t, st.LastFailure, "the last failure stays on record")
	assert.EqualValues(t, 1, st.Last24h[status.CounterDeliveriesOK])
	assert.EqualValues(t, 5, st.Last24h[status.CounterEventsDelivered])

	// Nothing for longer than the idle threshold.
	st = e.statusOf(id, tenant.TypeCloudWatch, clk.now().Add(status.DefaultIdleAfter+time.Minute))
	assert.Equal(t, status.HealthIdle, st.Health)
}

// Two processes record different objects of the same tenants and flush concurrently, several times: the
// usage counters and delivery totals are exactly the sums, and equal what the strict CloudWatch endpoint
// and the destination bucket received.
func TestConcurrentRecordersCountExactly(t *testing.T) {
	e := newEnv(t)
	id := testaws.Name("tenant")
	dest := testaws.Name("dest")
	e.bucket(dest)
	group := "/t/" + id
	e.configs[id] = []tenant.Config{
		{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: "arn:aws:iam::210987654321:role/r", LogGroupName: group},
		{TenantID: id, Type: tenant.TypeS3, BucketName: dest, BucketPrefix: "logs/"},
	}
	p1, r1 := e.processor(time.Now)
	p2, r2 := e.processor(time.Now)

	base := time.Now().Add(-time.Minute)
	var readBytes, objects int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	for round := range 3 {
		for i, p := range []*engine.Processor{p1, p2} {
			for j := range 2 {
				n := 10 + 7*round + 3*i + j
				ref := e.put(fmt.Sprintf("c1/%s/app/pod-%d/r%d-%d.log", id, i, round, j), lines(n, base))
				wg.Go(func() {
					res := p.ProcessObject(e.ctx, ref)
					assert.Equal(t, engine.OutcomeSuccess, res.Outcome, res.Error)
					mu.Lock()
					readBytes += res.BytesRead
					objects++
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		// Both processes flush at once.
		var fw sync.WaitGroup
		for _, r := range []*status.Recorder{r1, r2} {
			fw.Go(func() { assert.NoError(t, r.Flush(e.ctx)) })
		}
		fw.Wait()
	}

	// What the destinations actually received.
	var events, evBytes int64
	for _, pr := range e.clients.cw.Puts() {
		if pr.Group == group {
			events += int64(pr.Events - pr.Rejected)
			evBytes += int64(pr.Bytes)
		}
	}
	list, err := e.s3.ListObjectsV2(e.ctx, &s3.ListObjectsV2Input{Bucket: &dest})
	require.NoError(t, err)
	var copies, copiedBytes int64
	for _, o := range list.Contents {
		copies++
		copiedBytes += aws.ToInt64(o.Size)
	}
	require.EqualValues(t, objects, copies)

	today := time.Now().UTC().Format(time.DateOnly)
	rows, err := e.table.TenantUsage(e.ctx, id, today, today)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	byType := map[tenant.Type]status.UsageRow{}
	for _, r := range rows {
		byType[r.Type] = r
	}
	cw, s3u := byType[tenant.TypeCloudWatch], byType[tenant.TypeS3]
	assert.Equal(t, objects, cw.Get(status.CounterObjects))
	assert.Equal(t, objects, cw.Get(status.CounterObjectsDelivered))
	assert.Equal(t, events, cw.Get(status.CounterEventsDelivered))
	assert.Equal(t, events, cw.Get(status.CounterEventsIn))
	assert.Equal(t, evBytes, cw.Get(status.CounterBytesDelivered))
	assert.Equal(t, readBytes, cw.Get(status.CounterBytesRead))
	assert.EqualValues(t, len(e.clients.cw.Puts()), cw.Get(status.CounterPutLogEventsRequests))
	assert.Equal(t, copies, s3u.Get(status.CounterS3Copies))
	assert.Equal(t, copiedBytes, s3u.Get(status.CounterS3CopiedBytes))
	assert.Equal(t, objects, s3u.Get(status.CounterObjects))

	st := e.statusOf(id, tenant.TypeCloudWatch, time.Now())
	assert.Equal(t, status.HealthHealthy, st.Health)
	assert.Equal(t, objects, st.Total[status.CounterDeliveriesOK])
	assert.Equal(t, objects, st.Last24h[status.CounterDeliveriesOK])
	assert.Equal(t, events, st.Last24h[status.CounterEventsDelivered])

	// The all-tenants listing of the day holds both rows, page by page.
	var listed []status.UsageRow
	next := ""
	for {
		page, err := e.table.UsageByDate(e.ctx, today, 1, next)
		require.NoError(t, err)
		for _, r := range page.Rows {
			if r.TenantID == id {
				listed = append(listed, r)
			}
		}
		if next = page.Next; next == "" {
			break
		}
	}
	assert.ElementsMatch(t, rows, listed)
	_, err = e.table.UsageByDate(e.ctx, "2001-01-01", 1, "bm90LWEtdG9rZW4")
	assert.ErrorIs(t, err, status.ErrBadToken)
}

// hooked runs before once, before the first UpdateItem of a status item (after its read), and fails the next
// failUpdates UpdateItem calls.
type hooked struct {
	itemAtomic
	mu          sync.Mutex
	before      func()
	failUpdates int
}

func (h *hooked) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	h.mu.Lock()
	var before func()
	if sk, ok := in.Key["sk"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(sk.Value, "status#") {
		before, h.before = h.before, nil
	}
	fail := h.failUpdates > 0
	if fail {
		h.failUpdates--
	}
	h.mu.Unlock()
	if before != nil {
		before()
	}
	if fail {
		return nil, fmt.Errorf("injected: DynamoDB unavailable")
	}
	return h.itemAtomic.UpdateItem(ctx, in, optFns...)
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
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

// Another process writes the status item between this process's read and write: the write is refused by its
// version condition, re-read and merged; nothing is lost and the newer outcome wins.
func TestStatusWriteConflictMergesIntegration(t *testing.T) {
	e := newEnv(t)
	id := testaws.Name("tenant")
	t0 := time.Now().UTC().Truncate(time.Second)
	reg := prometheus.NewRegistry()
	client := &hooked{itemAtomic: itemAtomic{e.ddb, &sync.Mutex{}}}
	a, err := status.NewRecorder(status.NewTable(client, e.table.Name()), status.RecorderOptions{Now: func() time.Time { return t0 }, Registerer: reg})
	require.NoError(t, err)
	b, err := status.NewRecorder(e.table, status.RecorderOptions{Now: func() time.Time { return t0.Add(time.Second) }})
	require.NoError(t, err)
	ok := engine.ObjectResult{TenantID: id, Key: "k-ok", Destinations: []engine.DestinationResult{{Type: tenant.TypeCloudWatch, Events: 3}}}
	denied := &credentials.AccessDeniedError{Hop: credentials.HopCustomer, RoleARN: "arn:aws:iam::1:role/r", Err: &smithy.GenericAPIError{Code: "AccessDenied"}}
	bad := engine.ObjectResult{TenantID: id, Key: "k-bad", Outcome: engine.OutcomeRetry, Destinations: []engine.DestinationResult{
		{Type: tenant.TypeCloudWatch, Outcome: engine.OutcomeRetry, Reason: engine.ReasonAccessDenied, Err: denied}}}
	a.RecordObject(ok)
	a.RecordObject(ok)
	b.RecordObject(bad)
	// b's whole flush happens between a's read of the status item and its write, which then conflicts.
	client.before = func() { assert.NoError(t, b.Flush(e.ctx)) }
	require.NoError(t, a.Flush(e.ctx))

	st := e.statusOf(id, tenant.TypeCloudWatch, t0.Add(time.Minute))
	assert.Equal(t, status.HealthFailing, st.Health, "b's failure is newer than a's successes")
	assert.EqualValues(t, 1, st.ConsecutiveFailures)
	assert.EqualValues(t, 2, st.Total[status.CounterDeliveriesOK])
	assert.EqualValues(t, 1, st.Total[status.CounterDeliveriesFailed])
	assert.EqualValues(t, 6, st.Last24h[status.CounterEventsDelivered])
	require.NotNil(t, st.LastSuccess)
	assert.Equal(t, "k-ok", st.LastSuccess.Key)
	assert.Equal(t, "k-bad", st.LastFailure.Key)
	assert.Equal(t, 1.0, counterValue(t, reg, "logrouter_status_writes_total", map[string]string{"kind": "status", "result": "conflict"}))
}

// A failed flush keeps what it could not write for the next one: counters are neither lost nor doubled.
func TestFailedFlushIsRetriedIntegration(t *testing.T) {
	e := newEnv(t)
	id := testaws.Name("tenant")
	client := &hooked{itemAtomic: itemAtomic{e.ddb, &sync.Mutex{}}, failUpdates: 2}
	rec, err := status.NewRecorder(status.NewTable(client, e.table.Name()), status.RecorderOptions{})
	require.NoError(t, err)
	obj := engine.ObjectResult{TenantID: id, Key: "k", EventsRead: 5, Destinations: []engine.DestinationResult{{Type: tenant.TypeCloudWatch, Events: 5}}}
	rec.RecordObject(obj)
	rec.RecordObject(obj)
	require.Error(t, rec.Flush(e.ctx), "both writes (usage and status) fail")
	rec.RecordObject(obj)
	require.NoError(t, rec.Flush(e.ctx))

	today := time.Now().UTC().Format(time.DateOnly)
	rows, err := e.table.TenantUsage(e.ctx, id, today, today)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.EqualValues(t, 3, rows[0].Get(status.CounterObjects))
	assert.EqualValues(t, 15, rows[0].Get(status.CounterEventsDelivered))
	st := e.statusOf(id, tenant.TypeCloudWatch, time.Now())
	assert.EqualValues(t, 3, st.Total[status.CounterDeliveriesOK])
	assert.Equal(t, status.HealthHealthy, st.Health)
}

// What the recorder counts, and what it leaves out of the status.
func TestRecorderAttributionIntegration(t *testing.T) {
	e := newEnv(t)
	id := testaws.Name("tenant")
	rec, err := status.NewRecorder(e.table, status.RecorderOptions{})
	require.NoError(t, err)
	srcErr := &smithy.GenericAPIError{Code: "NoSuchKey"}
	// A source failure before any destination ran applies to each destination.
	rec.RecordObject(engine.ObjectResult{TenantID: id, Key: "gone", Outcome: engine.OutcomeDropped, Reason: engine.ReasonSourceMissing, Err: srcErr,
		Destinations: []engine.DestinationResult{{Type: tenant.TypeCloudWatch}, {Type: tenant.TypeS3}}})
	// Interrupted by shutdown: usage counts the attempt, the status ignores it.
	rec.RecordObject(engine.ObjectResult{TenantID: id, Key: "cut", Outcome: engine.OutcomeRetry, Reason: engine.ReasonInterrupted,
		Destinations: []engine.DestinationResult{{Type: tenant.TypeS3, Outcome: engine.OutcomeRetry, Reason: engine.ReasonInterrupted}}})
	// Done by an earlier attempt, or planned: nothing.
	rec.RecordObject(engine.ObjectResult{TenantID: id, Key: "done", Destinations: []engine.DestinationResult{{Type: tenant.TypeS3, AlreadyDone: true}}})
	rec.RecordObject(engine.ObjectResult{TenantID: id, Key: "plan", Destinations: []engine.DestinationResult{{Type: tenant.TypeS3, DryRun: true}}})
	// Rejected events: a success with a warning.
	rec.RecordObject(engine.ObjectResult{TenantID: id, Key: "old", EventsRead: 4, Destinations: []engine.DestinationResult{{Type: tenant.TypeCloudWatch, Events: 2,
		Stats: &batcher.Stats{RejectedTooOld: 2}}}})
	require.NoError(t, rec.Flush(e.ctx))

	cw := e.statusOf(id, tenant.TypeCloudWatch, time.Now())
	assert.Equal(t, status.HealthHealthy, cw.Health)
	require.NotNil(t, cw.LastWarning)
	assert.Equal(t, status.CategoryEventsRejected, cw.LastWarning.Category)
	require.NotNil(t, cw.LastFailure)
	assert.Equal(t, status.CategorySourceBucket, cw.LastFailure.Category)
	assert.Equal(t, "platform", cw.LastFailure.Side)
	s3st := e.statusOf(id, tenant.TypeS3, time.Now())
	assert.Equal(t, status.HealthFailing, s3st.Health)
	assert.EqualValues(t, 1, s3st.Total[status.CounterDeliveriesFailed], "the interrupted attempt is not a failure")
	assert.Zero(t, s3st.Total[status.CounterDeliveriesOK], "done and planned results are not deliveries")

	today := time.Now().UTC().Format(time.DateOnly)
	rows, err := e.table.TenantUsage(e.ctx, id, today, today)
	require.NoError(t, err)
	for _, r := range rows {
		switch r.Type {
		case tenant.TypeS3:
			assert.EqualValues(t, 2, r.Get(status.CounterObjects), "the failed and the interrupted attempts")
			assert.EqualValues(t, 1, r.Get(status.CounterDeliveriesFailed))
		case tenant.TypeCloudWatch:
			assert.EqualValues(t, 2, r.Get(status.CounterObjects))
			assert.EqualValues(t, 2, r.Get(status.CounterRejectedTooOld))
			assert.EqualValues(t, 4, r.Get(status.CounterEventsIn))
		}
	}
}

// Failures the engine meets on the real path are recorded with the category and hint of their cause.
func TestEngineFailuresAreCategorisedIntegration(t *testing.T) {
	tests := map[string]struct {
		cfg      func(id string) tenant.Config
		setup    func(e *env, c tenant.Config)
		category status.Category
		hint     string
	}{
		"log group missing, creation denied": {
			cfg: func(id string) tenant.Config {
				return tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: "arn:aws:iam::210987654321:role/r", LogGroupName: "/t/" + id}
			},
			setup: func(e *env, c tenant.Config) {
				e.clients.cw.Deny("CreateLogGroup", c.LogGroupName, "AccessDeniedException")
			},
			category: status.CategoryLogGroupCreate, hint: "logs:CreateLogGroup",
		},
		"KMS key refused at creation": {
			cfg: func(id string) tenant.Config {
				return tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: "arn:aws:iam::210987654321:role/r", LogGroupName: "/t/" + id,
					KMSKeyID: "arn:aws:kms:us-east-1:210987654321:key/" + id}
			},
			setup:    func(e *env, c tenant.Config) { e.clients.cw.DenyKMSKey(c.KMSKeyID) },
			category: status.CategoryKMS, hint: "key policy",
		},
		"PutLogEvents denied": {
			cfg: func(id string) tenant.Config {
				return tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: "arn:aws:iam::210987654321:role/r", LogGroupName: "/t/" + id}
			},
			setup: func(e *env, c tenant.Config) {
				e.clients.cw.Deny("PutLogEvents", c.LogGroupName, "AccessDeniedException")
			},
			category: status.CategoryPutDenied, hint: "logs:PutLogEvents",
		},
		"destination bucket missing": {
			cfg: func(id string) tenant.Config {
				return tenant.Config{TenantID: id, Type: tenant.TypeS3, BucketName: testaws.Name("never-created")}
			},
			setup:    func(*env, tenant.Config) {},
			category: status.CategoryBucketMissing, hint: "Create it",
		},
	}
	e := newEnv(t)
	p, rec := e.processor(time.Now)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			id := testaws.Name("tenant")
			c := tc.cfg(id)
			e.configs[id] = []tenant.Config{c}
			tc.setup(e, c)
			res := p.ProcessObject(e.ctx, e.put(fmt.Sprintf("c1/%s/app/pod/f.log", id), lines(3, time.Now().Add(-time.Minute))))
			require.NotEqual(t, engine.OutcomeSuccess, res.Outcome)
			require.NoError(t, rec.Flush(e.ctx))
			st := e.statusOf(id, c.Type, time.Now())
			assert.Equal(t, status.HealthFailing, st.Health)
			require.NotNil(t, st.LastFailure)
			assert.Equal(t, tc.category, st.LastFailure.Category, st.LastFailure.Message)
			assert.Equal(t, "customer", st.LastFailure.Side)
			assert.Contains(t, st.LastFailure.Hint, tc.hint)
		})
	}
}

// Events CloudWatch rejects (older than the log group's retention) leave the destination healthy with a
// warning, and are counted by reason in the usage.
func TestRejectedEventsWarnIntegration(t *testing.T) {
	e := newEnv(t)
	id := testaws.Name("tenant")
	// The customer's existing group keeps one day; the config does not say so, so events are sent and
	// CloudWatch rejects the older ones.
	e.configs[id] = []tenant.Config{{TenantID: id, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: "arn:aws:iam::210987654321:role/r",
		LogGroupName: "/t/" + id}}
	e.clients.cw.CreateLogStream("/t/"+id, "pod")
	e.clients.cw.SetRetention("/t/"+id, 1)
	p, rec := e.processor(time.Now)
	var body bytes.Buffer
	body.Write(lines(4, time.Now().Add(-48*time.Hour))) // older than the one-day retention
	body.Write(lines(6, time.Now().Add(-time.Minute)))
	res := p.ProcessObject(e.ctx, e.put(fmt.Sprintf("c1/%s/app/pod/f.log", id), body.Bytes()))
	require.Equal(t, engine.OutcomeSuccess, res.Outcome, res.Error)
	require.NoError(t, rec.Flush(e.ctx))

	st := e.statusOf(id, tenant.TypeCloudWatch, time.Now())
	assert.Equal(t, status.HealthHealthy, st.Health)
	require.NotNil(t, st.LastWarning)
	assert.Equal(t, status.CategoryEventsRejected, st.LastWarning.Category)
	assert.Contains(t, st.LastWarning.Hint, "retention")
	today := time.Now().UTC().Format(time.DateOnly)
	rows, err := e.table.TenantUsage(e.ctx, id, today, today)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.EqualValues(t, 4, rows[0].Get(status.CounterRejectedExpired))
	assert.EqualValues(t, 10, rows[0].Get(status.CounterEventsIn))
	stored := int64(len(e.clients.cw.Events("/t/"+id, "pod")))
	assert.EqualValues(t, 6, stored)
	assert.Equal(t, stored, rows[0].Get(status.CounterEventsDelivered), "delivered counts what CloudWatch kept")
}
