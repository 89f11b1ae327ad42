package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/tenant"
)

func TestParseExposition(t *testing.T) {
	in := `# HELP logrouter_messages_dropped_total Non-recoverable messages.
# TYPE logrouter_messages_dropped_total counter
logrouter_messages_dropped_total{reason="no_tenant_config"} 2
logrouter_messages_dropped_total{reason="key_layout"} 1
logrouter_tenant_deliveries_total{outcome="success",tenant="a,b",type="s3"} 3
logrouter_events_read_total 2029
logrouter_delivery_latency_seconds_sum{type="s3"} 1.5e+00
`
	s, err := parseExposition(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, 3.0, s.sum("logrouter_messages_dropped_total", nil))
	assert.Equal(t, 2.0, s.sum("logrouter_messages_dropped_total", map[string]string{"reason": "no_tenant_config"}))
	assert.Equal(t, map[string]float64{"a,b": 3}, s.by("logrouter_tenant_deliveries_total", "tenant"))
	assert.Equal(t, 2029.0, s.sum("logrouter_events_read_total", nil))
	assert.Equal(t, 1.5, s.sum("logrouter_delivery_latency_seconds_sum", nil))
	assert.False(t, s.has("logrouter_nothing"))

	_, err = parseExposition(strings.NewReader("logrouter_x{a=\"1\"} notanumber\n"))
	assert.Error(t, err)
}

// The demo checks logrouter against its own statement of the filter rule; both must agree on the scenario.
func TestDemoFilterAgreesWithTenantConfig(t *testing.T) {
	for _, c := range cloudwatchDests {
		cfg := tenant.Config{TenantID: c.tenant, Type: tenant.TypeCloudWatch, DesiredLogs: c.desired, Groups: c.groups}
		for _, p := range pods {
			assert.Equal(t, cfg.Admits(p.app), admits(c.desired, c.groups, p.app), "%s %s", c.tenant, p.app)
		}
	}
	for _, s := range s3Dests {
		cfg := tenant.Config{TenantID: s.tenant, Type: tenant.TypeS3, DesiredLogs: s.desired, Groups: s.groups}
		for _, p := range pods {
			assert.Equal(t, cfg.Admits(p.app), admits(s.desired, s.groups, p.app), "%s %s", s.tenant, p.app)
		}
	}
	assert.False(t, admits(nil, []string{"API"}, "etcd"))
	assert.True(t, admits(nil, []string{"Controller Manager"}, "openshift-route-controller-manager"))
	assert.True(t, admits(nil, nil, "anything"))
}

func TestThousands(t *testing.T) {
	assert.Equal(t, "0", thousands(0))
	assert.Equal(t, "999", thousands(999))
	assert.Equal(t, "1,000", thousands(1000))
	assert.Equal(t, "4,192,025", thousands(4192025))
}

// make dev and make demo KEEP=1 run this tool in its serving modes, with the env file the README sources.
func TestMakefileRunsTheServingModes(t *testing.T) {
	b, err := os.ReadFile("../../../Makefile")
	require.NoError(t, err)
	mk := string(b)
	target := func(name string) string {
		i := strings.Index(mk, "\n"+name+":")
		require.GreaterOrEqual(t, i, 0, "Makefile has no %s target", name)
		end := strings.Index(mk[i+1:], "\n\n")
		require.Greater(t, end, 0)
		return mk[i+1 : i+1+end]
	}
	assert.Contains(t, target("dev"), "bin/demo --dev --bin $(BIN) --env-file bin/dev.env")
	assert.Contains(t, target("demo"), "$(if $(KEEP),--keep-running --env-file bin/dev.env)")
	for _, name := range []string{"dev", "demo"} {
		assert.Contains(t, target(name), "$(build-tools)", "make %s shows build progress", name)
	}
}
