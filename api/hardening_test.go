package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logrouter/logrouter/tenant"
)

// testClock is an injectable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newOptsServer is newTestServer with options (the logger and registry are set here).
func newOptsServer(t *testing.T, store *tenant.Store, opts Options) *testServer {
	t.Helper()
	if store == nil {
		store = tenant.NewStore(nil, "unused")
	}
	reg := prometheus.NewRegistry()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Registerer = reg
	srv, err := New(store, Keys{testKeyID: testSecret}, opts)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	return &testServer{t: t, srv: srv, reg: reg, now: now}
}

// doAs sends a request signed (v2) with keyID/secret from remote, and checks it against the OpenAPI document.
func (ts *testServer) doAs(keyID string, secret []byte, remote, method, target, body string) response {
	ts.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if remote != "" {
		req.RemoteAddr = remote
	}
	Sign(req, keyID, secret, []byte(body), ts.now)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	res := response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	checkAgainstDoc(ts.t, ts.srv.OpenAPI(), method, req.URL.Path, res)
	return res
}

func mustKeySet(t *testing.T, text string) *KeySet {
	t.Helper()
	set, err := ParseKeySet(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

const (
	secretFull   = "full-secret-0123456789"
	secretAcme   = "acme-secret-0123456789"
	secretReader = "read-secret-0123456789"
	secretOld    = "old--secret-0123456789"
)

func TestScopedKeys(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	set := mustKeySet(t, `
full=`+secretFull+`
acme=`+secretAcme+`
@acme tenants=acme-corp,team-* access=read-write
reader=`+secretReader+`
@reader access=read
old=`+secretOld+`
@old expires=2026-12-01T12:30:00Z
`)
	ts := newOptsServer(t, nil, Options{KeyRing: NewKeyRing(set), Now: clock.Now})
	// Requests that pass authorization reach the store, which has no client here: the handler's answer does
	// not matter, only whether authorization let the request through (not 401/403).
	passed := func(res response) bool { return res.Status != 401 && res.Status != 403 }
	tests := map[string]struct {
		key, secret, method, path, body string
		pass                            bool
		reason                          string // the authorization-denial reason counted, if denied
	}{
		"unscoped key, all-tenants route": {"full", secretFull, "GET", "/api/v1/delivery-configs", "", true, ""},
		"unscoped key writes any tenant":  {"full", secretFull, "DELETE", "/api/v1/tenants/other/delivery-configs/s3", "", true, ""},
		"scoped key, its tenant":          {"acme", secretAcme, "DELETE", "/api/v1/tenants/acme-corp/delivery-configs/s3", "", true, ""},
		"scoped key, tenant by prefix":    {"acme", secretAcme, "GET", "/api/v1/tenants/team-blue/delivery-configs", "", true, ""},
		"scoped key, history":             {"acme", secretAcme, "GET", "/api/v1/tenants/team-blue/delivery-configs/s3/history", "", true, ""},
		"scoped key, other tenant":        {"acme", secretAcme, "GET", "/api/v1/tenants/acme-corporation/delivery-configs", "", false, "tenant"},
		"scoped key, other tenant write":  {"acme", secretAcme, "POST", "/api/v1/tenants/other/delivery-configs", `{"type":"s3","bucket_name":"x-y-z"}`, false, "tenant"},
		"scoped key, prefix is no match":  {"acme", secretAcme, "GET", "/api/v1/tenants/team/delivery-configs", "", false, "tenant"},
		"scoped key, all-tenants route":   {"acme", secretAcme, "GET", "/api/v1/delivery-configs", "", false, "all_tenants"},
		"scoped key, all-tenants usage":   {"acme", secretAcme, "GET", "/api/v1/usage", "", false, "all_tenants"},
		"scoped key, its tenant's status": {"acme", secretAcme, "GET", "/api/v1/tenants/acme-corp/status", "", true, ""},
		"read-only key validates":         {"reader", secretReader, "POST", "/api/v1/tenants/acme/delivery-configs/s3/validate", "", false, "read_only"},
		"read-only key reads":             {"reader", secretReader, "GET", "/api/v1/delivery-configs", "", true, ""},
		"read-only key writes":            {"reader", secretReader, "PATCH", "/api/v1/tenants/acme/delivery-configs/s3", `{"enabled":false}`, false, "read_only"},
		"read-only key deletes":           {"reader", secretReader, "DELETE", "/api/v1/tenants/acme/delivery-configs/s3", "", false, "read_only"},
		"key before its expiry":           {"old", secretOld, "GET", "/api/v1/delivery-configs", "", true, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := testutil.ToFloat64(ts.srv.metrics.authzDenied.WithLabelValues(tc.reason))
			res := ts.doAs(tc.key, []byte(tc.secret), "", tc.method, tc.path, tc.body)
			if passed(res) != tc.pass {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if !tc.pass {
				if res.Status != 403 {
					t.Fatalf("denied with %d, want 403", res.Status)
				}
				if got := testutil.ToFloat64(ts.srv.metrics.authzDenied.WithLabelValues(tc.reason)); got != before+1 {
					t.Fatalf("denials{%s} %v -> %v", tc.reason, before, got)
				}
			}
		})
	}

	// From its expiry on, the key is refused like an unknown one (bare 401).
	clock.Advance(30 * time.Minute)
	ts.now = clock.Now()
	res := ts.doAs("old", []byte(secretOld), "", "GET", "/api/v1/delivery-configs", "")
	if res.Status != 401 || res.problem(t).Detail != "" {
		t.Fatalf("expired key: %d %s", res.Status, res.Body)
	}
	if v := testutil.ToFloat64(ts.srv.metrics.authFail.WithLabelValues("expired")); v != 1 {
		t.Fatalf("auth failures{expired} = %v", v)
	}
}

func TestParseKeySet(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantErr string
	}{
		"plain file (old format)":      {in: "a=" + secretFull + "\nb=" + secretAcme + "\n"},
		"scopes":                       {in: "a=" + secretFull + "\n@a tenants=acme,team-* access=read expires=2027-01-31T00:00:00Z\n"},
		"scope before its key":         {in: "@a access=read\na=" + secretFull + "\n"},
		"scope of an unknown key":      {in: "a=" + secretFull + "\n@b access=read\n", wantErr: "does not define"},
		"two scope lines":              {in: "a=" + secretFull + "\n@a access=read\n@a access=read-write\n", wantErr: "second scope"},
		"unknown setting":              {in: "a=" + secretFull + "\n@a tenant=acme\n", wantErr: "unknown setting"},
		"bad access":                   {in: "a=" + secretFull + "\n@a access=write\n", wantErr: "access"},
		"bad expiry":                   {in: "a=" + secretFull + "\n@a expires=tomorrow\n", wantErr: "RFC 3339"},
		"bare star":                    {in: "a=" + secretFull + "\n@a tenants=*\n", wantErr: "every tenant"},
		"bad tenant":                   {in: "a=" + secretFull + "\n@a tenants=Acme\n", wantErr: "neither"},
		"star inside":                  {in: "a=" + secretFull + "\n@a tenants=a*b\n", wantErr: "neither"},
		"empty scope":                  {in: "a=" + secretFull + "\n@a\n", wantErr: "empty scope"},
		"setting twice":                {in: "a=" + secretFull + "\n@a access=read access=read\n", wantErr: "twice"},
		"error never shows the secret": {in: "a=" + secretFull + "\na=" + secretAcme + "\n", wantErr: "duplicate"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set, err := ParseKeySet(strings.NewReader(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v (%v), want an error containing %q", err, set, tc.wantErr)
			}
			for _, s := range []string{secretFull, secretAcme} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error reveals a secret: %v", err)
				}
			}
		})
	}
	set := mustKeySet(t, "a="+secretFull+"\n@a tenants=acme,team-* access=read expires=2027-01-31T00:00:00Z\n")
	sc := set.Scopes["a"]
	if !sc.ReadOnly || !sc.Scoped() || !sc.AllowsTenant("acme") || !sc.AllowsTenant("team-x") || sc.AllowsTenant("acme2") ||
		!sc.Expires.Equal(time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("scope %+v", sc)
	}
	// ParseKeys (unscoped keys only) refuses scoped files rather than dropping the scopes.
	if _, err := ParseKeys(strings.NewReader("a=" + secretFull + "\n@a access=read\n")); err == nil {
		t.Fatal("ParseKeys accepted a scoped file")
	}
}

func TestKeyFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("full=" + secretFull + "\n")
	ring, err := LoadKeyRing(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := newOptsServer(t, nil, Options{KeyRing: ring})
	ring.OnReload = ts.srv.KeyReloaded
	list := func(key, secret string) int {
		return ts.doAs(key, []byte(secret), "", "GET", "/api/v1/tenants/acme/delivery-configs/s3/history", "").Status
	}
	if list("acme", secretAcme) != 401 {
		t.Fatal("unknown key accepted")
	}

	// Unchanged content: no reload.
	if tried, err := ring.ReloadIfChanged(); tried || err != nil {
		t.Fatalf("unchanged file: tried %v, %v", tried, err)
	}
	// A new key and a scope, picked up by the content check.
	write("full=" + secretFull + "\nacme=" + secretAcme + "\n@acme tenants=acme\n")
	if tried, err := ring.ReloadIfChanged(); !tried || err != nil {
		t.Fatalf("changed file: tried %v, %v", tried, err)
	}
	if s := list("acme", secretAcme); s == 401 || s == 403 {
		t.Fatalf("new key after reload: %d", s)
	}
	if s := ts.doAs("acme", []byte(secretAcme), "", "GET", "/api/v1/tenants/other/delivery-configs", "").Status; s != 403 {
		t.Fatalf("new scope after reload: %d", s)
	}

	// An invalid file is refused, the reason given, and the keys in use kept.
	write("full=" + secretFull + "\nacme=tiny\n")
	tried, err := ring.ReloadIfChanged()
	if !tried || err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "tiny") {
		t.Fatalf("invalid file: tried %v, error %v", tried, err)
	}
	if s := list("acme", secretAcme); s == 401 {
		t.Fatal("keys in use were dropped by an invalid file")
	}
	if v := testutil.ToFloat64(ts.srv.metrics.keyReloads.WithLabelValues("refused")); v != 1 {
		t.Fatalf("refused reloads %v", v)
	}

	// SIGHUP (here, a value on the signal channel) reloads at once, whatever the content check says.
	write("full=" + secretFull + "\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan error, 4)
	ring.OnReload = func(err error) { ts.srv.KeyReloaded(err); reloaded <- err }
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		ring.Watch(ctx, time.Hour, hup, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	hup <- os.Interrupt // any value: Watch does not look at which signal
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	if s := list("acme", secretAcme); s != 401 {
		t.Fatalf("removed key still accepted: %d", s)
	}
	cancel()
	<-done
	if v := testutil.ToFloat64(ts.srv.metrics.keyReloads.WithLabelValues("ok")); v != 2 {
		t.Fatalf("ok reloads %v", v)
	}
}

func TestAuthFailuresAreRateLimitedPerClient(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	ts := newOptsServer(t, nil, Options{Now: clock.Now, AuthFailureLimit: RateLimit{Burst: 3, Per: 30 * time.Second}})
	const attacker, other = "192.0.2.7:1000", "192.0.2.8:1000"
	bad := func(remote string) response {
		return ts.doAs(testKeyID, []byte("wrong-secret-0123456789"), remote, "GET", "/api/v1/delivery-configs", "")
	}
	for i := 0; i < 3; i++ {
		if res := bad(attacker); res.Status != 401 {
			t.Fatalf("failure %d: %d", i+1, res.Status)
		}
	}
	// The fourth attempt is refused before its signature is even checked, valid or not, from any port.
	res := bad("192.0.2.7:2000")
	if res.Status != 429 || res.Header.Get("Retry-After") != "10" {
		t.Fatalf("after 3 failures: %d, Retry-After %q", res.Status, res.Header.Get("Retry-After"))
	}
	res.problem(t)
	if res := ts.doAs(testKeyID, testSecret, attacker, "GET", "/api/v1/delivery-configs?limit=5", ""); res.Status != 429 {
		t.Fatalf("valid request from a limited client: %d", res.Status)
	}
	// Other clients are not affected.
	if res := bad(other); res.Status != 401 {
		t.Fatalf("another client: %d", res.Status)
	}
	if v := testutil.ToFloat64(ts.srv.metrics.rateLimited.WithLabelValues("auth_failures")); v != 2 {
		t.Fatalf("rate limited{auth_failures} = %v", v)
	}
	// One token comes back every 10 s.
	clock.Advance(9 * time.Second)
	ts.now = clock.Now()
	if res := bad(attacker); res.Status != 429 || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("after 9s: %d Retry-After %q", res.Status, res.Header.Get("Retry-After"))
	}
	clock.Advance(time.Second)
	ts.now = clock.Now()
	if res := bad(attacker); res.Status != 401 {
		t.Fatalf("after 10s: %d", res.Status)
	}
	if res := bad(attacker); res.Status != 429 {
		t.Fatalf("the returned token was used: %d", res.Status)
	}
}

