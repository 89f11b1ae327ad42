package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/credentials"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
)

// The operations artefacts (deploy/grafana, the PrometheusRule, docs/operations.md, the Lambda template) name
// metrics, settings and anchors owned by code elsewhere; these tests fail when the two drift apart.

const (
	dashboardFile  = "deploy/grafana/logrouter.json"
	rulesFile      = "deploy/kubernetes/base/prometheusrule.yaml"
	runbookFile    = "docs/operations.md"
	runbookURL     = "https://github.com/logrouter/logrouter/blob/main/docs/operations.md#"
	lambdaTemplate = "deploy/cloudformation/processor-lambda.yaml"
	centralFile    = "deploy/cloudformation/central.yaml"
	vectorFile     = "vector/vector.yaml"
)

// externalMetrics are the metrics the dashboard and alerts may use that logrouter does not export, by exporter.
// docs/operations.md ("Metric sources") documents each list; the test checks every name is mentioned there.
var externalMetrics = map[string][]string{
	// Vector's internal_metrics (namespace checked against vector/vector.yaml), Vector 0.48 names.
	"vector": {
		"vector_component_received_events_total",
		"vector_component_sent_events_total",
		"vector_component_sent_event_bytes_total",
		"vector_component_errors_total",
		"vector_component_discarded_events_total",
		"vector_buffer_byte_size",
		"vector_buffer_max_byte_size",
		"vector_buffer_events",
	},
	// CloudWatch AWS/SQS metrics exported by YACE (yet-another-cloudwatch-exporter), statistic Maximum.
	"yace": {
		"aws_sqs_approximate_number_of_messages_visible_maximum",
		"aws_sqs_approximate_number_of_messages_not_visible_maximum",
		"aws_sqs_approximate_age_of_oldest_message_maximum",
	},
	"kube-state-metrics": {
		"kube_deployment_spec_replicas",
		"kube_deployment_status_replicas_available",
	},
	"keda":       {"keda_scaler_metrics_value"},
	"prometheus": {"up"},
}

// recordingRegisterer registers on a real registry and remembers every collector, so that vectors without
// children (which Gather omits) are still known by their descriptors.
type recordingRegisterer struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// exportedMetric is one metric family the binary can expose. A histogram's series are its _bucket, _sum and
// _count; a summary's are its own name (with quantiles), _sum and _count.
type exportedMetric struct{ histogram, summary bool }

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedMetrics registers every collector `logrouter poll`, `lambda` and `api` register, with the same
// constructors, and returns the metric names they describe.
func exportedMetrics(t *testing.T) map[string]exportedMetric {
	t.Helper()
	reg := &recordingRegisterer{Registry: prometheus.NewRegistry()}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// engine.NewRuntime's registrations (tenant labels on: the superset).
	engine.NewMetrics(reg, true)
	credentials.NewMetrics(reg)
	tenant.NewCacheMetrics(reg)
	// engineFlags.runtime's status recorder (LOGROUTER_STATUS_TABLE set).
	_, err := status.NewRecorder(status.NewTable(nil, "status"), status.RecorderOptions{Registerer: reg, TenantHealth: true})
	require.NoError(t, err)
	// cmd_api.go's.
	store := tenant.NewStore(dynamodb.New(dynamodb.Options{Region: "us-east-1"}), "tenant-configurations")
	_, err = api.New(store, api.Keys{"ops-test": []byte("0123456789abcdef0123")}, api.Options{
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)

	out := map[string]exportedMetric{}
	for _, c := range reg.collectors {
		var kind exportedMetric
		switch c.(type) {
		case *prometheus.HistogramVec:
			kind.histogram = true
		case *prometheus.SummaryVec:
			kind.summary = true
		}
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descName.FindStringSubmatch(d.String())
			require.NotNil(t, m, "cannot read the name of %s", d)
			out[m[1]] = kind
		}
	}

	// The descriptors must agree with what the registry serves; Gather also tells the type of the metrics that
	// are not vectors (vectors without children are not gathered, and were typed above).
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		e, ok := out[f.GetName()]
		require.True(t, ok, "gathered %s, which no descriptor names", f.GetName())
		e.histogram = e.histogram || f.GetType() == dto.MetricType_HISTOGRAM
		e.summary = e.summary || f.GetType() == dto.MetricType_SUMMARY
		out[f.GetName()] = e
	}
	return out
}

