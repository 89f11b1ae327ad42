// Package corpus generates deterministic, realistic Vector objects: gzip-compressed NDJSON in the shape Vector's
// kubernetes_logs source writes to the central bucket, enriched with cluster_id, namespace, application and
// pod_name. Benchmarks, tests and the demo use it as their input.
//
// Each line carries the pod's Kubernetes metadata (labels, annotations, container, node, uid), which is most of
// its bytes (~2.4 KB a line on average, of which the message is ~10%). Messages mix JSON application logs
// (timestamps in "ts" or "time"), Kubernetes audit events (stageTimestamp), klog lines, Go log lines, logfmt and
// plain text. Timestamps are slightly out of order, as they are in real objects.
//
// The same Options always produce the same bytes.
package corpus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Options shapes one generated object.
type Options struct {
	// Seed selects the object's content; the same Options always produce the same bytes.
	Seed int64
	// TargetBytes is the object's uncompressed size. The object is at least TargetBytes-MinLineBytes and at
	// most TargetBytes long (one line is always written, even when it is longer than TargetBytes).
	TargetBytes int64
	// Start is the Vector timestamp of the first line (default 2026-01-02T03:04:05Z).
	Start time.Time
	// ClusterID, Namespace, Application and PodName are the metadata every line carries; empty ones get
	// seed-derived defaults.
	ClusterID, Namespace, Application, PodName string
	// Tail adds a few huge messages (100 KiB - 3 MiB, about one per 16 MiB of output and at least one per
	// object), each at most an eighth of TargetBytes (but never under 100 KiB) and fitting in it.
	Tail bool
	// Span is how far the timestamps advance from the first line to the last (default 5m, Vector's batch
	// timeout). Use more than 24h to exercise CloudWatch's batch time-span limit.
	Span time.Duration
	// Uncompressed writes plain NDJSON instead of gzip.
	Uncompressed bool
	// Level is the gzip compression level (default gzip.DefaultCompression, as Vector writes).
	Level int
}

// Summary describes what Generate wrote.
type Summary struct {
	Lines             int64
	UncompressedBytes int64
	// CompressedBytes is what was written to w (equal to UncompressedBytes when Options.Uncompressed).
	CompressedBytes int64
	// MinTimestamp and MaxTimestamp bound every timestamp in the object: Vector's "timestamp" field and the
	// timestamps inside messages.
	MinTimestamp, MaxTimestamp time.Time
	// ByKind counts lines by message kind (see Kinds).
	ByKind [NumKinds]int64
	// TailLines counts messages of 100 KiB or more.
	TailLines int64
}

// Kind is a message format the generator writes.
type Kind uint8

// Message kinds.
const (
	KindJSON   Kind = iota // JSON application log, timestamp in "ts" (epoch seconds or RFC 3339) or "time"
	KindAudit              // Kubernetes audit event (JSON) with requestReceivedTimestamp and stageTimestamp
	KindKlog               // klog header: I1126 01:14:09.123456       1 file.go:123] ...
	KindGoLog              // Go log package: 2026/01/02 03:04:05.123456 ...
	KindLogfmt             // logfmt with time=...
	KindPlain              // plain text, no timestamp
	KindTail               // a 100 KiB - 3 MiB message
	NumKinds
)

var kindNames = [NumKinds]string{"json", "audit", "klog", "golog", "logfmt", "plain", "tail"}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MinLineBytes is the most by which an object may fall short of Options.TargetBytes.
const MinLineBytes = 4096

// Tail message size bounds.
const (
	MinTailBytes = 100 << 10
	MaxTailBytes = 3 << 20
)

// DefaultStart is the default Options.Start.
var DefaultStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ErrTargetBytes is returned when Options.TargetBytes is not positive.
var ErrTargetBytes = errors.New("corpus: TargetBytes must be positive")

