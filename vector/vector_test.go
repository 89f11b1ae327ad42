package vector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/parser"
)

// deployCopy is the copy of vector.yaml that the kustomize base packs into a ConfigMap (kustomize cannot read
// files outside its root); `make vector-sync` refreshes it.
const deployCopy = "../deploy/kubernetes/base/vector/vector.yaml"

const (
	mib = 1 << 20
	gib = 1 << 30
)

type config map[string]any

func loadConfig(t *testing.T) config {
	t.Helper()
	raw, err := os.ReadFile("vector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("vector.yaml is not valid YAML: %v", err)
	}
	return config(m)
}

// get walks nested maps; it fails the test when a step is missing or not a map.
func (c config) get(t *testing.T, path ...string) any {
	t.Helper()
	var cur any = map[string]any(c)
	for i, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T, not a map", strings.Join(path[:i], "."), cur)
		}
		v, ok := m[p]
		if !ok {
			t.Fatalf("vector.yaml has no %s", strings.Join(path[:i+1], "."))
		}
		cur = v
	}
	return cur
}

func (c config) str(t *testing.T, path ...string) string {
	t.Helper()
	v := c.get(t, path...)
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s is %T (%v), want a string", strings.Join(path, "."), v, v)
	}
	return s
}

func (c config) int(t *testing.T, path ...string) int64 {
	t.Helper()
	switch v := c.get(t, path...).(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case uint64:
		return int64(v)
	default:
		t.Fatalf("%s is %T (%v), want an integer", strings.Join(path, "."), v, v)
		return 0
	}
}