// PromQL scanning: enough of the grammar to find metric names in the expressions these files use.
var (
	promStrings  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promGrafana  = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_]\w*`)
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\[\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
		"group_left", "group_right", "inf", "nan", "Inf", "NaN"}
)

// promMetricNames returns the metric names an expression selects, sorted and deduplicated.
func promMetricNames(expr string) []string {
	s := promGrafana.ReplaceAllString(expr, "")
	s = promStrings.ReplaceAllString(s, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRanges.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.") {
			continue // part of a number such as 1e3
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // function or aggregation
		}
		if slices.Contains(promKeywords, name) {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestPromMetricNames(t *testing.T) {
	tests := map[string]struct {
		expr string
		want []string
	}{
		"selector with matchers": {`logrouter_deliveries_total{outcome!="success", type=~"s3|cloudwatch"}`, []string{"logrouter_deliveries_total"}},
		"aggregation and range":  {`sum by (type) (rate(logrouter_deliveries_total[5m])) > 0.05`, []string{"logrouter_deliveries_total"}},
		"grafana interval":       {`sum(rate(a_total[$__rate_interval])) / sum(rate(b_total[${__range}]))`, []string{"a_total", "b_total"}},
		"histogram quantile": {`histogram_quantile(0.95, sum by (le, type) (rate(x_seconds_bucket[10m]))) > 300`,
			[]string{"x_seconds_bucket"}},
		"vector matching and set ops": {"a / on (pod, component_id) group_left max by (pod) (b) > 0.5 and c unless d",
			[]string{"a", "b", "c", "d"}},
		"label_replace strings": {`label_replace(sum(rate(x_total[15m])) > 0, "code", "by(x)", "", "")`, []string{"x_total"}},
		"numbers and bool":      {`up == bool 0 or 1e3 < y offset 5m`, []string{"up", "y"}},
		"newlines":              {"sum(rate(a[5m]))\n  /\nsum(rate(b[5m]))", []string{"a", "b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, promMetricNames(tc.expr))
		})
	}
}

// unknownMetrics returns the names in expr that neither logrouter nor a listed external exporter exports.
func unknownMetrics(expr string, exported map[string]exportedMetric) []string {
	var bad []string
	for _, name := range promMetricNames(expr) {
		e, known := exported[name]
		known = known && !e.histogram // a histogram has no series of its own name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				b := exported[base]
				known = known || b.histogram || (b.summary && suffix != "_bucket")
			}
		}
		for _, list := range externalMetrics {
			known = known || slices.Contains(list, name)
		}
		if !known {
			bad = append(bad, name)
		}
	}
	return bad
}

func TestUnknownMetricsAreReported(t *testing.T) {
	exported := exportedMetrics(t)
	tests := map[string]struct {
		expr string
		want []string
	}{
		"exported counter":           {`rate(logrouter_deliveries_total[5m])`, nil},
		"histogram series":           {`rate(logrouter_delivery_latency_seconds_bucket[5m]) / logrouter_putlogevents_batch_fill_ratio_count`, nil},
		"misspelt":                   {`rate(logrouter_delivery_total[5m])`, []string{"logrouter_delivery_total"}},
		"bucket of a counter":        {`logrouter_deliveries_total_bucket`, []string{"logrouter_deliveries_total_bucket"}},
		"histogram base name":        {`logrouter_delivery_latency_seconds`, []string{"logrouter_delivery_latency_seconds"}},
		"single histogram series":    {`logrouter_putlogevents_duration_seconds_sum / logrouter_putlogevents_duration_seconds_count`, nil},
		"summary":                    {`go_gc_duration_seconds{quantile="0.5"} + go_gc_duration_seconds_count`, nil},
		"bucket of a summary":        {`go_gc_duration_seconds_bucket`, []string{"go_gc_duration_seconds_bucket"}},
		"unlisted vector metric":     {`vector_made_up_total`, []string{"vector_made_up_total"}},
		"listed external metrics":    {`vector_buffer_byte_size / up`, nil},
		"api and credentials, cache": {`logrouter_api_requests_total + logrouter_credentials_cache_hits_total + logrouter_config_cache_lookups_total`, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, unknownMetrics(tc.expr, exported))
		})
	}
}

// dashboardExprs returns every PromQL expression of the dashboard, keyed by where it is.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	var doc any
	require.NoError(t, json.Unmarshal([]byte(readRepoFile(t, dashboardFile)), &doc))
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok {
				path += "/" + title
			}
			for k, c := range v {
				if s, ok := c.(string); ok && (k == "expr" || k == "query" && strings.Contains(s, "(")) {
					out[fmt.Sprintf("%s %s#%d", path, k, len(out))] = s
				}
				walk(path, c)
			}
		case []any:
			for _, c := range v {
				walk(path, c)
			}
		}
	}
	walk("", doc)
	return out
}

type prometheusRule struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	} `yaml:"spec"`
}

func readRules(t *testing.T) prometheusRule {
	t.Helper()
	var r prometheusRule
	dec := yaml.NewDecoder(strings.NewReader(readRepoFile(t, rulesFile)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&r))
	require.Equal(t, "monitoring.coreos.com/v1", r.APIVersion)
	require.Equal(t, "PrometheusRule", r.Kind)
	return r
}

func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	exprs := dashboardExprs(t)
	require.NotEmpty(t, exprs, "the dashboard has no queries")
	for _, g := range readRules(t).Spec.Groups {
		for _, r := range g.Rules {
			exprs[rulesFile+" "+g.Name+"/"+r.Alert+r.Record] = r.Expr
		}
	}
	used := map[string]bool{}
	for _, where := range slices.Sorted(maps.Keys(exprs)) {
		expr := exprs[where]
		names := promMetricNames(expr)
		assert.NotEmpty(t, names, "%s: no metric in %q", where, expr)
		for _, n := range names {
			used[n] = true
		}
		for _, bad := range unknownMetrics(expr, exported) {
			t.Errorf("%s: metric %s is exported neither by logrouter nor by a listed exporter (%q)", where, bad, expr)
		}
	}
	// The panels the runbook describes exist.
	for _, n := range []string{"logrouter_objects_total", "logrouter_events_read_total", "logrouter_object_bytes_read_total",
		"logrouter_deliveries_total", "logrouter_messages_dropped_total", "logrouter_delivery_latency_seconds_bucket",
		"logrouter_putlogevents_requests_total", "logrouter_putlogevents_batch_fill_ratio_bucket",
		"logrouter_credentials_cache_hits_total", "aws_sqs_approximate_number_of_messages_visible_maximum",
		"vector_component_sent_events_total", "vector_buffer_byte_size"} {
		assert.True(t, used[n], "neither the dashboard nor the alerts use %s", n)
	}
}

func TestVectorMetricsNamespace(t *testing.T) {
	var cfg struct {
		Sources map[string]struct {
			Type      string `yaml:"type"`
			Namespace string `yaml:"namespace"`
		} `yaml:"sources"`
		Sinks map[string]struct {
			Type   string   `yaml:"type"`
			Inputs []string `yaml:"inputs"`
		} `yaml:"sinks"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(readRepoFile(t, vectorFile)), &cfg))
	namespaces := map[string]string{}
	for id, s := range cfg.Sources {
		if s.Type == "internal_metrics" {
			namespaces[id] = s.Namespace
			if namespaces[id] == "" {
				namespaces[id] = "vector" // the source's default
			}
		}
	}
	var exportedNS []string
	for _, s := range cfg.Sinks {
		if s.Type != "prometheus_exporter" {
			continue
		}
		for _, in := range s.Inputs {
			if ns, ok := namespaces[in]; ok {
				exportedNS = append(exportedNS, ns)
			}
		}
	}
	require.Len(t, exportedNS, 1, "%s must export one internal_metrics source through a prometheus_exporter sink", vectorFile)
	for _, name := range externalMetrics["vector"] {
		assert.True(t, strings.HasPrefix(name, exportedNS[0]+"_"), "%s: Vector exports its metrics as %s_*", name, exportedNS[0])
	}
}