// Generate writes one object to w and describes it. It fails only when w does or when the options are invalid.
func Generate(w io.Writer, o Options) (Summary, error) {
	if o.TargetBytes <= 0 {
		return Summary{}, ErrTargetBytes
	}
	if o.Span < 0 {
		return Summary{}, fmt.Errorf("corpus: negative Span %v", o.Span)
	}
	g := newGenerator(o)
	cw := &countingWriter{w: w}
	var sink io.Writer = cw
	var zw *gzip.Writer
	if !o.Uncompressed {
		level := o.Level
		if level == 0 {
			level = gzip.DefaultCompression
		}
		var err error
		if zw, err = gzip.NewWriterLevel(cw, level); err != nil {
			return Summary{}, fmt.Errorf("corpus: %w", err)
		}
		sink = zw
	}
	bw := bufio.NewWriterSize(sink, 256<<10)
	if err := g.run(bw); err != nil {
		return Summary{}, err
	}
	if err := bw.Flush(); err != nil {
		return Summary{}, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return Summary{}, err
		}
	}
	g.sum.CompressedBytes = cw.n
	return g.sum, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type container struct {
	name, image, imageID, id, file string
}

type generator struct {
	o          Options
	rng        *rand.Rand
	start      time.Time
	span       time.Duration
	containers []container
	// prefix[i] is everything of a line for container i from `{` up to and including `"message":"`; suffix is
	// the part after the message up to `"timestamp":"`.
	prefix [][]byte
	suffix []byte
	// stdout/stderr suffixes
	stream      [2][]byte
	line, msg   []byte
	sum         Summary
	nextTail    int64 // output offset at which the next tail message is due
	haveMinMax  bool
	minTS, maxT int64
}

func newGenerator(o Options) *generator {
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	if o.Span == 0 {
		o.Span = 5 * time.Minute
	}
	seed := uint64(o.Seed)
	g := &generator{
		o:     o,
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		start: o.Start.UTC(),
		span:  o.Span,
	}
	if g.o.ClusterID == "" {
		g.o.ClusterID = fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", g.rng.Uint32(), g.rng.Uint32()&0xffff,
			g.rng.Uint32()&0xfff, g.rng.Uint32()&0xfff, g.rng.Uint64()&0xffffffffffff)
	}
	if g.o.Namespace == "" {
		g.o.Namespace = "ocm-production-" + randAlnum(g.rng, 20)
	}
	if g.o.Application == "" {
		g.o.Application = pick(g.rng, applications)
	}
	if g.o.PodName == "" {
		g.o.PodName = g.o.Application + "-" + randAlnum(g.rng, 10) + "-" + randAlnum(g.rng, 5)
	}
	g.buildMetadata()
	if o.Tail {
		// The first tail message lands somewhere in the first half of the object (or of 16 MiB).
		g.nextTail = g.rng.Int64N(min(o.TargetBytes, 16<<20)/2 + 1)
	} else {
		g.nextTail = math.MaxInt64
	}
	return g
}

