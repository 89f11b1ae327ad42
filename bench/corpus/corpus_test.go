package corpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vectorLine is the subset of Vector's kubernetes_logs shape the pipeline relies on.
type vectorLine struct {
	Application string `json:"application"`
	ClusterID   string `json:"cluster_id"`
	File        string `json:"file"`
	Kubernetes  struct {
		ContainerName  string            `json:"container_name"`
		PodLabels      map[string]string `json:"pod_labels"`
		PodAnnotations map[string]string `json:"pod_annotations"`
		NodeLabels     map[string]string `json:"node_labels"`
		PodNodeName    string            `json:"pod_node_name"`
		PodUID         string            `json:"pod_uid"`
		PodName        string            `json:"pod_name"`
		PodNamespace   string            `json:"pod_namespace"`
	} `json:"kubernetes"`
	Message    *string `json:"message"`
	Namespace  string  `json:"namespace"`
	PodName    string  `json:"pod_name"`
	SourceType string  `json:"source_type"`
	Stream     string  `json:"stream"`
	Timestamp  string  `json:"timestamp"`
}

func generate(t *testing.T, o Options) ([]byte, Summary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := Generate(&buf, o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if got := int64(buf.Len()); got != sum.CompressedBytes {
		t.Fatalf("CompressedBytes = %d, wrote %d", sum.CompressedBytes, got)
	}
	return buf.Bytes(), sum
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	o := Options{Seed: 42, TargetBytes: 512 << 10, Tail: true}
	a, sa := generate(t, o)
	b, sb := generate(t, o)
	if sha256.Sum256(a) != sha256.Sum256(b) || sa != sb {
		t.Fatal("same options produced different objects")
	}
	o.Seed = 43
	c, _ := generate(t, o)
	if bytes.Equal(gunzip(t, a), gunzip(t, c)) {
		t.Fatal("different seeds produced the same object")
	}
}

func TestSizes(t *testing.T) {
	tests := map[string]Options{
		"tiny":             {Seed: 1, TargetBytes: 10 << 10},
		"1 MiB":            {Seed: 2, TargetBytes: 1 << 20},
		"1 MiB with tail":  {Seed: 3, TargetBytes: 1 << 20, Tail: true},
		"4 MiB with tail":  {Seed: 4, TargetBytes: 4 << 20, Tail: true},
		"uncompressed odd": {Seed: 5, TargetBytes: 777_777, Uncompressed: true},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			b, sum := generate(t, o)
			raw := b
			if !o.Uncompressed {
				raw = gunzip(t, b)
				if sum.CompressedBytes >= sum.UncompressedBytes/4 {
					t.Errorf("compressed %d of %d: Vector objects compress far better", sum.CompressedBytes, sum.UncompressedBytes)
				}
			}
			if int64(len(raw)) != sum.UncompressedBytes {
				t.Fatalf("UncompressedBytes = %d, object is %d", sum.UncompressedBytes, len(raw))
			}
			if sum.UncompressedBytes > o.TargetBytes || sum.UncompressedBytes < o.TargetBytes-MinLineBytes {
				t.Errorf("size %d, want within [%d, %d]", sum.UncompressedBytes, o.TargetBytes-MinLineBytes, o.TargetBytes)
			}
			if got := int64(bytes.Count(raw, []byte("\n"))); got != sum.Lines {
				t.Errorf("Lines = %d, object has %d", sum.Lines, got)
			}
			if longest := longestLine(raw); o.Tail && longest > int(max(MinTailBytes, o.TargetBytes/8))+MinLineBytes {
				t.Errorf("longest line %d bytes: a tail message may take at most an eighth of the object", longest)
			}
			if o.Tail && sum.TailLines == 0 {
				t.Error("Tail set but no tail message")
			}
			if !o.Tail && sum.TailLines != 0 {
				t.Errorf("%d tail messages without Tail", sum.TailLines)
			}
		})
	}
}