// githubAnchors returns the anchors GitHub gives the headings of a Markdown document.
func githubAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

func TestAlertsHaveRunbookSections(t *testing.T) {
	doc := readRepoFile(t, runbookFile)
	anchors := githubAnchors(doc)
	alerts := 0
	for _, g := range readRules(t).Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			assert.Contains(t, []string{"info", "warning", "critical"}, r.Labels["severity"], "%s: severity", r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], "%s: summary", r.Alert)
			assert.NotEmpty(t, r.Annotations["description"], "%s: description", r.Alert)
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookURL)
			if !assert.True(t, ok, "%s: runbook_url %q is not a link into %s", r.Alert, r.Annotations["runbook_url"], runbookFile) {
				continue
			}
			assert.True(t, anchors[anchor], "%s: %s has no heading with anchor #%s", r.Alert, runbookFile, anchor)
			assert.Equal(t, strings.ToLower(r.Alert), anchor, "%s: the runbook section is named after the alert", r.Alert)
		}
	}
	assert.GreaterOrEqual(t, alerts, 6)
	for exporter, names := range externalMetrics {
		for _, n := range names {
			assert.Contains(t, doc, n, "%s does not document %s (from %s)", runbookFile, n, exporter)
		}
	}
}

// cfnNode is a CloudFormation template (YAML with short-form intrinsic tags) navigated by mapping keys.
type cfnNode struct{ *yaml.Node }

