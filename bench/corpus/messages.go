package corpus

import (
	"math/rand/v2"
	"strconv"
	"time"
)

var applications = []string{
	"kube-apiserver", "etcd", "kube-controller-manager", "openshift-apiserver", "oauth-openshift",
	"cluster-version-operator", "ignition-server", "konnectivity-agent", "control-plane-operator",
	"hosted-cluster-config-operator", "catalog-operator", "olm-operator", "ingress-operator",
}

var sidecars = []string{"konnectivity-proxy", "audit-logs", "kas-bootstrap", "token-minter", "availability-prober"}

var levels = []string{"info", "info", "info", "info", "debug", "warn", "error"}

var words = []string{
	"reconciling", "object", "updated", "failed", "to", "sync", "lease", "renewed", "request", "completed",
	"watch", "cache", "timeout", "connection", "refused", "retrying", "after", "backoff", "certificate",
	"rotated", "leader", "election", "acquired", "endpoint", "slice", "deployment", "status", "condition",
	"Available", "Progressing", "Degraded", "context", "deadline", "exceeded", "handler", "queue", "depth",
	"resource", "version", "too", "old", "informer", "resync", "period", "pod", "node", "volume", "mounted",
	"configmap", "secret", "service", "account", "token", "expired", "webhook", "admission", "denied", "the",
	"for", "with", "on", "in", "of", "and", "is", "was", "not", "found", "räumlich", "café", "naïve", "日本語",
}

var goFiles = []string{
	"controller.go", "reflector.go", "leaderelection.go", "httplog.go", "cacher.go", "watch.go", "server.go",
	"shared_informer.go", "reconcile.go", "healthz.go", "dynamic_serving_content.go", "secure_serving.go",
}

var verbs = []string{"get", "list", "watch", "update", "patch", "create", "delete"}

var resources = []string{"pods", "configmaps", "secrets", "leases", "deployments", "nodes", "events", "services"}

var userAgents = []string{
	"kube-controller-manager/v1.31.3 (linux/amd64) kubernetes/4c5f2b1/leader-election",
	"cluster-version-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
	"kubelet/v1.31.3 (linux/amd64) kubernetes/4c5f2b1",
	"Go-http-client/2.0",
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func randAlnum(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

func randHex(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hexDigits[r.IntN(16)]
	}
	return string(b)
}

func appendHex(dst []byte, r *rand.Rand, n int) []byte {
	for range n {
		dst = append(dst, hexDigits[r.IntN(16)])
	}
	return dst
}

// appendWords appends n random words separated by spaces.
func appendWords(dst []byte, r *rand.Rand, n int) []byte {
	for i := range n {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, pick(r, words)...)
	}
	return dst
}

// sentenceLen draws a word count with a long-ish tail: most messages are short, a few are long.
func sentenceLen(r *rand.Rand) int {
	n := 3 + r.IntN(10)
	if r.IntN(8) == 0 {
		n += r.IntN(60)
	}
	return n
}

func (g *generator) appendJSONLog(dst []byte, ts time.Time) []byte {
	r := g.rng
	dst = append(dst, '{')
	switch r.IntN(3) {
	case 0: // zap production: epoch seconds
		dst = append(dst, `"level":"`...)
		dst = append(dst, pick(r, levels)...)
		dst = append(dst, `","ts":`...)
		dst = strconv.AppendFloat(dst, float64(ts.UnixMicro())/1e6, 'f', 6, 64)
		dst = append(dst, `,"logger":"controller.`...)
		dst = append(dst, pick(r, resources)...)
		dst = append(dst, `","caller":"`...)
		dst = append(dst, pick(r, goFiles)...)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(20+r.IntN(900)), 10)
		dst = append(dst, `","msg":"`...)
	case 1: // zap with ISO 8601
		dst = append(dst, `"level":"`...)
		dst = append(dst, pick(r, levels)...)
		dst = append(dst, `","ts":"`...)
		dst = ts.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		dst = append(dst, `","msg":"`...)
	default: // slog / logrus: "time"
		dst = append(dst, `"time":"`...)
		dst = ts.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `","level":"`...)
		dst = append(dst, pick(r, levels)...)
		dst = append(dst, `","msg":"`...)
	}
	dst = appendWords(dst, r, sentenceLen(r))
	dst = append(dst, `","namespace":"`...)
	dst = append(dst, g.o.Namespace...)
	dst = append(dst, `","name":"`...)
	dst = append(dst, pick(r, resources)...)
	dst = append(dst, '-')
	dst = appendHex(dst, r, 5)
	dst = append(dst, `","reconcileID":"`...)
	dst = appendHex(dst, r, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, r, 4)
	dst = append(dst, `"`...)
	if r.IntN(5) == 0 {
		dst = append(dst, `,"error":"Operation cannot be fulfilled on `...)
		dst = append(dst, pick(r, resources)...)
		dst = append(dst, ` \"x\": the object has been modified; please apply your changes to the latest version and try again"`...)
	}
	return append(dst, '}')
}

