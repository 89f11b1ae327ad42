package main

import (
	"context"
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

// `logrouter api` checks its dependencies before listening, and names what is wrong.
func TestAPIStartupChecksIntegration(t *testing.T) {
	endpoint := testaws.Endpoint(t)
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_DEFAULT_REGION", "")

	ctx := testaws.Context(t, time.Minute)
	ddb := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("startup-tenants")
	if err := tenant.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte("ops=0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(t *testing.T, region, audit string) cliEnv {
		t.Setenv("AWS_REGION", region)
		return cliEnv{"LOGROUTER_API_ADDR": freeAddr(t), "LOGROUTER_TENANT_TABLE": table, "LOGROUTER_AUDIT_TABLE": audit,
			"LOGROUTER_API_KEYS_FILE": keysFile}
	}
	tests := map[string]struct {
		region, audit, want string
	}{
		"no region":     {"", "any-audit-table", "no AWS region"},
		"missing audit": {testaws.Region, "missing-audit-table", "audit table missing-audit-table does not exist"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runCLI(ctx, env(t, tc.region, tc.audit), "", "api")
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	t.Run("missing tenant table", func(t *testing.T) {
		e := env(t, testaws.Region, "any")
		e["LOGROUTER_TENANT_TABLE"] = "missing-tenant-table"
		r := runCLI(ctx, e, "", "api")
		if r.code != 1 || !strings.Contains(r.stderr, "delivery-configuration table missing-tenant-table does not exist") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