func (c config) inputs(t *testing.T, kind, name string) []string {
	t.Helper()
	list, ok := c.get(t, kind, name, "inputs").([]any)
	if !ok {
		t.Fatalf("%s.%s.inputs is not a list", kind, name)
	}
	var out []string
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

var templateField = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.]+)\s*\}\}`)

// renderKey renders an aws_s3 sink's object key the way Vector does: the key_prefix template with the event's
// fields and strftime specifiers, then "{filename_time_format}-{uuid}.{filename_extension}".
func renderKey(t *testing.T, sink map[string]any, event map[string]string, now time.Time, uuid string) string {
	t.Helper()
	prefix := templateField.ReplaceAllStringFunc(sink["key_prefix"].(string), func(m string) string {
		field := templateField.FindStringSubmatch(m)[1]
		v, ok := event[field]
		if !ok {
			t.Fatalf("key_prefix uses {{ %s }}, which the sample event does not have", field)
		}
		return v
	})
	name := strftime(t, sink["filename_time_format"].(string), now)
	if sink["filename_append_uuid"] == true {
		name += "-" + uuid
	}
	return strftime(t, prefix, now) + name + "." + sink["filename_extension"].(string)
}

// strftime supports the specifiers this configuration uses; any other one fails the test so that a change to the
// configuration cannot silently escape the contract check.
func strftime(t *testing.T, format string, ts time.Time) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			b.WriteByte(format[i])
			continue
		}
		i++
		if i == len(format) {
			t.Fatalf("format %q ends in %%", format)
		}
		switch format[i] {
		case 's':
			fmt.Fprint(&b, ts.Unix())
		case 'F':
			b.WriteString(ts.UTC().Format("2006-01-02"))
		case '%':
			b.WriteByte('%')
		default:
			t.Fatalf("format %q uses %%%c, which this test does not model", format, format[i])
		}
	}
	return b.String()
}

func TestCentralSinkKeyMatchesEngineLayout(t *testing.T) {
	c := loadConfig(t)
	sink := c.get(t, "sinks", "central_s3").(map[string]any)
	if got := c.str(t, "sinks", "central_s3", "type"); got != "aws_s3" {
		t.Fatalf("central_s3 type = %q, want aws_s3", got)
	}
	if got := c.str(t, "sinks", "central_s3", "key_prefix"); got != engine.VectorKeyPrefix {
		t.Fatalf("central_s3 key_prefix = %q, want engine.VectorKeyPrefix %q", got, engine.VectorKeyPrefix)
	}

	tests := map[string]struct {
		event map[string]string
		want  engine.ObjectKey
	}{
		"typical control-plane pod": {
			event: map[string]string{"cluster_id": "2f6c1a9e-5b7d-4c1e-9a0b-3d2e1f0a9b8c", "namespace": "ocm-prod-abc123",
				"application": "kube-apiserver", "pod_name": "kube-apiserver-7d9f8b6c5-x2x9q"},
			want: engine.ObjectKey{ClusterID: "2f6c1a9e-5b7d-4c1e-9a0b-3d2e1f0a9b8c", TenantID: "ocm-prod-abc123",
				Application: "kube-apiserver", PodName: "kube-apiserver-7d9f8b6c5-x2x9q"},
		},
		"dotted label value": {
			event: map[string]string{"cluster_id": "c1", "namespace": "tenant-a", "application": "oauth.server_v2",
				"pod_name": "oauth-0"},
			want: engine.ObjectKey{ClusterID: "c1", TenantID: "tenant-a", Application: "oauth.server_v2", PodName: "oauth-0"},
		},
	}
	now := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	const uuid = "30f6652c-71da-4f9f-800d-a1189c47c547"
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			key := renderKey(t, sink, tc.event, now, uuid)
			got, err := engine.ParseObjectKey(key)
			if err != nil {
				t.Fatalf("rendered key %q: %v", key, err)
			}
			tc.want.File = fmt.Sprintf("%d-%s.log.gz", now.Unix(), uuid)
			if got != tc.want {
				t.Fatalf("ParseObjectKey(%q) = %+v, want %+v", key, got, tc.want)
			}
		})
	}
}

func TestQuarantineKeyIsOutsideTheLayout(t *testing.T) {
	c := loadConfig(t)
	sink := c.get(t, "sinks", "quarantine_s3").(map[string]any)
	if templateField.MatchString(sink["key_prefix"].(string)) {
		t.Fatalf("quarantine key_prefix %q uses event fields; those are what may be broken", sink["key_prefix"])
	}
	key := renderKey(t, sink, nil, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), "30f6652c-71da-4f9f-800d-a1189c47c547")
	if k, err := engine.ParseObjectKey(key); err == nil {
		t.Fatalf("quarantine key %q parses as tenant %q; it must be rejected, never delivered", key, k.TenantID)
	}
	if !strings.HasPrefix(key, "quarantine/") {
		t.Fatalf("quarantine key %q does not start with quarantine/", key)
	}
}

// Both sinks must write what the parser reads: gzip-compressed newline-delimited JSON objects.
func TestSinksWriteGzipNDJSON(t *testing.T) {
	c := loadConfig(t)
	for _, name := range []string{"central_s3", "quarantine_s3"} {
		t.Run(name, func(t *testing.T) {
			checks := map[string]string{
				"compression":        "gzip",
				"encoding.codec":     "json",
				"framing.method":     "newline_delimited",
				"filename_extension": "log.gz",
				"buffer.type":        "disk",
				"buffer.when_full":   "block",
			}
			for path, want := range checks {
				if got := c.str(t, append([]string{"sinks", name}, strings.Split(path, ".")...)...); got != want {
					t.Errorf("%s.%s = %q, want %q", name, path, got, want)
				}
			}
			if got := c.int(t, "sinks", name, "batch", "max_bytes"); got != 64*mib {
				t.Errorf("%s batch.max_bytes = %d, want 64 MiB", name, got)
			}
			if got := c.int(t, "sinks", name, "batch", "timeout_secs"); got != 300 {
				t.Errorf("%s batch.timeout_secs = %d, want 300", name, got)
			}
			if got := c.get(t, "sinks", name, "acknowledgements", "enabled"); got != true {
				t.Errorf("%s acknowledgements.enabled = %v, want true (file positions advance only once buffered)", name, got)
			}
			role := c.str(t, "sinks", name, "auth", "assume_role")
			if !regexp.MustCompile(`^\$\{[A-Z0-9_]+\}$`).MatchString(role) {
				t.Errorf("%s auth.assume_role = %q, want an environment reference", name, role)
			}
			if got := c.get(t, "sinks", name, "filename_append_uuid"); got != true {
				t.Errorf("%s filename_append_uuid = %v, want true: two Vector pods must never overwrite one key", name, got)
			}
		})
	}
	if got := c.int(t, "sinks", "central_s3", "buffer", "max_size"); got != 10*gib {
		t.Errorf("central_s3 buffer.max_size = %d, want 10 GiB", got)
	}
}

func TestSourceSelectsHostedControlPlanes(t *testing.T) {
	c := loadConfig(t)
	if got := c.str(t, "sources", "kubernetes_logs", "type"); got != "kubernetes_logs" {
		t.Fatalf("sources.kubernetes_logs.type = %q", got)
	}
	if got := c.str(t, "sources", "kubernetes_logs", "extra_namespace_label_selector"); got != "hypershift.openshift.io/hosted-control-plane=true" {
		t.Fatalf("namespace label selector = %q", got)
	}
}

func TestPipelineWiring(t *testing.T) {
	c := loadConfig(t)
	wiring := map[string]struct {
		kind, name string
		want       []string
	}{
		"remap reads the logs":          {"transforms", "enrich", []string{"kubernetes_logs"}},
		"route follows the remap":       {"transforms", "by_key", []string{"enrich"}},
		"valid keys go to the layout":   {"sinks", "central_s3", []string{"by_key.central"}},
		"the rest goes to quarantine":   {"sinks", "quarantine_s3", []string{"by_key._unmatched"}},
		"internal metrics are exported": {"sinks", "prometheus", []string{"internal_metrics"}},
	}
	for name, w := range wiring {
		if got := c.inputs(t, w.kind, w.name); fmt.Sprint(got) != fmt.Sprint(w.want) {
			t.Errorf("%s: %s.%s.inputs = %v, want %v", name, w.kind, w.name, got, w.want)
		}
	}
	if got := c.str(t, "transforms", "by_key", "type"); got != "route" {
		t.Errorf("by_key type = %q, want route", got)
	}
	if got := c.str(t, "transforms", "by_key", "route", "central"); got != "!exists(.quarantine_reason)" {
		t.Errorf("by_key central condition = %q", got)
	}
	if got := c.get(t, "transforms", "by_key", "reroute_unmatched"); got != true {
		t.Errorf("by_key reroute_unmatched = %v, want true", got)
	}
	if got := c.str(t, "sinks", "prometheus", "type"); got != "prometheus_exporter" {
		t.Errorf("prometheus sink type = %q", got)
	}
	if got := c.str(t, "sources", "internal_metrics", "type"); got != "internal_metrics" {
		t.Errorf("internal_metrics type = %q", got)
	}
	if got := c.str(t, "sinks", "prometheus", "address"); !strings.HasSuffix(got, ":9598") {
		t.Errorf("prometheus address = %q, want port 9598 (the DaemonSet's metrics port)", got)
	}
}

// remapSource returns the VRL program of the enrich transform.
func remapSource(t *testing.T, c config) string {
	t.Helper()
	if got := c.str(t, "transforms", "enrich", "type"); got != "remap" {
		t.Fatalf("enrich type = %q, want remap", got)
	}
	return c.str(t, "transforms", "enrich", "source")
}

// The remap must set every field the key template and the parser read, from the right sources, and must keep
// the fields Vector's kubernetes_logs source provides that the parser reads (message, timestamp).
func TestRemapSetsKeyAndParserFields(t *testing.T) {
	src := remapSource(t, loadConfig(t))
	for _, m := range templateField.FindAllStringSubmatch(engine.VectorKeyPrefix, -1) {
		field := m[1]
		if !regexp.MustCompile(`(?m)^\.` + regexp.QuoteMeta(field) + ` = `).MatchString(src) {
			t.Errorf("the remap never assigns .%s, which the key prefix uses", field)
		}
	}
	assignments := map[string]string{
		"cluster_id from the environment": `.cluster_id = get_env_var("CLUSTER_ID") ?? ""`,
		"namespace from the pod":          `.namespace = string(.kubernetes.pod_namespace) ?? ""`,
		"pod name from the pod":           `.pod_name = string(.kubernetes.pod_name) ?? ""`,
	}
	for name, want := range assignments {
		if !strings.Contains(src, want) {
			t.Errorf("%s: the remap lacks %q", name, want)
		}
	}
	// application: label app, else app.kubernetes.io/name, else the container name, in that order.
	order := []string{`.kubernetes.pod_labels.app)`, `.kubernetes.pod_labels."app.kubernetes.io/name")`, `.kubernetes.container_name)`}
	last := -1
	for _, s := range order {
		i := strings.Index(src, s)
		if i < 0 {
			t.Fatalf("the remap does not read %s", s)
		}
		if i < last {
			t.Fatalf("application fallback order is wrong: %s comes before the previous source", s)
		}
		last = i
	}
	for _, kept := range []string{"message", "timestamp"} {
		if regexp.MustCompile(`del\(\.` + kept + `\b`).MatchString(src) {
			t.Errorf("the remap deletes .%s, which the parser reads", kept)
		}
	}
	if strings.Contains(src, "parse_timestamp") || strings.Contains(src, "parse_json") {
		t.Error("the remap parses messages or timestamps; that work belongs to logrouter (see README.md)")
	}
}

var segmentCheck = regexp.MustCompile(`if !match\(\.([a-z_]+), r'([^']+)'\)`)

