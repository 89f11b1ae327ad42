package engine

import (
	"bytes"
	"compress/gzip"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
	"github.com/logrouter/logrouter/tenant"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestE2EPollDeliversEveryTenant(t *testing.T) {
	for name, viaSNS := range map[string]bool{"S3 to SQS": false, "S3 to SNS to SQS": true} {
		t.Run(name, func(t *testing.T) { testPollDelivers(t, viaSNS) })
	}
}

func testPollDelivers(t *testing.T, viaSNS bool) {
	e := newE2E(t, viaSNS, "")
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	acme, beta, gamma := testaws.Name("acme"), testaws.Name("beta"), testaws.Name("gamma")
	archive, missing := testaws.Name("acme-archive"), testaws.Name("no-such-bucket")
	e.bucket(archive)
	e.config(tenant.Config{TenantID: acme, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("acme-logs"),
		LogGroupName: "/tenants/" + acme, DesiredLogs: []string{"payments", "ledger"}})
	e.config(tenant.Config{TenantID: acme, Type: tenant.TypeS3, BucketName: archive, BucketPrefix: "archive/"})
	e.config(tenant.Config{TenantID: beta, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("beta-logs"),
		LogGroupName: "/tenants/" + beta, Groups: []string{"API"}})
	e.config(tenant.Config{TenantID: gamma, Type: tenant.TypeCloudWatch, LogDistributionRoleARN: customerRole("gamma-logs"),
		LogGroupName: "/tenants/" + gamma})
	e.config(tenant.Config{TenantID: gamma, Type: tenant.TypeS3, BucketName: missing})

	objs := map[string][]byte{
		"c1/" + acme + "/payments/pay-7d9f/2026-11-25 10+00 é.json.gz": gz(vectorLines("pay", 300, now, "payments", "pay-7d9f")),
		"c1/" + acme + "/ledger/ledger-0/a.json.gz":                    gz(vectorLines("ledger", 50, now.Add(time.Minute), "ledger", "ledger-0")),
		"c1/" + acme + "/debug-tool/dbg-0/a.json.gz":                   gz(vectorLines("dbg", 10, now, "debug-tool", "dbg-0")),
		"c2/" + beta + "/kube-apiserver/kas-1/a.json.gz":               gz(vectorLines("kas", 120, now, "kube-apiserver", "kas-1")),
		"c2/" + beta + "/other-app/other-1/a.json.gz":                  gz(vectorLines("other", 5, now, "other-app", "other-1")),
		"c3/" + gamma + "/web/web-1/a.json.gz":                         gz(vectorLines("web", 70, now, "web", "web-1")),
		"c1/unknown-tenant/app/pod/a.json.gz":                          gz(vectorLines("x", 3, now, "app", "pod")),
		"not-the-layout.json.gz":                                       gz(vectorLines("x", 3, now, "app", "pod")),
	}
	for k, b := range objs {
		e.put(k, b)
	}
	reg := prometheus.NewRegistry()
	rt := e.runtime(reg)
	e.pollUntilDrained(rt, time.Minute)

	check := func(group, stream, key string) {
		t.Helper()
		want := expected(t, objs[key], time.Time{})
		require.NotEmpty(t, want)
		assert.Equal(t, sortedByTime(want), e.events(group, stream), "%s/%s", group, stream)
	}
	check("/tenants/"+acme, "pay-7d9f", "c1/"+acme+"/payments/pay-7d9f/2026-11-25 10+00 é.json.gz")
	check("/tenants/"+acme, "ledger-0", "c1/"+acme+"/ledger/ledger-0/a.json.gz")
	check("/tenants/"+beta, "kas-1", "c2/"+beta+"/kube-apiserver/kas-1/a.json.gz")
	check("/tenants/"+gamma, "web-1", "c3/"+gamma+"/web/web-1/a.json.gz")

	// Filtered applications were not delivered.
	for group, stream := range map[string]string{"/tenants/" + acme: "dbg-0", "/tenants/" + beta: "other-1"} {
		_, err := e.logs.GetLogEvents(e.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)})
		assert.Error(t, err, "%s/%s must not exist", group, stream)
	}

	// S3 copies: every acme object (no application filter on the S3 config) at its key, with metadata.
	for _, k := range []string{"c1/" + acme + "/payments/pay-7d9f/2026-11-25 10+00 é.json.gz", "c1/" + acme + "/ledger/ledger-0/a.json.gz", "c1/" + acme + "/debug-tool/dbg-0/a.json.gz"} {
		key, _ := ParseObjectKey(k)
		dst := key.DestinationKey("archive/")
		out, err := e.s3.GetObject(e.ctx, &s3.GetObjectInput{Bucket: &archive, Key: &dst})
		require.NoError(t, err, dst)
		body := new(bytes.Buffer)
		body.ReadFrom(out.Body)
		out.Body.Close()
		assert.Equal(t, objs[k], body.Bytes(), dst)
		assert.Equal(t, e.central, out.Metadata[MetaSourceBucket])
		assert.Equal(t, k, mustUnescape(t, out.Metadata[MetaSourceKey]))
		assert.Equal(t, acme, out.Metadata[MetaTenant])
		assert.Equal(t, key.Application, out.Metadata[MetaApplication])
		assert.NotEmpty(t, out.Metadata[MetaDeliveredAt])
		acl, err := e.s3.GetObjectAcl(e.ctx, &s3.GetObjectAclInput{Bucket: &archive, Key: &dst})
		require.NoError(t, err)
		require.NotEmpty(t, acl.Grants)
		assert.Equal(t, "FULL_CONTROL", string(acl.Grants[0].Permission))
	}

	m := rt.Metrics
	assert.Equal(t, 1.0, value(m.MessagesDropped.WithLabelValues(string(ReasonNoTenantConfig))), "unknown tenant deleted and counted")
	assert.Equal(t, 1.0, value(m.MessagesDropped.WithLabelValues(string(ReasonKeyLayout))))
	assert.Equal(t, 1.0, value(m.MessagesDropped.WithLabelValues(string(ReasonDestinationBucketMissing))), "gamma's missing bucket")
	assert.Equal(t, 4.0, value(m.Deliveries.WithLabelValues("cloudwatch", "success", "")), "gamma's CloudWatch delivery was not blocked by its failing S3 destination")
	assert.Equal(t, 3.0, value(m.Deliveries.WithLabelValues("s3", "success", "")))
	assert.Equal(t, 2.0, value(m.Filtered))
}

func mustUnescape(t *testing.T, s string) string {
	u, err := url.PathUnescape(s)
	require.NoError(t, err)
	return u
}
