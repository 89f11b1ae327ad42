package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logrouter/logrouter/tenant"
)

const testKeyID = "ops-1"

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testServer wraps a Server with a signing helper and checks every response against the OpenAPI document.
type testServer struct {
	t   *testing.T
	srv *Server
	reg *prometheus.Registry
	now time.Time
}

func newTestServer(t *testing.T, store *tenant.Store) *testServer {
	t.Helper()
	if store == nil {
		// A store without a client: tests using it must never reach DynamoDB (a call would panic → 500).
		store = tenant.NewStore(nil, "unused")
	}
	reg := prometheus.NewRegistry()
	ts := &testServer{t: t, reg: reg, now: time.Now()}
	srv, err := New(store, Keys{testKeyID: testSecret}, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	return ts
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) problem(t *testing.T) huma.ErrorModel {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("error response content type %q, want application/problem+json; body %s", ct, r.Body)
	}
	var p huma.ErrorModel
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.Body, err)
	}
	if p.Status != r.Status || p.Title == "" {
		t.Fatalf("problem %+v does not match status %d", p, r.Status)
	}
	return p
}

// do sends a request (signed unless sign is false) and checks the answer against the OpenAPI document.
func (ts *testServer) do(method, target string, body string, sign bool) response {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if sign {
		Sign(req, testKeyID, testSecret, []byte(body), ts.now)
	}
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	res := response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	checkAgainstDoc(ts.t, ts.srv.OpenAPI(), method, req.URL.Path, res)
	return res
}

// docRoute finds the documented operation serving method and path (when several templates match, one with an
// operation for method: /x/{type} and /x/validate both match /x/validate).
func docRoute(doc *huma.OpenAPI, method, path string) (string, *huma.Operation) {
	var fallback string
	for tmpl, item := range doc.Paths {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^/]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$")
		if !re.MatchString(path) {
			continue
		}
		var op *huma.Operation
		switch method {
		case http.MethodGet:
			op = item.Get
		case http.MethodPost:
			op = item.Post
		case http.MethodPut:
			op = item.Put
		case http.MethodPatch:
			op = item.Patch
		case http.MethodDelete:
			op = item.Delete
		}
		if op != nil {
			return tmpl, op
		}
		fallback = tmpl
	}
	return fallback, nil
}

