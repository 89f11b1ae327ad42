package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/cwlfake"
	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
	"github.com/logrouter/logrouter/validate"
)

// TestConfigsStatusUsageValidateIntegration runs `logrouter api` in-process (DynamoDB and STS in moto,
// CloudWatch Logs on the strict fake) and drives configs status, usage and validate as an operator would.
func TestConfigsStatusUsageValidateIntegration(t *testing.T) {
	endpoint := testaws.Endpoint(t)
	cw := cwlfake.Start(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": testaws.Region, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": cw.URL,
	} {
		t.Setenv(k, v)
	}
	ctx := testaws.Context(t, 2*time.Minute)
	ddb := dynamodb.NewFromConfig(testaws.Config(t))
	tables := map[string]string{"tenants": testaws.Name("cli-tenants"), "audit": testaws.Name("cli-audit"), "status": testaws.Name("cli-status")}
	if err := tenant.CreateTable(ctx, ddb, tables["tenants"]); err != nil {
		t.Fatal(err)
	}
	if err := tenant.CreateAuditTable(ctx, ddb, tables["audit"]); err != nil {
		t.Fatal(err)
	}
	if err := status.CreateTable(ctx, ddb, tables["status"]); err != nil {
		t.Fatal(err)
	}
	keysFile, secretFile := filepath.Join(dir, "keys"), filepath.Join(dir, "secret")
	const secret = "ops-secret-0123456789abcdef"
	if err := os.WriteFile(keysFile, []byte("ops="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	serverEnv := cliEnv{"LOGROUTER_API_ADDR": addr, "LOGROUTER_TENANT_TABLE": tables["tenants"], "LOGROUTER_API_KEYS_FILE": keysFile,
		"LOGROUTER_AUDIT_TABLE": tables["audit"], "LOGROUTER_STATUS_TABLE": tables["status"], "LOGROUTER_LOG_LEVEL": "warn",
		"LOGROUTER_CENTRAL_ROLE_ARN": "arn:aws:iam::" + testaws.AccountID + ":role/central-log-distribution"}
	srvCtx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan cliResult, 1)
	go func() { served <- runCLI(srvCtx, serverEnv, "", "api") }()
	waitHealthy(t, "http://"+addr, served)
	env := cliEnv{"LOGROUTER_API_URL": "http://" + addr, "LOGROUTER_API_KEY_ID": "ops", "LOGROUTER_API_SECRET_FILE": secretFile}
	configs := func(stdin string, args ...string) cliResult {
		return runCLI(ctx, env, stdin, append([]string{"configs"}, args...)...)
	}

	role := "arn:aws:iam::210987654321:role/acme-logs"
	if r := configs(`{"type":"cloudwatch","log_group_name":"/acme/app","log_distribution_role_arn":"`+role+`","external_id":"acme-ext-id-0001"}`,
		"create", "acme"); r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}

	// A processor recorded a refused customer role.
	rec, err := status.NewRecorder(status.NewTable(ddb, tables["status"]), status.RecorderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec.RecordObject(engine.ObjectResult{TenantID: "acme", Key: "c1/acme/app/pod/1.log.gz", Outcome: engine.OutcomeRetry, EventsRead: 12, BytesRead: 300,
		Destinations: []engine.DestinationResult{{Type: tenant.TypeCloudWatch, Outcome: engine.OutcomeRetry, Reason: engine.ReasonAccessDenied,
			Err: &credentials.AccessDeniedError{Hop: credentials.HopCustomer, RoleARN: role, TenantID: "acme", Err: &smithy.GenericAPIError{Code: "AccessDenied"}}}}})
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	r := configs("", "status", "acme")
	if r.code != 0 || !strings.Contains(r.stdout, "FAILING") || !strings.Contains(r.stdout, "customer_role_denied") ||
		!strings.Contains(r.stdout, "what to do:") || !strings.Contains(r.stdout, "trust policy") {
		t.Errorf("status table: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = configs("", "status", "acme", "--json")
	var st struct {
		Destinations []struct{ Health string } `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Destinations) != 1 || st.Destinations[0].Health != "failing" {
		t.Errorf("status --json: %v %s", err, r.stdout)
	}

	today := time.Now().UTC().Format(time.DateOnly)
	r = configs("", "usage", "acme", "--from", today, "--to", today)
	if r.code != 0 || !strings.Contains(r.stdout, today) || !strings.Contains(r.stdout, "cloudwatch") || !strings.Contains(r.stdout, "total") {
		t.Errorf("usage table: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := configs("", "usage", "acme", "--from", "yesterday"); r.code != 2 {
		t.Errorf("usage with a bad date: exit %d %s", r.code, r.stderr)
	}

	// Validation of the stored config succeeds (moto assumes any role; the fake accepts the event).
	r = configs("", "validate", "acme", "cloudwatch")
	if r.code != 0 || !strings.Contains(r.stdout, "OK: delivery works") || strings.Count(r.stdout, "[ok]") != 4 {
		t.Errorf("validate: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if evs := cw.Events("/acme/app", validate.ValidationStream); len(evs) != 1 {
		t.Errorf("validation events: %d", len(evs))
	}
	// A document that is refused PutLogEvents: exit 1, the failing step with its hint.
	cw.Deny("PutLogEvents", "/acme/denied", "AccessDeniedException")
	cw.CreateLogStream("/acme/denied", validate.ValidationStream)
	r = configs(`{"log_group_name":"/acme/denied","log_distribution_role_arn":"`+role+`"}`, "validate", "acme", "cloudwatch", "-")
	if r.code != 1 || !strings.Contains(r.stdout, "[FAIL]") || !strings.Contains(r.stdout, string(status.CategoryPutDenied)) ||
		!strings.Contains(r.stdout, "logs:PutLogEvents") || !strings.Contains(r.stdout, "FAILED") {
		t.Errorf("failing validate: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = configs(`{"log_group_name":"/acme/denied","log_distribution_role_arn":"`+role+`"}`, "validate", "acme", "cloudwatch", "-", "--json", "--no-write")
	var rep validate.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || rep.Write || !rep.OK {
		t.Errorf("validate --json --no-write: %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if r := configs(`{"type":"s3","bucket_name":"x"}`, "validate", "acme", "cloudwatch", "-"); r.code != 2 {
		t.Errorf("type mismatch: exit %d %s", r.code, r.stderr)
	}
}