func (n cfnNode) get(t *testing.T, path ...string) cfnNode {
	t.Helper()
	cur := n.Node
	if cur.Kind == yaml.DocumentNode {
		cur = cur.Content[0]
	}
	for _, k := range path {
		require.Equal(t, yaml.MappingNode, cur.Kind, "%v: %s is not under a mapping", path, k)
		var next *yaml.Node
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == k {
				next = cur.Content[i+1]
			}
		}
		require.NotNil(t, next, "template has no %s", strings.Join(path, "."))
		cur = next
	}
	return cfnNode{cur}
}

func (n cfnNode) keys() []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

// scalars returns every scalar under n (an intrinsic function's arguments included).
func (n cfnNode) scalars() []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, cfnNode{c}.scalars()...)
	}
	return out
}

func readTemplate(t *testing.T, file string) cfnNode {
	t.Helper()
	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(readRepoFile(t, file)), &n))
	return cfnNode{&n}
}

func TestLambdaTemplateMatchesTheBinary(t *testing.T) {
	tpl := readTemplate(t, lambdaTemplate)
	fn := tpl.get(t, "Resources", "Function", "Properties")

	// Every variable is a setting of `logrouter lambda`, and the required ones are set.
	fs := newFlagSet("lambda")
	commands["lambda"].Setup(fs)
	settings := map[string]bool{}
	for _, f := range fs.flags {
		settings[f.env] = true
	}
	env := fn.get(t, "Environment", "Variables")
	for _, k := range env.keys() {
		assert.True(t, settings[k], "%s sets %s, which `logrouter help lambda` does not list", lambdaTemplate, k)
	}
	for _, k := range []string{"LOGROUTER_CENTRAL_ROLE_ARN", "LOGROUTER_SOURCE_BUCKETS", "LOGROUTER_TENANT_TABLE", "LOGROUTER_PROGRESS_TABLE"} {
		assert.Contains(t, env.keys(), k)
	}
	reserve, err := time.ParseDuration(env.get(t, "LOGROUTER_DEADLINE_RESERVE").Value)
	require.NoError(t, err)

	// Replay keys come from a NoEcho parameter whose pattern admits what the processor reads, and refuses
	// what it would refuse at start (so a bad value fails the stack update, not every invocation).
	rk := tpl.get(t, "Parameters", "ReplayKeys")
	assert.Equal(t, "true", rk.get(t, "NoEcho").Value)
	assert.Equal(t, []string{"HasReplayKeys", "ReplayKeys", "AWS::NoValue"}, env.get(t, "LOGROUTER_REPLAY_KEYS").scalars())
	pattern := regexp.MustCompile(rk.get(t, "AllowedPattern").Value)
	for value, ok := range map[string]bool{
		"replay-2026=0123456789abcdef0123456789abcdef":                                          true,
		"replay-2026=0123456789abcdef0123456789abcdef,replay.2027_b=fedcba9876543210fedcba9876": true,
		"replay-2026=short":                                 false,
		"replay 2026=0123456789abcdef0123456789abcdef":      false,
		"replay-2026=0123456789abcdef0123456789abcdef,oops": false,
		"=0123456789abcdef0123456789abcdef":                 false,
	} {
		_, err := (&engineFlags{replayKeysInline: value}).replayKeySet()
		assert.Equal(t, ok, err == nil, "the processor reads %q: %v", value, err)
		assert.Equal(t, ok, pattern.MatchString(value), "ReplayKeys' AllowedPattern on %q", value)
	}
	assert.True(t, pattern.MatchString(""), "ReplayKeys may stay empty")

	assert.Contains(t, fn.get(t, "Runtime").scalars(), "provided.al2023")
	assert.Contains(t, fn.get(t, "Handler").scalars(), "bootstrap")
	assert.Equal(t, "arm64", tpl.get(t, "Parameters", "Architecture", "Default").Value)
	esm := tpl.get(t, "Resources", "EventSourceMapping", "Properties")
	assert.Equal(t, "10", esm.get(t, "BatchSize").Value)
	assert.Equal(t, []string{"ReportBatchItemFailures"}, esm.get(t, "FunctionResponseTypes").scalars())
	assert.Equal(t, []string{"MaximumConcurrency"}, esm.get(t, "ScalingConfig").keys())

	// Timeout = VisibilityTimeouts[QueueVisibilityTimeout]: every pair keeps visibility ≥ 6 × timeout (AWS's
	// requirement for SQS event sources), every allowed visibility has a pair, and the deadline reserve fits.
	assert.Equal(t, []string{"VisibilityTimeouts", "QueueVisibilityTimeout", "FunctionTimeout"}, fn.get(t, "Timeout").scalars())
	vis := tpl.get(t, "Parameters", "QueueVisibilityTimeout")
	allowed := vis.get(t, "AllowedValues").scalars()
	mapping := tpl.get(t, "Mappings", "VisibilityTimeouts")
	assert.ElementsMatch(t, allowed, mapping.keys(), "QueueVisibilityTimeout's AllowedValues and the VisibilityTimeouts keys differ")
	for _, k := range mapping.keys() {
		v, err1 := strconv.Atoi(k)
		timeout, err2 := strconv.Atoi(mapping.get(t, k, "FunctionTimeout").Value)
		require.NoError(t, err1)
		require.NoError(t, err2)
		assert.GreaterOrEqual(t, v, 6*timeout, "visibility %ds < 6 × function timeout %ds", v, timeout)
		assert.LessOrEqual(t, timeout, 900, "Lambda's longest timeout is 900s")
		assert.Greater(t, time.Duration(timeout)*time.Second, 2*reserve, "timeout %ds leaves too little after the %s deadline reserve", timeout, reserve)
	}
	// The default matches the central stack's queue as deployed by default.
	central := readTemplate(t, centralFile)
	centralVis := central.get(t, "Parameters", "QueueVisibilityTimeout", "Default").Value
	assert.Equal(t, centralVis, vis.get(t, "Default").Value, "the default QueueVisibilityTimeout differs from central.yaml's")
	qv := central.get(t, "Resources", "NotificationQueue", "Properties", "VisibilityTimeout")
	assert.Equal(t, "!Ref QueueVisibilityTimeout", qv.Tag+" "+qv.Value, "central.yaml's queue no longer takes its visibility timeout from QueueVisibilityTimeout")
}