func (g *generator) run(w *bufio.Writer) error {
	target := g.o.TargetBytes
	for {
		written := g.sum.UncompressedBytes
		remaining := target - written
		if remaining <= 0 {
			return nil
		}
		ci := 0
		if len(g.containers) > 1 && g.rng.IntN(4) == 0 {
			ci = 1 + g.rng.IntN(len(g.containers)-1)
		}
		// Vector's timestamp advances with the output so the object spans Span; a few lines run behind.
		frac := float64(written) / float64(target)
		vts := g.start.Add(time.Duration(frac * float64(g.span)))
		vts = vts.Add(time.Duration(g.rng.Int64N(int64(time.Millisecond))))
		if g.rng.IntN(20) == 0 {
			vts = vts.Add(-time.Duration(g.rng.Int64N(int64(3 * time.Second))))
		}
		// The application's own timestamp is a little earlier; sometimes much earlier (buffered logs).
		mts := vts.Add(-time.Duration(g.rng.Int64N(int64(5 * time.Millisecond))))
		if g.rng.IntN(50) == 0 {
			mts = mts.Add(-time.Duration(g.rng.Int64N(int64(10 * time.Second))))
		}
		kind := g.pickKind(written)
		hasMsgTS := true
		g.msg = g.msg[:0]
		switch kind {
		case KindJSON:
			g.msg = g.appendJSONLog(g.msg, mts)
		case KindAudit:
			g.msg = g.appendAudit(g.msg, mts)
		case KindKlog:
			g.msg = g.appendKlog(g.msg, mts)
		case KindGoLog:
			g.msg = g.appendGoLog(g.msg, mts)
		case KindLogfmt:
			g.msg = g.appendLogfmt(g.msg, mts)
		case KindPlain:
			g.msg = g.appendPlain(g.msg)
			hasMsgTS = false
		case KindTail:
			size := MinTailBytes + int(math.Exp(g.rng.Float64()*math.Log(float64(MaxTailBytes)/MinTailBytes))*MinTailBytes) - MinTailBytes
			// A tail message never dominates its object: at most an eighth of it (but at least MinTailBytes).
			size = min(size, MaxTailBytes, int(remaining)-MinLineBytes, max(MinTailBytes, int(g.o.TargetBytes/8)))
			g.msg = g.appendTail(g.msg, mts, max(size, MinTailBytes))
			g.nextTail = written + 8<<20 + g.rng.Int64N(16<<20)
		}
		stderr := g.rng.IntN(3) == 0
		g.line = g.appendLine(g.line[:0], ci, g.msg, vts, stderr)
		if int64(len(g.line)) > remaining && g.sum.Lines > 0 {
			// Fill the rest exactly with a plain-text line, or stop when even an empty message does not fit.
			g.line = g.appendLine(g.line[:0], ci, nil, vts, stderr)
			pad := int(remaining) - len(g.line)
			if pad <= 0 {
				return nil
			}
			g.msg = appendFiller(g.msg[:0], g.rng, pad)
			g.line = g.appendLine(g.line[:0], ci, g.msg, vts, stderr)
			kind, hasMsgTS = KindPlain, false
		}
		if _, err := w.Write(g.line); err != nil {
			return err
		}
		g.sum.Lines++
		g.sum.UncompressedBytes += int64(len(g.line))
		g.sum.ByKind[kind]++
		if len(g.msg) >= MinTailBytes {
			g.sum.TailLines++
		}
		g.observe(vts)
		if hasMsgTS {
			// klog and Go log carry microseconds; audit microseconds; JSON/logfmt at least that.
			g.observe(mts.Truncate(time.Microsecond))
		}
	}
}

func (g *generator) observe(t time.Time) {
	ns := t.UnixNano()
	if !g.haveMinMax {
		g.minTS, g.maxT, g.haveMinMax = ns, ns, true
	}
	g.minTS = min(g.minTS, ns)
	g.maxT = max(g.maxT, ns)
	g.sum.MinTimestamp = time.Unix(0, g.minTS).UTC()
	g.sum.MaxTimestamp = time.Unix(0, g.maxT).UTC()
}

// pickKind draws a message kind with the mix of a busy hosted-control-plane namespace.
func (g *generator) pickKind(written int64) Kind {
	if written >= g.nextTail && g.o.TargetBytes-written >= MinTailBytes+MinLineBytes {
		return KindTail
	}
	switch r := g.rng.IntN(100); {
	case r < 34:
		return KindJSON
	case r < 40:
		return KindAudit
	case r < 66:
		return KindKlog
	case r < 76:
		return KindGoLog
	case r < 82:
		return KindLogfmt
	default:
		return KindPlain
	}
}

// appendLine writes one Vector kubernetes_logs line (keys sorted, as Vector writes them) and a newline.
func (g *generator) appendLine(dst []byte, ci int, msg []byte, vts time.Time, stderr bool) []byte {
	dst = append(dst, g.prefix[ci]...)
	dst = appendJSONStringBody(dst, msg)
	dst = append(dst, g.suffix...)
	if stderr {
		dst = append(dst, g.stream[1]...)
	} else {
		dst = append(dst, g.stream[0]...)
	}
	dst = vts.AppendFormat(dst, "2006-01-02T15:04:05.000000000Z07:00")
	return append(dst, "\"}\n"...)
}