// The remap's segment check must be at least as strict as engine.ParseObjectKey: whatever it lets through to the
// central layout, the engine accepts, so no event can produce a key the engine would reject.
func TestRemapSegmentCheckIsStricterThanEngine(t *testing.T) {
	src := remapSource(t, loadConfig(t))
	checks := segmentCheck.FindAllStringSubmatch(src, -1)
	checked := map[string]bool{}
	for _, m := range checks {
		checked[m[1]] = true
	}
	for _, m := range templateField.FindAllStringSubmatch(engine.VectorKeyPrefix, -1) {
		if !checked[m[1]] {
			t.Errorf("the remap does not validate .%s before it becomes a key segment", m[1])
		}
	}
	samples := []string{"", ".", "..", "a/b", "/", " x", "x y", "ns\n", "tenant-a", "kube-apiserver", "a..b",
		"-leading", "UPPER_case.1", "é", "a\x00b", strings.Repeat("a", 253), strings.Repeat("a", 254), "a%2Fb", "~"}
	for _, m := range checks {
		re, err := regexp.Compile(m[2])
		if err != nil {
			t.Fatalf("segment regex for .%s does not compile: %v", m[1], err)
		}
		for _, s := range samples {
			if !re.MatchString(s) {
				continue
			}
			key := engine.ObjectKey{ClusterID: "c", TenantID: "t", Application: "a", PodName: "p", File: "f.log.gz"}
			switch m[1] {
			case "cluster_id":
				key.ClusterID = s
			case "namespace":
				key.TenantID = s
			case "application":
				key.Application = s
			case "pod_name":
				key.PodName = s
			}
			if _, err := engine.ParseObjectKey(key.String()); err != nil {
				t.Errorf(".%s = %q passes the remap's check but the engine rejects the key: %v", m[1], s, err)
			}
		}
		for _, bad := range []string{"", ".", "..", "a/b"} {
			if re.MatchString(bad) {
				t.Errorf("segment regex for .%s accepts %q", m[1], bad)
			}
		}
	}
	if !strings.Contains(src, ".quarantine_reason = ") {
		t.Error("the remap never sets .quarantine_reason, so nothing reaches the quarantine route")
	}
}

