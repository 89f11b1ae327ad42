package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// Regression tests for the defects of issue 15. They use only the API of the server as it was before the fix,
// so that they can be run against it and seen to fail.

// motoTable creates a fresh configuration table and returns the client and its name.
func motoTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("api-defects")
	if err := tenant.CreateTable(testaws.Context(t, time.Minute), client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return client, table
}

func rawItem(t *testing.T, client *dynamodb.Client, table, tenantID, typ string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"tenant_id": &types.AttributeValueMemberS{Value: tenantID}, "type": &types.AttributeValueMemberS{Value: typ},
	}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func errorLocations(t *testing.T, res response) []string {
	t.Helper()
	var locs []string
	for _, d := range res.problem(t).Errors {
		locs = append(locs, d.Location)
	}
	return locs
}

func TestDefectKeysAreCaseSensitiveIntegration(t *testing.T) {
	client, table := motoTable(t)
	ts := newTestServer(t, tenant.NewStore(client, table))
	base := "/api/v1/tenants/acme-corp/delivery-configs"

	// The create: a second, differently cased bucket_name must not win (or be ignored).
	res := ts.do("POST", base, `{"type":"s3","bucket_name":"acme-logs","Bucket_Name":"other"}`, true)
	if res.Status != 400 || fmt.Sprint(errorLocations(t, res)) != "[body.Bucket_Name]" {
		t.Fatalf("create with Bucket_Name: %d %s", res.Status, res.Body)
	}
	if !strings.Contains(string(res.Body), "bucket_name") {
		t.Fatalf("the error does not point to the field name: %s", res.Body)
	}
	if item := rawItem(t, client, table, "acme-corp", "s3"); item != nil {
		t.Fatalf("refused create stored %v", item)
	}
	// A key given twice is ambiguous too.
	res = ts.do("POST", base, `{"type":"s3","bucket_name":"acme-logs","bucket_name":"other"}`, true)
	if res.Status != 400 || fmt.Sprint(errorLocations(t, res)) != "[body.bucket_name]" {
		t.Fatalf("create with bucket_name twice: %d %s", res.Status, res.Body)
	}

	if res := ts.do("POST", base, `{"type":"s3","bucket_name":"acme-logs","enabled":false}`, true); res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	tests := map[string]struct{ method, path, body, location string }{
		"patch Enabled":                {"PATCH", base + "/s3", `{"Enabled": true}`, "body.Enabled"},
		"patch Target_Region (unset)":  {"PATCH", base + "/s3", `{"Target_Region":"eu-west-1"}`, "body.Target_Region"},
		"put Target_Region beside set": {"PUT", base + "/s3", `{"bucket_name":"acme-logs","target_region":"us-east-1","Target_Region":"eu-west-1"}`, "body.Target_Region"},
		"put Target_Region alone":      {"PUT", base + "/s3", `{"bucket_name":"acme-logs","Target_Region":"eu-west-1"}`, "body.Target_Region"},
		"create TYPE":                  {"POST", "/api/v1/tenants/other/delivery-configs", `{"TYPE":"s3","bucket_name":"acme-logs"}`, "body.TYPE"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := ts.do(tc.method, tc.path, tc.body, true)
			if res.Status != 400 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if locs := errorLocations(t, res); fmt.Sprint(locs) != "["+tc.location+"]" {
				t.Fatalf("error locations %v, want [%s]", locs, tc.location)
			}
		})
	}
	item := rawItem(t, client, table, "acme-corp", "s3")
	if e, ok := item["enabled"].(*types.AttributeValueMemberBOOL); !ok || e.Value {
		t.Fatalf("enabled changed by a refused request: %v", item["enabled"])
	}
	if _, ok := item["target_region"]; ok {
		t.Fatalf("target_region set by a refused request: %v", item["target_region"])
	}
}

func TestDefectBodyLimitIsExactIntegration(t *testing.T) {
	client, table := motoTable(t)
	ts := newTestServer(t, tenant.NewStore(client, table))
	body := func(size int) string {
		b := `{"type":"s3","bucket_name":"acme-logs"}`
		return b + strings.Repeat(" ", size-len(b)) // trailing whitespace is valid JSON
	}
	if res := ts.do("POST", "/api/v1/tenants/exact/delivery-configs", body(DefaultMaxBodyBytes), true); res.Status != 201 {
		t.Fatalf("a body of exactly %d bytes: %d %s", DefaultMaxBodyBytes, res.Status, res.Body)
	}
	for _, path := range []string{"/api/v1/tenants/over/delivery-configs", "/api/v1/tenants/exact/delivery-configs/s3"} {
		for _, method := range []string{"POST", "PUT", "PATCH"} {
			if method != "POST" && strings.HasSuffix(path, "delivery-configs") || method == "POST" && strings.HasSuffix(path, "/s3") {
				continue
			}
			res := ts.do(method, path, body(DefaultMaxBodyBytes+1), true)
			if res.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s %s with %d bytes: %d", method, path, DefaultMaxBodyBytes+1, res.Status)
			}
			if p := res.problem(t); p.Detail != "request body is larger than 65536 bytes" {
				t.Fatalf("%s %s: message %q", method, path, p.Detail)
			}
		}
	}
	if item := rawItem(t, client, table, "over", "s3"); item != nil {
		t.Fatal("an oversized create was stored")
	}
}