func TestLinesAreVectorJSON(t *testing.T) {
	o := Options{Seed: 7, TargetBytes: 2 << 20, Tail: true, ClusterID: "c1", Namespace: "tenant-a",
		Application: "kube-apiserver", PodName: "kube-apiserver-abc"}
	b, sum := generate(t, o)
	sc := bufio.NewScanner(bytes.NewReader(gunzip(t, b)))
	sc.Buffer(nil, 8<<20)
	var lines, msgBytes, lineBytes int64
	kinds := map[string]int{}
	var prev time.Time
	outOfOrder := 0
	for sc.Scan() {
		lines++
		lineBytes += int64(len(sc.Bytes())) + 1
		var v vectorLine
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d is not JSON: %v", lines, err)
		}
		if v.Application != o.Application || v.ClusterID != o.ClusterID || v.Namespace != o.Namespace || v.PodName != o.PodName {
			t.Fatalf("line %d metadata = %q %q %q %q", lines, v.ClusterID, v.Namespace, v.Application, v.PodName)
		}
		if v.SourceType != "kubernetes_logs" || (v.Stream != "stdout" && v.Stream != "stderr") || v.File == "" {
			t.Fatalf("line %d: source_type %q stream %q file %q", lines, v.SourceType, v.Stream, v.File)
		}
		k := v.Kubernetes
		if k.ContainerName == "" || k.PodUID == "" || k.PodNodeName == "" || len(k.PodLabels) == 0 ||
			len(k.PodAnnotations) == 0 || len(k.NodeLabels) == 0 || k.PodName != o.PodName || k.PodNamespace != o.Namespace {
			t.Fatalf("line %d: kubernetes metadata incomplete: %+v", lines, k)
		}
		if v.Message == nil {
			t.Fatalf("line %d has no message", lines)
		}
		msgBytes += int64(len(*v.Message))
		ts, err := time.Parse(time.RFC3339Nano, v.Timestamp)
		if err != nil {
			t.Fatalf("line %d timestamp: %v", lines, err)
		}
		if ts.Before(sum.MinTimestamp) || ts.After(sum.MaxTimestamp) {
			t.Errorf("line %d timestamp %v outside [%v, %v]", lines, ts, sum.MinTimestamp, sum.MaxTimestamp)
		}
		if ts.Before(prev) {
			outOfOrder++
		}
		prev = ts
		kinds[classify(*v.Message)]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != sum.Lines {
		t.Fatalf("%d lines, summary says %d", lines, sum.Lines)
	}
	for _, k := range []string{"json-ts", "json-time", "audit", "klog", "golog", "logfmt", "plain"} {
		if kinds[k] == 0 {
			t.Errorf("no %s messages among %d lines: %v", k, lines, kinds)
		}
	}
	if outOfOrder == 0 {
		t.Error("timestamps are perfectly ordered; real objects are not")
	}
	// Without the tail, lines average ~2.4 KB with the message a small share; check it loosely.
	_, sum2 := generate(t, Options{Seed: 8, TargetBytes: 4 << 20})
	avg := sum2.UncompressedBytes / sum2.Lines
	if avg < 2100 || avg > 2700 {
		t.Errorf("average line %d bytes, want ~2.4 KB", avg)
	}
	if share := float64(msgBytes) / float64(lineBytes); share <= 0 || share > 0.9 {
		t.Errorf("message share %.2f", share)
	}
}

var (
	klogRE  = regexp.MustCompile(`^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ \S+:\d+\] `)
	golgRE  = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d`)
	logfmRE = regexp.MustCompile(`^time="[^"]+" level=`)
)

func classify(m string) string {
	switch {
	case strings.HasPrefix(m, "{"):
		var v map[string]any
		if err := json.Unmarshal([]byte(m), &v); err != nil {
			return "bad-json"
		}
		if _, ok := v["stageTimestamp"]; ok {
			return "audit"
		}
		if _, ok := v["ts"]; ok {
			return "json-ts"
		}
		if _, ok := v["time"]; ok {
			return "json-time"
		}
		return "json-other"
	case klogRE.MatchString(m):
		return "klog"
	case golgRE.MatchString(m):
		return "golog"
	case logfmRE.MatchString(m):
		return "logfmt"
	default:
		return "plain"
	}
}

func TestLongSpan(t *testing.T) {
	start := time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)
	_, sum := generate(t, Options{Seed: 9, TargetBytes: 1 << 20, Start: start, Span: 30 * time.Hour})
	if d := sum.MaxTimestamp.Sub(sum.MinTimestamp); d < 29*time.Hour || d > 31*time.Hour {
		t.Errorf("span %v, want ~30h", d)
	}
	if sum.MinTimestamp.Before(start.Add(-time.Minute)) {
		t.Errorf("min timestamp %v before start %v", sum.MinTimestamp, start)
	}
}

func TestDefaultSpanIsShort(t *testing.T) {
	_, sum := generate(t, Options{Seed: 10, TargetBytes: 1 << 20})
	if d := sum.MaxTimestamp.Sub(sum.MinTimestamp); d > 6*time.Minute || d < 4*time.Minute {
		t.Errorf("default span %v, want ~5m", d)
	}
	if !sum.MinTimestamp.After(DefaultStart.Add(-time.Minute)) {
		t.Errorf("min %v", sum.MinTimestamp)
	}
}

func TestInvalidOptions(t *testing.T) {
	if _, err := Generate(io.Discard, Options{}); !errors.Is(err, ErrTargetBytes) {
		t.Errorf("zero TargetBytes: %v", err)
	}
	if _, err := Generate(io.Discard, Options{TargetBytes: 1, Span: -time.Second}); err == nil {
		t.Error("negative span accepted")
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriterError(t *testing.T) {
	_, err := Generate(&failWriter{after: 1000}, Options{Seed: 1, TargetBytes: 4 << 20})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the writer's", err)
	}
}

func TestKindString(t *testing.T) {
	if KindKlog.String() != "klog" || Kind(200).String() != "kind("+strconv.Itoa(200)+")" {
		t.Error(KindKlog.String(), Kind(200).String())
	}
}

func BenchmarkGenerate64MiB(b *testing.B) {
	b.SetBytes(64 << 20)
	for b.Loop() {
		if _, err := Generate(io.Discard, Options{Seed: 1, TargetBytes: 64 << 20, Tail: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func longestLine(b []byte) int {
	longest := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		longest = max(longest, i)
		b = b[min(i+1, len(b)):]
	}
	return longest
}