// The per-tenant limit applies by operation id (AWSOperations), so it covers the validate and replay routes
// whichever file registers them. Their back ends are not configured here (503): only whether a request reaches
// the handler matters.
func TestAWSCallsAreRateLimitedPerTenant(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	ts := newOptsServer(t, nil, Options{Now: clock.Now, AWSCallLimit: RateLimit{Burst: 2, Per: time.Minute}})
	validatePath := func(tenantID string) string { return BasePath + "/tenants/" + tenantID + "/delivery-configs/validate" }
	body := `{"type":"s3","bucket_name":"acme-logs"}`
	reached := func(res response) bool { return res.Status != 429 }
	for i := 0; i < 2; i++ {
		if res := ts.doAs(testKeyID, testSecret, "", "POST", validatePath("acme"), body); !reached(res) {
			t.Fatalf("call %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	res := ts.doAs(testKeyID, testSecret, "", "POST", validatePath("acme"), body)
	if res.Status != 429 || res.Header.Get("Retry-After") != "30" {
		t.Fatalf("third call: %d Retry-After %q %s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}
	// The limit is per tenant and shared by the routes that call AWS: the stored-config validation and the
	// replays of acme are limited too; another tenant is not.
	if res := ts.doAs(testKeyID, testSecret, "", "POST", BasePath+"/tenants/acme/delivery-configs/s3/validate", ""); res.Status != 429 {
		t.Fatalf("validate-stored for the same tenant: %d", res.Status)
	}
	if res := ts.doAs(testKeyID, testSecret, "", "POST", BasePath+"/tenants/acme/replays", `{}`); res.Status != 429 {
		t.Fatalf("create-replay for the same tenant: %d %s", res.Status, res.Body)
	}
	if res := ts.doAs(testKeyID, testSecret, "", "POST", validatePath("beta"), body); !reached(res) {
		t.Fatalf("another tenant: %d", res.Status)
	}
	// Routes that do not call AWS are not limited.
	if res := ts.doAs(testKeyID, testSecret, "", "GET", BasePath+"/tenants/acme/replays", ""); !reached(res) {
		t.Fatalf("list-replays: %d", res.Status)
	}
	// Strict keys apply to these routes too, before their rate limit is charged.
	if res := ts.doAs(testKeyID, testSecret, "", "POST", validatePath("gamma"), `{"type":"s3","Bucket_Name":"x"}`); res.Status != 400 || !strings.Contains(string(res.Body), "body.Bucket_Name") {
		t.Fatalf("strict keys on the validate route: %d %s", res.Status, res.Body)
	}
	if v := testutil.ToFloat64(ts.srv.metrics.rateLimited.WithLabelValues("aws_calls")); v != 3 {
		t.Fatalf("rate limited{aws_calls} = %v", v)
	}
	clock.Advance(30 * time.Second)
	ts.now = clock.Now()
	if res := ts.doAs(testKeyID, testSecret, "", "POST", validatePath("acme"), body); !reached(res) {
		t.Fatalf("after 30s: %d", res.Status)
	}
}

func TestSigningVersions(t *testing.T) {
	ts := newOptsServer(t, nil, Options{})
	send := func(method, target, body string, sign func(*http.Request)) response {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		sign(req)
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	}
	v1 := func(body string) func(*http.Request) {
		return func(r *http.Request) { SignV1(r, testKeyID, testSecret, []byte(body), time.Now()) }
	}
	// v1 still reads.
	if res := send("GET", OpenAPIPath, "", v1("")); res.Status != 200 {
		t.Fatalf("v1 GET: %d", res.Status)
	}
	// v1 cannot change anything, and is told why.
	res := send("DELETE", "/api/v1/tenants/acme/delivery-configs/s3", "", v1(""))
	if res.Status != 401 || !strings.Contains(res.problem(t).Detail, AlgorithmV2) {
		t.Fatalf("v1 DELETE: %d %s", res.Status, res.Body)
	}
	// v2 needs a well-formed request id, and an algorithm it knows.
	for name, mutate := range map[string]func(*http.Request){
		"short request id": func(r *http.Request) {
			SignWithRequestID(r, testKeyID, testSecret, nil, time.Now(), "too-short")
		},
		"request id changed after signing": func(r *http.Request) {
			Sign(r, testKeyID, testSecret, nil, time.Now())
			r.Header.Set(HeaderRequestID, NewRequestID())
		},
		"unknown algorithm": func(r *http.Request) {
			Sign(r, testKeyID, testSecret, nil, time.Now())
			r.Header.Set(HeaderAlgorithm, "LOGROUTER-HMAC-SHA256-V3")
		},
	} {
		if res := send("DELETE", "/api/v1/tenants/acme/delivery-configs/s3", "", mutate); res.Status != 401 || res.problem(t).Detail != "" {
			t.Fatalf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	// The README's v2 layout.
	got := StringToSignV2("POST", "/api/v1/tenants/a/delivery-configs", "1795000000", "0123456789abcdef", BodySHA256(nil))
	want := "LOGROUTER-HMAC-SHA256-V2\nPOST\n/api/v1/tenants/a/delivery-configs\n1795000000\n0123456789abcdef\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got != want {
		t.Fatalf("string to sign %q", got)
	}
}

// A replayed mutating request is refused within one process too (the in-memory record).
func TestReplayRefusedInOneProcess(t *testing.T) {
	ts := newOptsServer(t, nil, Options{})
	req := httptest.NewRequest("POST", "/api/v1/tenants/Bad_Tenant/delivery-configs", strings.NewReader(`{}`))
	Sign(req, testKeyID, testSecret, []byte(`{}`), time.Now())
	replay := req.Clone(context.Background())
	replay.Body = io.NopCloser(strings.NewReader(`{}`))
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, replay)
	if rec.Code != 409 || !strings.Contains(rec.Body.String(), "already used") {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	if v := testutil.ToFloat64(ts.srv.metrics.replaysRefused); v != 1 {
		t.Fatalf("replays refused %v", v)
	}
}

// OpenAPIDocument (logrouter api openapi) is the document the server serves.
func TestOpenAPIDocumentWithoutServer(t *testing.T) {
	local, err := OpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	ts := newOptsServer(t, nil, Options{})
	res := ts.doAs(testKeyID, testSecret, "", "GET", OpenAPIPath, "")
	if res.Status != 200 {
		t.Fatalf("served: %d", res.Status)
	}
	var a, b any
	if err := json.Unmarshal(local, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res.Body, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("OpenAPIDocument differs from the served document:\n%s\n---\n%s", local, res.Body)
	}
	// The CLI's local check names offending keys; unknown operations are an error, not a pass.
	if err := CheckRequestBody("patch-delivery-config", []byte(`{"Enabled":true}`)); err == nil || !strings.Contains(err.Error(), "body.Enabled") {
		t.Fatalf("local check: %v", err)
	}
	if err := CheckRequestBody("patch-delivery-config", []byte(`{"enabled":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := CheckRequestBody("no-such-operation", []byte(`{}`)); !errors.Is(err, ErrUnknownOperation) {
		t.Fatalf("unknown operation: %v", err)
	}
}

// Behind a trusted reverse proxy the client is the address the proxy saw; a spoofed X-Forwarded-For from
// anyone else is ignored.
func TestClientAddressBehindTrustedProxies(t *testing.T) {
	ts := newOptsServer(t, nil, Options{AuthFailureLimit: RateLimit{Burst: 1, Per: time.Hour},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	bad := func(peer, xff string) int {
		req := httptest.NewRequest("GET", "/api/v1/delivery-configs", nil)
		req.RemoteAddr = peer
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		Sign(req, testKeyID, []byte("wrong-secret-0123456789"), nil, time.Now())
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		return rec.Code
	}
	// Through the proxy, clients are told apart by X-Forwarded-For (right-most untrusted hop).
	if c := bad("10.1.1.1:5000", "192.0.2.7"); c != 401 {
		t.Fatalf("first failure of 192.0.2.7: %d", c)
	}
	if c := bad("10.1.1.1:5000", "203.0.113.1, 192.0.2.7, 10.2.2.2"); c != 429 {
		t.Fatalf("second failure of 192.0.2.7 (spoofed left hop, trusted right hop): %d", c)
	}
	if c := bad("10.1.1.1:5000", "192.0.2.8"); c != 401 {
		t.Fatalf("another client behind the proxy: %d", c)
	}
	// An untrusted peer cannot choose its identity with the header.
	if c := bad("198.51.100.1:1", "192.0.2.99"); c != 401 {
		t.Fatalf("untrusted peer, first failure: %d", c)
	}
	if c := bad("198.51.100.1:2", "192.0.2.100"); c != 429 {
		t.Fatalf("untrusted peer with another X-Forwarded-For: %d", c)
	}
}
