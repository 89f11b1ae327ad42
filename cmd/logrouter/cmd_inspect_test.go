package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func inspectRun(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), stdio{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut},
		append([]string{"inspect"}, args...), func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

type inspectedEvent struct {
	Timestamp       int64   `json:"timestamp"`
	TimestampSource string  `json:"timestamp_source"`
	Message         string  `json:"message"`
	ClusterID       *string `json:"cluster_id"`
	Namespace       *string `json:"namespace"`
	Application     *string `json:"application"`
	PodName         *string `json:"pod_name"`
}

func decodeEvents(t *testing.T, stdout string) []inspectedEvent {
	t.Helper()
	var evs []inspectedEvent
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if l == "" {
			continue
		}
		var ev inspectedEvent
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&ev), l)
		evs = append(evs, ev)
	}
	return evs
}

const inspectInput = `{"application":"kube-apiserver","cluster_id":"c1","message":"I0830 10:33:20.564974 1 x.go:1] \"quoted\" é","namespace":"ns1","pod_name":"p1","timestamp":"2025-08-30T10:33:21Z"}` + "\n" +
	`{"message":{"ts":"2025-08-30T10:00:00Z","msg":"object"}}` + "\n" +
	"\n" +
	"raw line \xff with bad UTF-8\n"

func writeFile(t *testing.T, name string, data []byte, mtime time.Time) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	require.NoError(t, os.Chtimes(path, mtime, mtime))
	return path
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestInspectPrintsEvents(t *testing.T) {
	mtime := time.Date(2025, 8, 30, 11, 0, 0, 0, time.UTC)
	for name, path := range map[string]string{
		"ndjson": writeFile(t, "obj.ndjson", []byte(inspectInput), mtime),
		"gzip":   writeFile(t, "obj.json.gz", gzipBytes(t, []byte(inspectInput)), mtime),
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := inspectRun(t, "", nil, path)
			require.Equal(t, 0, code, stderr)
			evs := decodeEvents(t, stdout)
			require.Len(t, evs, 3)

			assert.Equal(t, time.Date(2025, 8, 30, 10, 33, 20, 564e6, time.UTC).UnixMilli(), evs[0].Timestamp)
			assert.Equal(t, "message_klog", evs[0].TimestampSource)
			assert.Equal(t, `I0830 10:33:20.564974 1 x.go:1] "quoted" é`, evs[0].Message)
			require.NotNil(t, evs[0].ClusterID)
			assert.Equal(t, "c1", *evs[0].ClusterID)
			assert.Equal(t, "ns1", *evs[0].Namespace)
			assert.Equal(t, "kube-apiserver", *evs[0].Application)
			assert.Equal(t, "p1", *evs[0].PodName)

			assert.Equal(t, "message_json", evs[1].TimestampSource)
			assert.Equal(t, `{"ts":"2025-08-30T10:00:00Z","msg":"object"}`, evs[1].Message)
			assert.Nil(t, evs[1].ClusterID)

			// no timestamp anywhere: the file's modification time
			assert.Equal(t, "fallback", evs[2].TimestampSource)
			assert.Equal(t, mtime.UnixMilli(), evs[2].Timestamp)
			assert.Equal(t, "raw line \ufffd with bad UTF-8", evs[2].Message)

			assert.Contains(t, stderr, "lines=4 events=3 blank=1 malformed=1")
			assert.Contains(t, stderr, "message_klog=1")
			assert.Contains(t, stderr, "format="+map[string]string{"ndjson": "ndjson", "gzip": "gzip"}[name])
		})
	}
}

func TestInspectSummaryOnly(t *testing.T) {
	path := writeFile(t, "obj.json.gz", gzipBytes(t, []byte(inspectInput)), time.Now())
	code, stdout, stderr := inspectRun(t, "", nil, "--summary", path)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "events=3")

	// the environment twin
	code, stdout, _ = inspectRun(t, "", map[string]string{"LOGROUTER_INSPECT_SUMMARY": "true"}, path)
	require.Equal(t, 0, code)
	assert.Empty(t, stdout)
}

func TestInspectStdin(t *testing.T) {
	before := time.Now()
	code, stdout, stderr := inspectRun(t, "no timestamp\n", nil, "-")
	require.Equal(t, 0, code, stderr)
	evs := decodeEvents(t, stdout)
	require.Len(t, evs, 1)
	assert.Equal(t, "fallback", evs[0].TimestampSource)
	assert.GreaterOrEqual(t, evs[0].Timestamp, before.UnixMilli())
	assert.Contains(t, stderr, "-: format=ndjson")
}

func TestInspectMaxLineBytes(t *testing.T) {
	in := `{"message":"short"}` + "\n" + `{"message":"` + strings.Repeat("x", 100) + `"}` + "\n"
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"flag": {args: []string{"--max-line-bytes", "50", "-"}},
		"env":  {env: map[string]string{"LOGROUTER_MAX_LINE_BYTES": "50"}, args: []string{"-"}},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := inspectRun(t, in, tc.env, tc.args...)
			require.Equal(t, 0, code, stderr)
			assert.Len(t, decodeEvents(t, stdout), 1)
			assert.Contains(t, stderr, "oversized=1")
		})
	}
	code, _, stderr := inspectRun(t, in, nil, "--max-line-bytes", "0", "-")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "must be positive")
}

func TestInspectCorruptGzip(t *testing.T) {
	var in strings.Builder
	for range 5000 {
		in.WriteString(`{"message":"line"}` + "\n")
	}
	gz := gzipBytes(t, []byte(in.String()))
	path := writeFile(t, "cut.json.gz", gz[:len(gz)-10], time.Now())
	code, stdout, stderr := inspectRun(t, "", nil, path)
	assert.Equal(t, 1, code)
	n := len(decodeEvents(t, stdout)) // the lines before the damage
	assert.Greater(t, n, 4000)
	assert.Less(t, n, 5000)
	assert.Contains(t, stderr, "corrupt gzip stream")
	assert.Contains(t, stderr, fmt.Sprintf("events=%d ", n))
}

func TestInspectUsage(t *testing.T) {
	code, _, stderr := inspectRun(t, "", nil)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "one FILE")

	code, _, stderr = inspectRun(t, "", nil, filepath.Join(t.TempDir(), "missing.json.gz"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no such file")

	code, _, stderr = inspectRun(t, "", nil, t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is a directory")

	var out bytes.Buffer
	code = run(context.Background(), stdio{Stdout: &out, Stderr: &out}, []string{"help", "inspect"}, func(string) string { return "" })
	assert.Equal(t, 0, code)
	for _, s := range []string{"LOGROUTER_MAX_LINE_BYTES", "LOGROUTER_INSPECT_SUMMARY", "--summary", "modification time"} {
		assert.Contains(t, out.String(), s)
	}
}

func TestAppendJSONString(t *testing.T) {
	in := "a\"b\\c\n\r\t\x01é\xff"
	got := appendJSONString(nil, []byte(in))
	var s string
	require.NoError(t, json.Unmarshal(got, &s))
	assert.Equal(t, "a\"b\\c\n\r\t\x01é\ufffd", s)
}
