package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
	"github.com/logrouter/logrouter/validate"
)

// statusClients serves validation from the strict CloudWatch fake; roles in denied fail the customer hop
// with the credentials package's typed error.
type statusClients struct {
	cw     *cwlfake.Server
	denied string
}

func (c *statusClients) AssumeCentral(context.Context) error { return nil }
func (c *statusClients) AssumeCustomer(_ context.Context, roleARN, _, tenantID, _ string) error {
	if roleARN == c.denied {
		return &credentials.AccessDeniedError{Hop: credentials.HopCustomer, RoleARN: roleARN, TenantID: tenantID, Err: &smithy.GenericAPIError{Code: "AccessDenied"}}
	}
	return nil
}
func (c *statusClients) S3(context.Context, string) (validate.S3API, error) {
	return nil, errors.New("no S3 in this test")
}
func (c *statusClients) CloudWatchLogs(context.Context, string, string, string, string) (validate.LogsAPI, string, error) {
	return c.cw.Client(), "aws:123456789012:us-east-1", nil
}

func newStatusServer(t *testing.T, withStatus bool) (*testServer, *tenant.Store, *status.Table, *statusClients) {
	t.Helper()
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	tt := testaws.Name("api-tenants")
	if err := tenant.CreateTable(ctx, client, tt); err != nil {
		t.Fatal(err)
	}
	store := tenant.NewStore(client, tt)
	opts := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry()}
	var table *status.Table
	sc := &statusClients{cw: cwlfake.Start(t)}
	if withStatus {
		name := testaws.Name("api-status")
		if err := status.CreateTable(ctx, client, name); err != nil {
			t.Fatal(err)
		}
		table = status.NewTable(client, name)
		opts.Status = table
		v, err := validate.New(sc, validate.Options{Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		opts.Validator = v
	} else {
		opts.ValidatorUnavailable = "LOGROUTER_CENTRAL_ROLE_ARN is not set"
	}
	srv, err := New(store, Keys{testKeyID: testSecret}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{t: t, srv: srv, now: time.Now()}, store, table, sc
}

func TestStatusRoutesWithoutTableIntegration(t *testing.T) {
	ts, _, _, _ := newStatusServer(t, false)
	for _, target := range []string{"/api/v1/tenants/acme/status", "/api/v1/tenants/acme/usage", "/api/v1/usage"} {
		res := ts.do("GET", target, "", true)
		if res.Status != http.StatusServiceUnavailable || !strings.Contains(res.problem(t).Detail, "LOGROUTER_STATUS_TABLE") {
			t.Errorf("GET %s: %d %s", target, res.Status, res.Body)
		}
	}
	res := ts.do("POST", "/api/v1/tenants/acme/delivery-configs/validate", `{"type":"cloudwatch","log_group_name":"/a","log_distribution_role_arn":"arn:aws:iam::210987654321:role/r"}`, true)
	if res.Status != http.StatusServiceUnavailable || !strings.Contains(res.problem(t).Detail, "LOGROUTER_CENTRAL_ROLE_ARN") {
		t.Errorf("validate: %d %s", res.Status, res.Body)
	}
}

func TestStatusUsageAndValidateIntegration(t *testing.T) {
	ts, store, table, sc := newStatusServer(t, true)
	ctx := testaws.Context(t, time.Minute)
	id := testaws.Name("tenant")
	role := "arn:aws:iam::210987654321:role/acme-logs"
	if _, err := store.Create(ctx, tenant.Config{TenantID: id, Type: tenant.TypeCloudWatch, LogGroupName: "/acme", LogDistributionRoleARN: role}); err != nil {
		t.Fatal(err)
	}
	rec, err := status.NewRecorder(table, status.RecorderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	denied := &credentials.AccessDeniedError{Hop: credentials.HopCustomer, RoleARN: role, TenantID: id, Err: &smithy.GenericAPIError{Code: "AccessDenied"}}
	rec.RecordObject(engine.ObjectResult{TenantID: id, Key: "c1/" + id + "/app/pod/1.log", Outcome: engine.OutcomeRetry, Reason: engine.ReasonAccessDenied,
		Destinations: []engine.DestinationResult{{Type: tenant.TypeCloudWatch, Outcome: engine.OutcomeRetry, Reason: engine.ReasonAccessDenied, Err: denied}}})
	rec.RecordObject(engine.ObjectResult{TenantID: id, Key: "c1/" + id + "/app/pod/0.log", EventsRead: 7, BytesRead: 100,
		Destinations: []engine.DestinationResult{{Type: tenant.TypeS3, Bytes: 100}}})
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	res := ts.do("GET", "/api/v1/tenants/"+id+"/status", "", true)
	if res.Status != 200 {
		t.Fatalf("status: %d %s", res.Status, res.Body)
	}
	var st TenantStatus
	if err := json.Unmarshal(res.Body, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Destinations) != 2 {
		t.Fatalf("destinations %+v", st.Destinations)
	}
	cw, s3d := st.Destinations[0], st.Destinations[1]
	if cw.Type != tenant.TypeCloudWatch || !cw.Configured || cw.Health != status.HealthFailing || cw.LastFailure == nil ||
		cw.LastFailure.Category != status.CategoryCustomerRole || !strings.Contains(cw.LastFailure.Hint, "trust policy") || cw.Destination != "/acme" {
		t.Errorf("cloudwatch status %s", res.Body)
	}
	if s3d.Type != tenant.TypeS3 || s3d.Configured || s3d.Health != status.HealthHealthy {
		t.Errorf("s3 status (recorded, not configured) %+v", s3d)
	}

	today := time.Now().UTC().Format(time.DateOnly)
	res = ts.do("GET", "/api/v1/tenants/"+id+"/usage?from="+today+"&to="+today, "", true)
	var ur UsageReport
	if err := json.Unmarshal(res.Body, &ur); err != nil || res.Status != 200 {
		t.Fatalf("usage: %d %s", res.Status, res.Body)
	}
	if len(ur.Rows) != 2 || len(ur.Totals) != 2 || ur.Totals[1].Get(status.CounterS3CopiedBytes) != 100 || ur.Totals[0].Get(status.CounterDeliveriesFailed) != 1 {
		t.Errorf("usage %s", res.Body)
	}
	if res := ts.do("GET", "/api/v1/tenants/"+id+"/usage?from=2026-02-02&to=2026-02-01", "", true); res.Status != 400 {
		t.Errorf("from after to: %d", res.Status)
	}
	if res := ts.do("GET", "/api/v1/tenants/"+id+"/usage?from=2020-01-01&to=2026-02-01", "", true); res.Status != 400 {
		t.Errorf("range too long: %d", res.Status)
	}

	res = ts.do("GET", "/api/v1/usage?date="+today+"&limit=1000", "", true)
	var list UsageList
	if err := json.Unmarshal(res.Body, &list); err != nil || res.Status != 200 {
		t.Fatalf("usage list: %d %s", res.Status, res.Body)
	}
	found := 0
	for _, r := range list.Items {
		if r.TenantID == id {
			found++
		}
	}
	if found != 2 {
		t.Errorf("usage list holds %d rows of the tenant: %s", found, res.Body)
	}
	if res := ts.do("GET", "/api/v1/usage?date="+today+"&next=garbage", "", true); res.Status != 400 {
		t.Errorf("bad token: %d", res.Status)
	}

	// The CSV export.
	req := httptest.NewRequest("GET", "/api/v1/usage?date="+today+"&limit=1000", nil)
	req.Header.Set("Accept", "text/csv")
	res = ts.doRequest(req)
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v %s", res.Status, res.Header, res.Body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0][:4], ",") != "date,tenant_id,type,"+status.UsageCounters[0] || len(recs[0]) != 3+len(status.UsageCounters) {
		t.Errorf("csv header %v", recs[0])
	}
	rows := 0
	for _, r := range recs[1:] {
		if r[1] == id {
			rows++
		}
	}
	if rows != 2 {
		t.Errorf("csv rows of the tenant: %d\n%s", rows, res.Body)
	}

	// Validation: the stored config with a refused role, then a correct body config.
	sc.denied = role
	res = ts.do("POST", "/api/v1/tenants/"+id+"/delivery-configs/cloudwatch/validate", "", true)
	var rep validate.Report
	if err := json.Unmarshal(res.Body, &rep); err != nil || res.Status != 200 {
		t.Fatalf("validate stored: %d %s", res.Status, res.Body)
	}
	if rep.OK || len(rep.Steps) != 4 || rep.Steps[1].Result != validate.ResultFailed || rep.Steps[1].Category != status.CategoryCustomerRole {
		t.Errorf("validate stored: %s", res.Body)
	}
	if res := ts.do("POST", "/api/v1/tenants/"+id+"/delivery-configs/s3/validate", "", true); res.Status != 404 {
		t.Errorf("validate a missing config: %d", res.Status)
	}
	sc.denied = ""
	res = ts.do("POST", "/api/v1/tenants/"+id+"/delivery-configs/validate?write=true",
		`{"type":"cloudwatch","log_group_name":"/acme/new","log_distribution_role_arn":"`+role+`"}`, true)
	if err := json.Unmarshal(res.Body, &rep); err != nil || res.Status != 200 || !rep.OK {
		t.Fatalf("validate body: %d %s", res.Status, res.Body)
	}
	if evs := sc.cw.Events("/acme/new", validate.ValidationStream); len(evs) != 1 {
		t.Errorf("validation events %v", evs)
	}
	res = ts.do("POST", "/api/v1/tenants/"+id+"/delivery-configs/validate?write=false",
		`{"type":"cloudwatch","log_group_name":"/acme/dry","log_distribution_role_arn":"`+role+`"}`, true)
	if err := json.Unmarshal(res.Body, &rep); err != nil || res.Status != 200 || rep.Write || rep.Steps[3].Result != validate.ResultSkipped {
		t.Fatalf("validate write=false: %d %s", res.Status, res.Body)
	}
	if _, ok := sc.cw.Group("/acme/dry"); ok {
		t.Error("write=false created the log group")
	}
	if res := ts.do("POST", "/api/v1/tenants/"+id+"/delivery-configs/validate", `{"type":"cloudwatch"}`, true); res.Status != 400 {
		t.Errorf("invalid body config: %d %s", res.Status, res.Body)
	}
}

// doRequest signs and serves req as it is (headers included).
func (ts *testServer) doRequest(req *http.Request) response {
	ts.t.Helper()
	Sign(req, testKeyID, testSecret, nil, ts.now)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	res := response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	checkAgainstDoc(ts.t, ts.srv.OpenAPI(), req.Method, req.URL.Path, res)
	return res
}