func (g *generator) appendAudit(dst []byte, ts time.Time) []byte {
	r := g.rng
	received := ts.Add(-time.Duration(r.Int64N(int64(40 * time.Millisecond))))
	verb := pick(r, verbs)
	res := pick(r, resources)
	dst = append(dst, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"`...)
	dst = appendHex(dst, r, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, r, 4)
	dst = append(dst, "-4"...)
	dst = appendHex(dst, r, 3)
	dst = append(dst, '-')
	dst = appendHex(dst, r, 12)
	dst = append(dst, `","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/`...)
	dst = append(dst, g.o.Namespace...)
	dst = append(dst, '/')
	dst = append(dst, res...)
	dst = append(dst, `?limit=500\u0026resourceVersion=0","verb":"`...)
	dst = append(dst, verb...)
	dst = append(dst, `","user":{"username":"system:serviceaccount:`...)
	dst = append(dst, g.o.Namespace...)
	dst = append(dst, `:`...)
	dst = append(dst, g.o.Application...)
	dst = append(dst, `","uid":"`...)
	dst = appendHex(dst, r, 32)
	dst = append(dst, `","groups":["system:serviceaccounts","system:serviceaccounts:`...)
	dst = append(dst, g.o.Namespace...)
	dst = append(dst, `","system:authenticated"]},"sourceIPs":["10.128.`...)
	dst = strconv.AppendInt(dst, int64(r.IntN(256)), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(r.IntN(256)), 10)
	dst = append(dst, `"],"userAgent":"`...)
	dst = append(dst, pick(r, userAgents)...)
	dst = append(dst, `","objectRef":{"resource":"`...)
	dst = append(dst, res...)
	dst = append(dst, `","namespace":"`...)
	dst = append(dst, g.o.Namespace...)
	dst = append(dst, `","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"`...)
	dst = received.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, `","stageTimestamp":"`...)
	dst = ts.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, `","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:`...)
	dst = append(dst, g.o.Application...)
	dst = append(dst, `\" of ClusterRole \"system:`...)
	dst = append(dst, g.o.Application...)
	dst = append(dst, `\" to ServiceAccount \"`...)
	dst = append(dst, g.o.Application...)
	dst = append(dst, `/kube-system\""}}`...)
	return dst
}

func (g *generator) appendKlog(dst []byte, ts time.Time) []byte {
	r := g.rng
	sev := "IIIIIIWE"[r.IntN(8)]
	dst = append(dst, sev)
	dst = ts.AppendFormat(dst, "0102 15:04:05.000000")
	dst = append(dst, "       1 "...)
	dst = append(dst, pick(r, goFiles)...)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(20+r.IntN(900)), 10)
	dst = append(dst, "] "...)
	dst = appendWords(dst, r, sentenceLen(r))
	if r.IntN(3) == 0 {
		dst = append(dst, ` "`...)
		dst = append(dst, pick(r, resources)...)
		dst = append(dst, `"="`...)
		dst = append(dst, g.o.Namespace...)
		dst = append(dst, '/')
		dst = appendHex(dst, r, 6)
		dst = append(dst, `" "duration"="`...)
		dst = strconv.AppendInt(dst, int64(r.IntN(2000)), 10)
		dst = append(dst, `ms"`...)
	}
	return dst
}