func TestDefectDefaultsAreStoredIntegration(t *testing.T) {
	client, table := motoTable(t)
	ts := newTestServer(t, tenant.NewStore(client, table))
	base := "/api/v1/tenants/acme-corp/delivery-configs"
	enabled := func() any {
		switch v := rawItem(t, client, table, "acme-corp", "s3")["enabled"].(type) {
		case *types.AttributeValueMemberBOOL:
			return v.Value
		default:
			return v
		}
	}
	if res := ts.do("POST", base, `{"type":"s3","bucket_name":"acme-logs"}`, true); res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	if got := enabled(); got != true {
		t.Fatalf("create without enabled stored enabled=%v", got)
	}
	if res := ts.do("PATCH", base+"/s3", `{"enabled":false}`, true); res.Status != 200 {
		t.Fatalf("patch: %d %s", res.Status, res.Body)
	}
	if res := ts.do("PUT", base+"/s3", `{"bucket_name":"acme-logs"}`, true); res.Status != 200 {
		t.Fatalf("put: %d %s", res.Status, res.Body)
	}
	if got := enabled(); got != true {
		t.Fatalf("replace without enabled stored enabled=%v", got)
	}
}

func TestDefectPatchNullIsDocumentedIntegration(t *testing.T) {
	client, table := motoTable(t)
	ts := newTestServer(t, tenant.NewStore(client, table))
	base := "/api/v1/tenants/acme-corp/delivery-configs"
	ttl := time.Now().Add(time.Hour).Unix()
	if res := ts.do("POST", base, fmt.Sprintf(`{"type":"s3","bucket_name":"acme-logs","enabled":false,"ttl":%d,"sse":"AES256"}`, ttl), true); res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	res := ts.do("PATCH", base+"/s3", `{"ttl":null,"enabled":null,"sse":null}`, true)
	if res.Status != 200 {
		t.Fatalf("patch null: %d %s", res.Status, res.Body)
	}
	item := rawItem(t, client, table, "acme-corp", "s3")
	if _, ok := item["ttl"]; ok {
		t.Fatal("ttl: null did not remove ttl")
	}
	if _, ok := item["sse"]; ok {
		t.Fatal("sse: null did not remove sse")
	}
	if e, ok := item["enabled"].(*types.AttributeValueMemberBOOL); !ok || !e.Value {
		t.Fatalf("enabled: null did not restore the default (stored true): %v", item["enabled"])
	}
	// null on a required field leaves an invalid configuration: 400, nothing changed.
	res = ts.do("PATCH", base+"/s3", `{"bucket_name":null}`, true)
	if res.Status != 400 || fmt.Sprint(errorLocations(t, res)) != "[body.bucket_name]" {
		t.Fatalf("bucket_name: null: %d %s", res.Status, res.Body)
	}
	// The documentation says what the code does.
	op := ts.srv.OpenAPI().Paths[BasePath+"/tenants/{tenant_id}/delivery-configs/{type}"].Patch
	if !strings.Contains(op.Description, "null removes it") || strings.Contains(op.Description, "Use PUT to remove") {
		t.Fatalf("PATCH description does not document null: %q", op.Description)
	}
}

func TestDefectReadinessAndRequestIDsIntegration(t *testing.T) {
	client := dynamodb.NewFromConfig(testaws.Config(t))
	var logs bytes.Buffer
	srv, err := New(tenant.NewStore(client, "missing-"+testaws.Name("table")), Keys{testKeyID: testSecret}, Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(method, target string, sign bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		if sign {
			Sign(req, testKeyID, testSecret, nil, time.Now())
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	if rec := serve("GET", "/api/v1/health", false); rec.Code != 200 {
		t.Fatalf("health (liveness) %d", rec.Code)
	}
	rec := serve("GET", "/api/v1/ready", false)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("ready with a missing table: %d %s", rec.Code, rec.Body)
	}
	if body := rec.Body.String(); strings.Contains(body, "missing-") || strings.Contains(body, "ResourceNotFound") {
		t.Fatalf("readiness reveals the cause to anonymous clients: %s", body)
	}

	rec = serve("GET", "/api/v1/tenants/acme/delivery-configs/s3", true)
	if rec.Code != 500 {
		t.Fatalf("get on a missing table: %d %s", rec.Code, rec.Body)
	}
	id := rec.Header().Get("X-Request-Id")
	if id == "" || !strings.Contains(rec.Body.String(), id) {
		t.Fatalf("500 without its request id: header %q body %s", id, rec.Body)
	}
	var causeLogged bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "request_id="+id) && strings.Contains(line, "ResourceNotFound") {
			causeLogged = true
		}
	}
	if !causeLogged {
		t.Fatalf("no log line with request id %s and the cause:\n%s", id, logs.String())
	}
	if _, err := io.ReadAll(rec.Body); err != nil {
		t.Fatal(err)
	}
}
