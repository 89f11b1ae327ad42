package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

// cliEnv is the environment of an in-process `logrouter` run: its own values, then the process's.
type cliEnv map[string]string

func (e cliEnv) getenv(k string) string {
	if v, ok := e[k]; ok {
		return v
	}
	return os.Getenv(k)
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(ctx context.Context, env cliEnv, stdin string, args ...string) cliResult {
	var out, errb bytes.Buffer
	code := run(ctx, stdio{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}, args, env.getenv)
	return cliResult{code, out.String(), errb.String()}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestConfigsCLIIntegration runs `logrouter api` in-process against DynamoDB in moto and drives the full CRUD
// cycle through `logrouter configs`.
func TestConfigsCLIIntegration(t *testing.T) {
	endpoint := testaws.Endpoint(t)
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_REGION", testaws.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	ctx := testaws.Context(t, 2*time.Minute)
	ddb := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("cli-tenants")
	if err := tenant.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}
	audit := testaws.Name("cli-audit")
	if err := tenant.CreateAuditTable(ctx, ddb, audit); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		_, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(audit)})
	})

	keysFile := filepath.Join(dir, "keys")
	const oldSecret, newSecret = "old-secret-0123456789abcdef", "new-secret-0123456789abcdef"
	if err := os.WriteFile(keysFile, []byte("# rotation in progress\nops-old="+oldSecret+"\nops-new="+newSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(newSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	serverEnv := cliEnv{"LOGROUTER_API_ADDR": addr, "LOGROUTER_TENANT_TABLE": table, "LOGROUTER_API_KEYS_FILE": keysFile,
		"LOGROUTER_AUDIT_TABLE": audit, "LOGROUTER_LOG_LEVEL": "warn"}

	srvCtx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan cliResult, 1)
	go func() { served <- runCLI(srvCtx, serverEnv, "", "api") }()
	waitHealthy(t, "http://"+addr, served)

	env := cliEnv{"LOGROUTER_API_URL": "http://" + addr, "LOGROUTER_API_KEY_ID": "ops-new", "LOGROUTER_API_SECRET_FILE": secretFile}
	mustRun := func(stdin string, args ...string) map[string]any {
		t.Helper()
		r := runCLI(ctx, env, stdin, append([]string{"configs"}, args...)...)
		if r.code != 0 {
			t.Fatalf("configs %v: exit %d\n%s", args, r.code, r.stderr)
		}
		var v map[string]any
		if r.stdout != "" {
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Fatalf("configs %v printed no JSON: %q", args, r.stdout)
			}
		}
		return v
	}

	// create from stdin
	v := mustRun(`{"type":"cloudwatch","log_distribution_role_arn":"arn:aws:iam::123456789012:role/LogDistributionRole",
		"log_group_name":"/aws/logs/acme-corp","groups":["API","Authentication"],"desired_logs":["custom-app-1"]}`,
		"create", "acme-corp")
	if v["tenant_id"] != "acme-corp" || v["created_at"] == nil {
		t.Fatalf("create printed %v", v)
	}
	// create from a file
	s3File := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(s3File, []byte(`{"type":"s3","bucket_name":"acme-corp-logs","bucket_prefix":"logs/archive"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := mustRun("", "create", "acme-corp", s3File); v["bucket_prefix"] != "logs/archive/" {
		t.Fatalf("create s3 printed %v", v)
	}
	// a second create of the same type fails with the server's message
	r := runCLI(ctx, env, `{"type":"s3","bucket_name":"x-y-z"}`, "configs", "create", "acme-corp")
	if r.code == 0 || !strings.Contains(r.stderr, "409") || !strings.Contains(r.stderr, "already has a s3 delivery configuration") {
		t.Fatalf("duplicate create: exit %d, stderr %q", r.code, r.stderr)
	}
	// validation errors name the fields
	r = runCLI(ctx, env, `{"type":"cloudwatch"}`, "configs", "create", "other")
	if r.code == 0 || !strings.Contains(r.stderr, "body.log_group_name") || !strings.Contains(r.stderr, "body.log_distribution_role_arn") {
		t.Fatalf("invalid create: exit %d, stderr %q", r.code, r.stderr)
	}

	if v := mustRun("", "get", "acme-corp", "cloudwatch"); v["log_group_name"] != "/aws/logs/acme-corp" {
		t.Fatalf("get printed %v", v)
	}
	if v := mustRun("", "list", "acme-corp"); len(v["items"].([]any)) != 2 {
		t.Fatalf("list tenant printed %v", v)
	}
	if v := mustRun("{}", "patch", "acme-corp", "cloudwatch", "-"); v == nil {
		t.Fatal("empty patch printed nothing")
	}
	if v := mustRun(`{"enabled":false}`, "patch", "acme-corp", "cloudwatch"); v["enabled"] != false || v["log_group_name"] != "/aws/logs/acme-corp" {
		t.Fatalf("patch printed %v", v)
	}
	// The CLI refuses keys that are not exactly documented field names before sending anything.
	for _, doc := range []string{`{"Enabled": true}`, `{"enabled": true, "enabled": false}`} {
		r := runCLI(ctx, env, doc, "configs", "patch", "acme-corp", "cloudwatch")
		if r.code == 0 || !strings.Contains(r.stderr, "body.enabled") && !strings.Contains(r.stderr, "body.Enabled") {
			t.Fatalf("patch %s: exit %d, stderr %q", doc, r.code, r.stderr)
		}
	}
	if v := mustRun("", "get", "acme-corp", "cloudwatch"); v["enabled"] != false {
		t.Fatalf("a refused patch changed the configuration: %v", v)
	}
	putFile := filepath.Join(dir, "put.json")
	if err := os.WriteFile(putFile, []byte(`{"bucket_name":"acme-corp-archive"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := mustRun("", "update", "acme-corp", "s3", putFile); v["bucket_name"] != "acme-corp-archive" || v["bucket_prefix"] != tenant.DefaultBucketPrefix {
		t.Fatalf("update printed %v", v)
	}

	// The old key still works during rotation (from the environment this time).
	oldEnv := cliEnv{"LOGROUTER_API_URL": "http://" + addr, "LOGROUTER_API_KEY_ID": "ops-old", "LOGROUTER_API_SECRET": oldSecret}
	if r := runCLI(ctx, oldEnv, "", "configs", "list"); r.code != 0 || !strings.Contains(r.stdout, "acme-corp-archive") {
		t.Fatalf("list with the old key: exit %d %s", r.code, r.stderr)
	}
	wrong := cliEnv{"LOGROUTER_API_URL": "http://" + addr, "LOGROUTER_API_KEY_ID": "ops-old", "LOGROUTER_API_SECRET": newSecret}
	if r := runCLI(ctx, wrong, "", "configs", "list"); r.code == 0 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "wrong secret") {
		t.Fatalf("wrong secret: exit %d %s", r.code, r.stderr)
	}

	if v := mustRun("", "list"); len(v["items"].([]any)) != 2 {
		t.Fatalf("list all printed %v", v)
	}
	if v := mustRun("", "openapi"); v["openapi"] == nil {
		t.Fatalf("openapi printed %v", v)
	}
	if v := mustRun("", "delete", "acme-corp", "cloudwatch"); v["deleted"] == nil {
		t.Fatalf("delete printed %v", v)
	}
	// The history lists the cloudwatch config's changes, newest first, with the key that made them.
	hist := mustRun("", "history", "acme-corp", "cloudwatch")
	var ops []string
	for _, e := range hist["items"].([]any) {
		entry := e.(map[string]any)
		ops = append(ops, entry["operation"].(string))
		if entry["key_id"] != "ops-new" || entry["request_id"] == "" {
			t.Fatalf("history entry %v", entry)
		}
	}
	if strings.Join(ops, ",") != "delete,patch,patch,create" {
		t.Fatalf("history operations %v", ops)
	}
	r = runCLI(ctx, env, "", "configs", "get", "acme-corp", "cloudwatch")
	if r.code == 0 || !strings.Contains(r.stderr, "404") || !strings.Contains(r.stderr, "has no cloudwatch delivery configuration") {
		t.Fatalf("get deleted: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(ctx, env, "", "configs", "frobnicate"); r.code != 2 {
		t.Fatalf("unknown verb: exit %d", r.code)
	}

	// Metrics are served on the API address.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `logrouter_api_requests_total{code="201",method="POST",route="/api/v1/tenants/{tenant_id}/delivery-configs"} 2`) {
		t.Fatalf("metrics:\n%s", body)
	}

	// Graceful shutdown on cancellation.
	stop()
	select {
	case r := <-served:
		if r.code != 0 {
			t.Fatalf("api exited %d: %s", r.code, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("api did not stop")
	}
}

func waitHealthy(t *testing.T, base string, served <-chan cliResult) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case r := <-served:
			t.Fatalf("api exited early with %d: %s", r.code, r.stderr)
		default:
		}
		resp, err := http.Get(base + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("api did not become healthy")
}

func TestConfigsUsage(t *testing.T) {
	env := cliEnv{"LOGROUTER_API_KEY_ID": "k", "LOGROUTER_API_SECRET": "0123456789abcdef0123"}
	for name, args := range map[string][]string{
		"no verb":          {"configs"},
		"unknown verb":     {"configs", "burn"},
		"get needs a type": {"configs", "get", "acme"},
		"too many":         {"configs", "delete", "a", "s3", "x"},
	} {
		t.Run(name, func(t *testing.T) {
			if r := runCLI(context.Background(), env, "", args...); r.code != 2 {
				t.Fatalf("exit %d, want 2 (usage)", r.code)
			}
		})
	}
	if r := runCLI(context.Background(), cliEnv{"LOGROUTER_API_KEY_ID": "k", "LOGROUTER_API_SECRET": "", "LOGROUTER_API_SECRET_FILE": "", "LOGROUTER_API_KEY": "", "LOGROUTER_API_KEY_FILE": ""}, "", "configs", "list"); r.code != 2 || !strings.Contains(r.stderr, "secret") {
		t.Fatalf("missing secret: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(context.Background(), cliEnv{}, "", "api"); r.code != 2 || !strings.Contains(r.stderr, "LOGROUTER_API_KEYS_FILE") {
		t.Fatalf("api without keys: exit %d %s", r.code, r.stderr)
	}
}

// `logrouter api openapi` prints the document without a server, tables or keys.
func TestAPIOpenAPIWithoutServer(t *testing.T) {
	r := runCLI(context.Background(), cliEnv{}, "", "api", "openapi")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/api/v1/tenants/{tenant_id}/delivery-configs/{type}/history"] == nil {
		t.Fatalf("document %s / paths %v", doc.OpenAPI, len(doc.Paths))
	}
}