// buildMetadata renders the per-container constant parts of a line.
func (g *generator) buildMetadata() {
	r := g.rng
	o := &g.o
	uid := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff,
		r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
	node := fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", r.IntN(256), r.IntN(256))
	podIP := fmt.Sprintf("10.128.%d.%d", r.IntN(256), 2+r.IntN(250))
	hash := randAlnum(r, 10)
	names := []string{o.Application}
	for n := r.IntN(3); n > 0; n-- {
		names = append(names, pick(r, sidecars))
	}
	for _, name := range names {
		c := container{name: name}
		c.image = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + randHex(r, 64)
		c.imageID = c.image
		c.id = "cri-o://" + randHex(r, 64)
		c.file = "/var/log/pods/" + o.Namespace + "_" + o.PodName + "_" + uid + "/" + name + "/0.log"
		g.containers = append(g.containers, c)
	}
	nsLabels := [][2]string{
		{"hypershift.openshift.io/hosted-control-plane", "true"},
		{"kubernetes.io/metadata.name", o.Namespace},
	}
	nodeLabels := [][2]string{
		{"kubernetes.io/arch", "amd64"},
		{"kubernetes.io/hostname", node},
		{"kubernetes.io/os", "linux"},
		{"node-role.kubernetes.io/worker", ""},
		{"topology.kubernetes.io/region", "us-east-1"},
		{"topology.kubernetes.io/zone", "us-east-1a"},
	}
	podLabels := [][2]string{
		{"app", o.Application},
		{"hypershift.openshift.io/hosted-control-plane", o.Namespace},
		{"pod-template-hash", hash},
	}
	netStatus := `[{\n    "name": "ovn-kubernetes",\n    "interface": "eth0",\n    "ips": [\n        "` + podIP +
		`"\n    ],\n    "mac": "0a:58:0a:80:` + fmt.Sprintf("%02x:%02x", r.IntN(256), r.IntN(256)) +
		`",\n    "default": true,\n    "dns": {}\n}]`
	annotations := [][2]string{
		{"component.hypershift.openshift.io/config-hash", randHex(r, 8)},
		{"k8s.v1.cni.cncf.io/network-status", netStatus},
		{"openshift.io/scc", "restricted-v2"},
	}
	for _, c := range g.containers {
		var b []byte
		b = append(b, `{"application":`...)
		b = appendJSONString(b, o.Application)
		b = append(b, `,"cluster_id":`...)
		b = appendJSONString(b, o.ClusterID)
		b = append(b, `,"file":`...)
		b = appendJSONString(b, c.file)
		b = append(b, `,"kubernetes":{"container_id":`...)
		b = appendJSONString(b, c.id)
		b = append(b, `,"container_image":`...)
		b = appendJSONString(b, c.image)
		b = append(b, `,"container_image_id":`...)
		b = appendJSONString(b, c.imageID)
		b = append(b, `,"container_name":`...)
		b = appendJSONString(b, c.name)
		b = append(b, `,"namespace_labels":`...)
		b = appendStringMap(b, nsLabels)
		b = append(b, `,"node_labels":`...)
		b = appendStringMap(b, nodeLabels)
		b = append(b, `,"pod_annotations":`...)
		b = appendStringMap(b, annotations)
		b = append(b, `,"pod_ip":`...)
		b = appendJSONString(b, podIP)
		b = append(b, `,"pod_ips":[`...)
		b = appendJSONString(b, podIP)
		b = append(b, `],"pod_labels":`...)
		b = appendStringMap(b, podLabels)
		b = append(b, `,"pod_name":`...)
		b = appendJSONString(b, o.PodName)
		b = append(b, `,"pod_namespace":`...)
		b = appendJSONString(b, o.Namespace)
		b = append(b, `,"pod_node_name":`...)
		b = appendJSONString(b, node)
		b = append(b, `,"pod_owner":`...)
		b = appendJSONString(b, "ReplicaSet/"+o.Application+"-"+hash)
		b = append(b, `,"pod_uid":`...)
		b = appendJSONString(b, uid)
		b = append(b, `},"message":"`...)
		g.prefix = append(g.prefix, b)
	}
	var s []byte
	s = append(s, `","namespace":`...)
	s = appendJSONString(s, o.Namespace)
	s = append(s, `,"pod_name":`...)
	s = appendJSONString(s, o.PodName)
	s = append(s, `,"source_type":"kubernetes_logs","stream":`...)
	g.suffix = s
	g.stream[0] = []byte(`"stdout","timestamp":"`)
	g.stream[1] = []byte(`"stderr","timestamp":"`)
}

func appendStringMap(dst []byte, kv [][2]string) []byte {
	dst = append(dst, '{')
	for i, p := range kv {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, p[0])
		dst = append(dst, ':')
		dst = appendJSONString(dst, p[1])
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, []byte(s))
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONStringBody escapes s as serde_json does: quote, backslash and control characters; UTF-8 as is.
func appendJSONStringBody(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}