// checkAgainstDoc asserts that a response is what the OpenAPI document promises: the status is documented for
// the operation, and the body has the documented content type and validates against the documented schema.
// Requests outside the documented routes must be problem+json 404/405.
func checkAgainstDoc(t *testing.T, doc *huma.OpenAPI, method, path string, res response) {
	t.Helper()
	if path == OpenAPIPath {
		return // the document itself
	}
	tmpl, op := docRoute(doc, method, path)
	if op == nil {
		if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed && res.Status != http.StatusUnauthorized {
			t.Fatalf("%s %s is not documented but answered %d", method, path, res.Status)
		}
		return
	}
	resp := op.Responses[strconv.Itoa(res.Status)]
	if resp == nil {
		resp = op.Responses["default"]
	}
	if resp == nil {
		t.Fatalf("%s %s answered %d, which the OpenAPI document does not list (%v)", method, tmpl, res.Status, keys(op.Responses))
	}
	if len(res.Body) == 0 {
		if len(resp.Content) != 0 {
			t.Fatalf("%s %s %d: empty body, documented content %v", method, tmpl, res.Status, keys(resp.Content))
		}
		return
	}
	ct := strings.Split(res.Header.Get("Content-Type"), ";")[0]
	mt := resp.Content[ct]
	if mt == nil {
		t.Fatalf("%s %s %d: content type %q not documented (%v)", method, tmpl, res.Status, ct, keys(resp.Content))
	}
	if ct == "text/csv" {
		return // an export; its shape is tested where it is produced
	}
	var v any
	if err := json.Unmarshal(res.Body, &v); err != nil {
		t.Fatalf("%s %s %d: body is not JSON: %v", method, tmpl, res.Status, err)
	}
	pb := huma.NewPathBuffer([]byte{}, 0)
	vr := &huma.ValidateResult{}
	huma.Validate(doc.Components.Schemas, mt.Schema, pb, huma.ModeReadFromServer, v, vr)
	if len(vr.Errors) > 0 {
		t.Fatalf("%s %s %d: body does not match the documented schema: %v\n%s", method, tmpl, res.Status, vr.Errors, res.Body)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	ts := newTestServer(t, nil)
	res := ts.do("GET", OpenAPIPath, "", true)
	if res.Status != 200 {
		t.Fatalf("openapi: %d %s", res.Status, res.Body)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var got []string
	for p, ops := range doc.Paths {
		for m := range ops {
			got = append(got, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(got)
	want := []string{
		"DELETE /api/v1/tenants/{tenant_id}/delivery-configs/{type}",
		"GET /api/v1/delivery-configs",
		"GET /api/v1/health",
		"GET /api/v1/ready",
		"GET /api/v1/tenants/{tenant_id}/delivery-configs",
		"GET /api/v1/tenants/{tenant_id}/delivery-configs/{type}",
		"GET /api/v1/tenants/{tenant_id}/delivery-configs/{type}/history",
		"GET /api/v1/tenants/{tenant_id}/replays",
		"GET /api/v1/tenants/{tenant_id}/replays/{replay_id}",
		"GET /api/v1/tenants/{tenant_id}/status",
		"GET /api/v1/tenants/{tenant_id}/usage",
		"GET /api/v1/usage",
		"PATCH /api/v1/tenants/{tenant_id}/delivery-configs/{type}",
		"POST /api/v1/tenants/{tenant_id}/delivery-configs",
		"POST /api/v1/tenants/{tenant_id}/delivery-configs/validate",
		"POST /api/v1/tenants/{tenant_id}/delivery-configs/{type}/validate",
		"POST /api/v1/tenants/{tenant_id}/replays",
		"POST /api/v1/tenants/{tenant_id}/replays/{replay_id}/cancel",
		"PUT /api/v1/tenants/{tenant_id}/delivery-configs/{type}",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("documented routes\n%v\nwant\n%v", got, want)
	}
	// Every documented route is served by the router (not the catch-all).
	for _, r := range want {
		method, tmpl, _ := strings.Cut(r, " ")
		path := strings.NewReplacer("{tenant_id}", "acme", "{type}", "s3").Replace(tmpl)
		if _, pattern := ts.srv.mux.Handler(httptest.NewRequest(method, path, nil)); pattern != method+" "+tmpl {
			t.Errorf("%s is routed to %q", r, pattern)
		}
	}
	// The schemas document exactly the model's JSON fields.
	var modelFields []string
	b, _ := json.Marshal(tenant.Config{TenantID: "a", Type: "s3", Enabled: new(bool), DesiredLogs: []string{"a"},
		Groups: []string{"a"}, TargetRegion: "r", TTL: new(int64), CreatedAt: "c", UpdatedAt: "u",
		LogDistributionRoleARN: "a", LogGroupName: "g", ExternalID: "e", RetentionInDays: new(int32), KMSKeyID: "k",
		BucketName: "b", BucketPrefix: "p", SSE: "s", RateLimit: &tenant.RateLimit{EventsPerSecond: 1}})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	modelFields = keys(m)
	// Request bodies (POST/PUT: Config, PATCH: ConfigPatch) accept exactly the model's fields; responses
	// (ConfigView) add warnings.
	schemas := ts.srv.OpenAPI().Components.Schemas.Map()
	for name, want := range map[string][]string{
		"Config": modelFields, "ConfigPatch": modelFields, "ConfigView": append(append([]string{}, modelFields...), "warnings"),
	} {
		sort.Strings(want)
		s := schemas[name]
		if s == nil {
			t.Fatalf("no %s schema", name)
		}
		if fmt.Sprint(keys(s.Properties)) != fmt.Sprint(want) {
			t.Errorf("%s schema properties %v, want %v", name, keys(s.Properties), want)
		}
		if s.AdditionalProperties != false {
			t.Errorf("%s schema allows additional properties", name)
		}
	}
	// The operations use those schemas.
	paths := ts.srv.OpenAPI().Paths
	for _, c := range []struct {
		op     *huma.Operation
		schema string
	}{
		{paths[BasePath+"/tenants/{tenant_id}/delivery-configs"].Post, "Config"},
		{paths[BasePath+"/tenants/{tenant_id}/delivery-configs/{type}"].Put, "Config"},
		{paths[BasePath+"/tenants/{tenant_id}/delivery-configs/{type}"].Patch, "ConfigPatch"},
	} {
		if ref := c.op.RequestBody.Content["application/json"].Schema.Ref; ref != "#/components/schemas/"+c.schema {
			t.Errorf("%s request body is %s, want %s", c.op.OperationID, ref, c.schema)
		}
	}
}

func TestHealthNeedsNoAuth(t *testing.T) {
	ts := newTestServer(t, nil)
	res := ts.do("GET", HealthPath, "", false)
	if res.Status != 200 || !bytes.Contains(res.Body, []byte(`"ok"`)) {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
}

func TestUnauthenticatedIsBare401(t *testing.T) {
	ts := newTestServer(t, nil)
	for name, mutate := range map[string]func(r *http.Request){
		"unsigned":   func(r *http.Request) { r.Header = http.Header{} },
		"wrong key":  func(r *http.Request) { Sign(r, testKeyID, []byte("another-secret-0123456789"), nil, time.Now()) },
		"stale":      func(r *http.Request) { Sign(r, testKeyID, testSecret, nil, time.Now().Add(-6*time.Minute)) },
		"unknown id": func(r *http.Request) { Sign(r, "nobody", testSecret, nil, time.Now()) },
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/tenants/acme/delivery-configs", nil)
			Sign(req, testKeyID, testSecret, nil, time.Now())
			mutate(req)
			rec := httptest.NewRecorder()
			ts.srv.ServeHTTP(rec, req)
			res := response{rec.Code, rec.Header(), rec.Body.Bytes()}
			if res.Status != 401 {
				t.Fatalf("status %d", res.Status)
			}
			if p := res.problem(t); p.Detail != "" || len(p.Errors) != 0 {
				t.Fatalf("401 reveals why: %s", res.Body)
			}
			checkAgainstDoc(t, ts.srv.OpenAPI(), "GET", req.URL.Path, res)
		})
	}
	// The OpenAPI document needs authentication too.
	if res := ts.do("GET", OpenAPIPath, "", false); res.Status != 401 {
		t.Fatalf("openapi without signature: %d", res.Status)
	}
}

func TestTamperedBodyRejected(t *testing.T) {
	ts := newTestServer(t, nil)
	req := httptest.NewRequest("POST", "/api/v1/tenants/acme/delivery-configs", strings.NewReader(`{"type":"s3","bucket_name":"evil-bucket"}`))
	Sign(req, testKeyID, testSecret, []byte(`{"type":"s3","bucket_name":"good-bucket"}`), time.Now())
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("status %d", rec.Code)
	}
	if v := testutil.ToFloat64(ts.srv.metrics.authFail.WithLabelValues("body_mismatch")); v != 1 {
		t.Fatalf("auth failure metric %v", v)
	}
}

func TestBodyCap(t *testing.T) {
	ts := newTestServer(t, nil)
	big := `{"type":"s3","bucket_name":"b-b-b","desired_logs":["` + strings.Repeat("a", 64<<10) + `"]}`
	res := ts.do("POST", "/api/v1/tenants/acme/delivery-configs", big, true)
	if res.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", res.Status)
	}
	res.problem(t)
}

func TestRequestValidation(t *testing.T) {
	ts := newTestServer(t, nil)
	tests := map[string]struct {
		method, path, body string
		wantLocations      []string
	}{
		"unknown field": {"POST", "/api/v1/tenants/acme/delivery-configs",
			`{"type":"s3","bucket_name":"acme-logs","bucket":"x"}`, []string{"body.bucket"}},
		"wrong JSON type": {"POST", "/api/v1/tenants/acme/delivery-configs",
			`{"type":"s3","bucket_name":"acme-logs","enabled":"yes"}`, []string{"body.enabled"}},
		"unknown type": {"POST", "/api/v1/tenants/acme/delivery-configs",
			`{"type":"kinesis"}`, []string{"body.type"}},
		"per-field model errors": {"POST", "/api/v1/tenants/acme/delivery-configs",
			`{"type":"cloudwatch","log_distribution_role_arn":"arn:aws:iam::1:role/x","target_region":"Mars"}`,
			[]string{"body.log_distribution_role_arn", "body.log_group_name", "body.target_region"}},
		"tenant mismatch": {"POST", "/api/v1/tenants/acme/delivery-configs",
			`{"tenant_id":"other","type":"s3","bucket_name":"acme-logs"}`, []string{"body.tenant_id"}},
		"bad tenant in path": {"GET", "/api/v1/tenants/Not_A_Namespace/delivery-configs", "", []string{"path.tenant_id"}},
		"bad type in path":   {"GET", "/api/v1/tenants/acme/delivery-configs/kinesis", "", []string{"path.type"}},
		"type mismatch on put": {"PUT", "/api/v1/tenants/acme/delivery-configs/s3",
			`{"type":"cloudwatch"}`, []string{"body.type"}},
		"ttl in the past": {"POST", "/api/v1/tenants/acme/delivery-configs",
			`{"type":"s3","bucket_name":"acme-logs","ttl":1000}`, []string{"body.ttl"}},
		"unknown query parameter": {"GET", "/api/v1/delivery-configs?limt=5", "", []string{"query.limt"}},
		"limit out of range":      {"GET", "/api/v1/delivery-configs?limit=0", "", []string{"query.limit"}},
		"not JSON":                {"POST", "/api/v1/tenants/acme/delivery-configs", `{"type":`, []string{"body"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := ts.do(tc.method, tc.path, tc.body, true)
			if res.Status != 400 {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			p := res.problem(t)
			var got []string
			for _, d := range p.Errors {
				got = append(got, d.Location)
			}
			for _, want := range tc.wantLocations {
				found := false
				for _, g := range got {
					found = found || g == want
				}
				if !found {
					t.Fatalf("no error at %s; got %s", want, res.Body)
				}
			}
		})
	}
}

func TestUnknownRoutes(t *testing.T) {
	ts := newTestServer(t, nil)
	res := ts.do("GET", "/api/v1/nothing", "", true)
	if res.Status != 404 {
		t.Fatalf("status %d", res.Status)
	}
	res.problem(t)
	res = ts.do("POST", "/api/v1/tenants/acme/delivery-configs/s3", `{}`, true)
	if res.Status != 405 || !strings.Contains(res.Header.Get("Allow"), "PUT") {
		t.Fatalf("status %d allow %q", res.Status, res.Header.Get("Allow"))
	}
	res.problem(t)
}

func TestMetricsByRouteAndStatus(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.do("GET", HealthPath, "", false)
	ts.do("GET", "/api/v1/tenants/acme/delivery-configs", "", false)
	ts.do("GET", "/api/v1/tenants/other/delivery-configs", "", false)
	ts.do("GET", "/nope", "", true)
	for _, tc := range []struct {
		route, code string
		want        float64
	}{
		{HealthPath, "200", 1},
		{"/api/v1/tenants/{tenant_id}/delivery-configs", "401", 2},
		{"unmatched", "404", 1},
	} {
		if v := testutil.ToFloat64(ts.srv.metrics.requests.WithLabelValues(tc.route, "GET", tc.code)); v != tc.want {
			t.Errorf("requests{%s,%s} = %v, want %v", tc.route, tc.code, v, tc.want)
		}
	}
	if n := testutil.CollectAndCount(ts.srv.metrics.latency); n != 3 {
		t.Errorf("latency series %d, want 3", n)
	}
	if _, err := ts.reg.Gather(); err != nil {
		t.Fatal(err)
	}
}