func TestDeployCopyIsCurrent(t *testing.T) {
	want, err := os.ReadFile("vector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.FromSlash(deployCopy))
	if err != nil {
		t.Fatalf("%v (run `make vector-sync`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from vector/vector.yaml: run `make vector-sync`", deployCopy)
	}
}

// An event as the remap leaves it, written as the central sink writes it (JSON line, newline framing, gzip), must
// give logrouter's parser the metadata under the names the remap assigns, and the same values as the object key.
func TestRemapOutputFeedsTheParser(t *testing.T) {
	c := loadConfig(t)
	src := remapSource(t, c)
	values := map[string]string{"cluster_id": "2f6c1a9e-5b7d-4c1e-9a0b-3d2e1f0a9b8c", "namespace": "ocm-prod-abc123",
		"application": "kube-apiserver", "pod_name": "kube-apiserver-7d9f8b6c5-x2x9q"}
	record := map[string]any{
		"message":     "plain text without a timestamp",
		"timestamp":   "2026-11-26T01:02:03.456789Z",
		"file":        "/var/log/pods/ocm-prod-abc123_kube-apiserver-7d9f8b6c5-x2x9q_0e6f/kube-apiserver/0.log",
		"source_type": "kubernetes_logs",
		"stream":      "stderr",
		"kubernetes": map[string]any{"pod_namespace": values["namespace"], "pod_name": values["pod_name"],
			"container_name": "kube-apiserver", "pod_labels": map[string]string{"app": "kube-apiserver"}},
	}
	for _, m := range regexp.MustCompile(`(?m)^\.([a-z_]+) = `).FindAllStringSubmatch(src, -1) {
		v, ok := values[m[1]]
		if !ok {
			t.Fatalf("the remap assigns .%s, which this test does not know the parser's use of", m[1])
		}
		record[m[1]] = v
	}
	line, err := json.Marshal(record)
	if err != nil {
		t.Fatal(err)
	}
	var object bytes.Buffer
	zw := gzip.NewWriter(&object)
	if _, err := zw.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	r := parser.NewReader(&object, time.Unix(0, 0))
	defer r.Close()
	ev, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{"cluster_id": string(ev.ClusterID), "namespace": string(ev.Namespace),
		"application": string(ev.Application), "pod_name": string(ev.PodName)}
	if fmt.Sprint(got) != fmt.Sprint(values) {
		t.Errorf("parser read metadata %v, want %v", got, values)
	}
	msg, err := ev.AppendMessage(nil)
	if err != nil || string(msg) != record["message"] {
		t.Errorf("parser read message %q (%v), want %q", msg, err, record["message"])
	}
	if want := time.Date(2026, 11, 26, 1, 2, 3, 456e6, time.UTC).UnixMilli(); ev.Timestamp != want || ev.Source.String() != "vector" {
		t.Errorf("timestamp %d from %s, want %d from Vector's timestamp field", ev.Timestamp, ev.Source, want)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the one event: %v, want io.EOF", err)
	}

	now := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	key, err := engine.ParseObjectKey(renderKey(t, c.get(t, "sinks", "central_s3").(map[string]any), values, now, "30f6652c-71da-4f9f-800d-a1189c47c547"))
	if err != nil {
		t.Fatal(err)
	}
	if key.ClusterID != got["cluster_id"] || key.TenantID != got["namespace"] || key.Application != got["application"] || key.PodName != got["pod_name"] {
		t.Errorf("object key %+v disagrees with the metadata in its lines %v", key, got)
	}
}