func (g *generator) appendGoLog(dst []byte, ts time.Time) []byte {
	r := g.rng
	if r.IntN(2) == 0 {
		dst = ts.AppendFormat(dst, "2006/01/02 15:04:05.000000 ")
	} else {
		dst = ts.AppendFormat(dst, "2006/01/02 15:04:05 ")
	}
	if r.IntN(4) == 0 {
		dst = append(dst, "http: TLS handshake error from 10.128.0."...)
		dst = strconv.AppendInt(dst, int64(r.IntN(256)), 10)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(30000+r.IntN(30000)), 10)
		return append(dst, ": EOF"...)
	}
	return appendWords(dst, r, sentenceLen(r))
}

func (g *generator) appendLogfmt(dst []byte, ts time.Time) []byte {
	r := g.rng
	dst = append(dst, `time="`...)
	dst = ts.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, `" level=`...)
	dst = append(dst, pick(r, levels)...)
	dst = append(dst, ` msg="`...)
	dst = appendWords(dst, r, sentenceLen(r))
	dst = append(dst, `" component=`...)
	dst = append(dst, g.o.Application...)
	dst = append(dst, " duration="...)
	dst = strconv.AppendInt(dst, int64(r.IntN(5000)), 10)
	return append(dst, "ms"...)
}

func (g *generator) appendPlain(dst []byte) []byte {
	r := g.rng
	switch r.IntN(6) {
	case 0:
		// A Go panic's first lines, as multiline text in one event.
		dst = append(dst, "goroutine "...)
		dst = strconv.AppendInt(dst, int64(r.IntN(5000)), 10)
		dst = append(dst, " [running]:\n\tmain.(*server).handle(0xc000"...)
		dst = appendHex(dst, r, 6)
		dst = append(dst, ")\n\t\t/src/server.go:"...)
		dst = strconv.AppendInt(dst, int64(r.IntN(900)), 10)
		return append(dst, " +0x1a4"...)
	case 1:
		dst = append(dst, "Starting "...)
		dst = append(dst, g.o.Application...)
		return append(dst, " on :8443 (TLS)"...)
	default:
		return appendWords(dst, r, sentenceLen(r))
	}
}

// appendTail writes a huge message whose JSON-escaped length is about size bytes: either a dump of JSON
// records (escaped quotes roughly add 10%) or one long line of text.
func (g *generator) appendTail(dst []byte, ts time.Time, size int) []byte {
	r := g.rng
	start := len(dst)
	if r.IntN(2) == 0 {
		dst = append(dst, `{"time":"`...)
		dst = ts.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `","level":"info","msg":"dumping state","objects":[`...)
		escaped := escapedLen(dst[start:])
		for i := 0; ; i++ {
			mark := len(dst)
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":"`...)
			dst = append(dst, pick(r, resources)...)
			dst = append(dst, '-')
			dst = appendHex(dst, r, 10)
			dst = append(dst, `","resourceVersion":"`...)
			dst = strconv.AppendInt(dst, int64(r.IntN(1e9)), 10)
			dst = append(dst, `","note":"`...)
			dst = appendWords(dst, r, 4+r.IntN(8))
			dst = append(dst, `"}`...)
			escaped += escapedLen(dst[mark:])
			if escaped+4 >= size {
				dst = dst[:mark]
				break
			}
		}
		return append(dst, "]}"...)
	}
	dst = ts.AppendFormat(dst, "2006/01/02 15:04:05 ")
	dst = append(dst, "response body: "...)
	for len(dst)-start < size-16 {
		dst = append(dst, pick(r, resources)...)
		dst = append(dst, '=')
		dst = appendHex(dst, r, 4)
		dst = append(dst, ' ')
		dst = appendWords(dst, r, 3)
		dst = append(dst, "; "...)
	}
	return dst[:start+size-16]
}

// appendFiller appends exactly n bytes of plain ASCII text that needs no escaping.
func appendFiller(dst []byte, r *rand.Rand, n int) []byte {
	start := len(dst)
	for len(dst)-start < n {
		dst = append(dst, pick(r, words[:len(words)-4])...)
		dst = append(dst, ' ')
	}
	return dst[:start+n]
}

func escapedLen(b []byte) int {
	n := len(b)
	for _, c := range b {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}
