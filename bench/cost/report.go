package cost

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
)

// Result is one cost run: what was sent, what each operation cost, and how that compares with the least
// possible.
type Result struct {
	Label   string   `json:"label"`
	Env     []string `json:"env,omitempty"`
	Pollers int      `json:"pollers"`
	Objects int      `json:"objects"`
	Tenants int      `json:"tenants"`
	Streams int      `json:"streams"`
	Groups  int      `json:"groups"`
	// Round is the run's round (1: every stream and group is new); NewStreams and NewGroups are how many of
	// them the round's objects were the first to use.
	Round             int              `json:"round"`
	NewStreams        int              `json:"new_streams"`
	NewGroups         int              `json:"new_groups"`
	Events            int64            `json:"events"`
	UncompressedBytes int64            `json:"uncompressed_bytes"`
	CompressedBytes   int64            `json:"compressed_bytes"`
	Seconds           float64          `json:"seconds"`
	Counts            map[string]Tally `json:"counts"`
	Rows              []Row            `json:"rows"`
	// DollarsPerMillionObjects and DollarsPerTB are the AWS request charges of this run's calls at Prices,
	// and the same for the upstream processor's documented behaviour on the same objects.
	DollarsPerMillionObjects, UpstreamPerMillionObjects float64
	DollarsPerTB, UpstreamPerTB                         float64
}

// Row is one operation of the report.
type Row struct {
	Operation string  `json:"operation"`
	Calls     int     `json:"calls"`
	Minimum   float64 `json:"minimum"` // least calls any processor needs for this run's objects
	Why       string  `json:"why"`
	// Target: "≤ 1.05× minimum", "0", or "" (reported, not judged).
	Target string `json:"target,omitempty"`
	Status string `json:"status,omitempty"` // MET, MISSED
	Errors string `json:"errors,omitempty"`
	// PerCall is the US$ charge of one call (Prices); Upstream the upstream processor's calls per object.
	PerCall  float64 `json:"usd_per_call"`
	Upstream float64 `json:"upstream_per_object"`
}

// Prices are the on-demand list prices (US$, us-east-1, standard classes) the report uses. STS and the
// CloudWatch Logs control calls carry no request charge; PutLogEvents is billed by ingested GB, which is the
// tenant's bill and the same whichever processor sends the events, so it is left out of the comparison.
var Prices = struct {
	Date                                       string
	SQSRequest, S3Get, S3Put, DynamoWrite      float64
	DynamoStrongRead, DynamoEventualRead, Free float64
}{
	Date:               "list prices as published since DynamoDB's on-demand reduction of 2024-11-01 (not re-checked on the day of the run: the bench machine is offline)",
	SQSRequest:         0.40 / 1e6,    // standard queue, per request (64 KB chunk)
	S3Get:              0.0004 / 1000, // GET, HEAD (S3 Standard)
	S3Put:              0.005 / 1000,  // PUT, COPY, POST, LIST (S3 Standard)
	DynamoWrite:        0.625 / 1e6,   // per write request unit (≤ 1 KB item)
	DynamoStrongRead:   0.125 / 1e6,   // per read request unit (strongly consistent, ≤ 4 KB)
	DynamoEventualRead: 0.0625 / 1e6,  // half a read request unit (eventually consistent, ≤ 4 KB)
}

// tolerance is how far above its minimum an operation may be and still meet the target.
const tolerance = 1.05

type rowSpec struct {
	name   string
	match  func(c Call) bool
	min    func(r *Result) float64
	why    string
	judged bool
	price  float64
	// upstream: calls per object of the design's upstream processor on these objects.
	upstream func(r *Result) float64
}

func op(service, name string) func(Call) bool {
	return func(c Call) bool { return c.Service == service && c.Op == name }
}

func table(role string, ops ...string) func(Call) bool {
	return func(c Call) bool { return c.Service == "dynamodb" && c.Resource == role && slices.Contains(ops, c.Op) }
}

func batches(r *Result) float64 { return math.Ceil(float64(r.Objects) / 10) }

// pollers is the run's number of poll processes (at least 1).
func (r *Result) pollers() float64 { return float64(max(r.Pollers, 1)) }
func perObject(n float64) func(*Result) float64 {
	return func(r *Result) float64 { return n * float64(r.Objects) }
}
func zero(*Result) float64 { return 0 }

// specs lists the operations the report judges, each with its minimum for the run. Every tenant has one
// CloudWatch and one S3 destination, every object is small enough for one PutLogEvents request, and the run
// is shorter than the tenant cache's TTL and the credentials' lifetime.
var specs = []rowSpec{
	{name: "SQS ReceiveMessage", match: op("sqs", "ReceiveMessage"), min: func(r *Result) float64 { return batches(r) + r.pollers() },
		judged: true, price: Prices.SQSRequest,
		why:      "10 messages per receive, plus the receive each process has waiting when the queue runs dry",
		upstream: func(r *Result) float64 { return (batches(r) + 1) / float64(r.Objects) }},
	{name: "SQS DeleteMessageBatch", match: op("sqs", "DeleteMessageBatch"), min: func(r *Result) float64 { return batches(r) },
		judged: true, price: Prices.SQSRequest,
		why:      "10 deletes per batch",
		upstream: func(r *Result) float64 { return batches(r) / float64(r.Objects) }},
	{name: "SQS DeleteMessage", match: op("sqs", "DeleteMessage"), min: zero, judged: true, price: Prices.SQSRequest,
		why: "deletes go in batches"},
	{name: "SQS ChangeMessageVisibility", match: func(c Call) bool {
		return c.Service == "sqs" && (c.Op == "ChangeMessageVisibility" || c.Op == "ChangeMessageVisibilityBatch")
	}, min: zero, judged: true, price: Prices.SQSRequest,
		why: "no object outlives a third of the visibility timeout, and no tenant crowds the poller (hand-backs: ChangeMessageVisibilityBatch)"},
	{name: "S3 GetObject", match: op("s3", "GetObject"), min: perObject(1), judged: true, price: Prices.S3Get,
		why: "one read per object, whatever the CloudWatch destinations", upstream: func(*Result) float64 { return 1 }},
	{name: "S3 CopyObject", match: op("s3", "CopyObject"), min: perObject(1), judged: true, price: Prices.S3Put,
		why: "one copy per (object, S3 destination)", upstream: func(*Result) float64 { return 1 }},
	{name: "S3 HeadObject", match: op("s3", "HeadObject"), min: zero, judged: true, price: Prices.S3Get,
		why: "the notification carries the ETag and size (HEAD only for events without them: manual runs)"},
	{name: "DynamoDB tenant table Query", match: table("tenant table", "Query", "GetItem"), min: func(r *Result) float64 {
		return r.pollers() * float64(r.Tenants) * math.Max(1, math.Ceil(r.Seconds/60))
	},
		judged: true, price: Prices.DynamoEventualRead, why: "once per tenant per cache TTL (60 s) of the run, in each process",
		upstream: func(*Result) float64 { return 1 }},
	{name: "DynamoDB progress UpdateItem", match: table("progress table", "UpdateItem", "PutItem"), min: perObject(2), judged: true, price: Prices.DynamoWrite,
		why: "one conditional write takes the object's lease and returns its state, one final write (see BENCHMARKS.md)"},
	{name: "DynamoDB progress GetItem", match: table("progress table", "GetItem", "Query", "BatchGetItem"), min: zero, judged: true, price: Prices.DynamoStrongRead,
		why: "the lease write returns the state: no read"},
	{name: "DynamoDB status table", match: func(c Call) bool { return c.Service == "dynamodb" && c.Resource == "status table" }, min: zero, price: Prices.DynamoWrite,
		why: "per tenant × type per flush (30 s) and at shutdown, not per object"},
	{name: "STS AssumeRole", match: op("sts", "AssumeRole"), min: func(r *Result) float64 { return r.pollers() * float64(1+r.Tenants) }, judged: true,
		why:      "central role once, each customer role once per credential lifetime, in each process",
		upstream: func(*Result) float64 { return 3 }},
	{name: "STS GetCallerIdentity", match: op("sts", "GetCallerIdentity"), min: func(r *Result) float64 { return r.pollers() }, judged: true,
		why: "at most once per process", upstream: func(*Result) float64 { return 1 }},
	{name: "CloudWatch PutLogEvents", match: op("logs", "PutLogEvents"), min: perObject(1), judged: true,
		why: "one request per (object, stream): every object fits in one", upstream: func(*Result) float64 { return 1 }},
	{name: "CloudWatch CreateLogStream", match: op("logs", "CreateLogStream"), min: func(r *Result) float64 { return float64(r.NewStreams) }, judged: true,
		why: "once per new stream (streams are pods)", upstream: func(r *Result) float64 { return float64(r.NewStreams) / float64(r.Objects) }},
	{name: "CloudWatch CreateLogGroup", match: op("logs", "CreateLogGroup"), min: func(r *Result) float64 { return float64(r.NewGroups) }, judged: true,
		why: "once per new group", upstream: func(r *Result) float64 { return float64(r.NewGroups) / float64(r.Objects) }},
	{name: "CloudWatch Describe*", match: func(c Call) bool { return c.Service == "logs" && strings.HasPrefix(c.Op, "Describe") }, min: zero, judged: true,
		why: "existence is learnt from creates and puts", upstream: func(*Result) float64 { return 2 }},
}

// Evaluate fills Rows and the dollar figures from Counts.
func (r *Result) Evaluate() {
	seen := map[string]bool{}
	calls := map[string]Call{}
	for name := range r.Counts {
		calls[name] = parseCall(name)
	}
	names := make([]string, 0, len(calls))
	for n := range calls {
		names = append(names, n)
	}
	sort.Strings(names)
	var ours, upstream float64
	for _, s := range specs {
		row := Row{Operation: s.name, Minimum: s.min(r), Why: s.why, PerCall: s.price}
		byCode := map[string]int{}
		for _, n := range names {
			if !s.match(calls[n]) {
				continue
			}
			seen[n] = true
			t := r.Counts[n]
			row.Calls += t.Calls
			for code, k := range t.Errors {
				byCode[code] += k
			}
		}
		var errs []string
		for code, k := range byCode {
			errs = append(errs, fmt.Sprintf("%d %s", k, code))
		}
		sort.Strings(errs)
		row.Errors = strings.Join(errs, ", ")
		if s.judged {
			row.Target, row.Status = judge(row.Calls, row.Minimum)
		}
		if s.upstream != nil {
			row.Upstream = s.upstream(r)
		}
		ours += float64(row.Calls) * s.price
		upstream += row.Upstream * float64(r.Objects) * s.price
		r.Rows = append(r.Rows, row)
	}
	// Anything else the processor called is reported, and judged against a minimum of zero.
	for _, n := range names {
		if seen[n] {
			continue
		}
		row := Row{Operation: n, Calls: r.Counts[n].Calls, Why: "not expected"}
		row.Target, row.Status = judge(row.Calls, 0)
		r.Rows = append(r.Rows, row)
	}
	if r.Objects > 0 {
		r.DollarsPerMillionObjects = ours / float64(r.Objects) * 1e6
		r.UpstreamPerMillionObjects = upstream / float64(r.Objects) * 1e6
	}
	if r.UncompressedBytes > 0 {
		r.DollarsPerTB = ours / float64(r.UncompressedBytes) * 1e12
		r.UpstreamPerTB = upstream / float64(r.UncompressedBytes) * 1e12
	}
}

func judge(calls int, minimum float64) (target, status string) {
	if minimum == 0 {
		return "0", metOrMissed(calls == 0)
	}
	return fmt.Sprintf("≤ %.2f× minimum", tolerance), metOrMissed(float64(calls) <= tolerance*minimum+1e-9)
}

func metOrMissed(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}

// parseCall reverses Call.String.
func parseCall(s string) Call {
	var c Call
	if i := strings.Index(s, " ("); i >= 0 && strings.HasSuffix(s, ")") {
		c.Resource = s[i+2 : len(s)-1]
		s = s[:i]
	}
	c.Service, c.Op, _ = strings.Cut(s, " ")
	return c
}

// Missed lists the judged operations that missed their target.
func (r *Result) Missed() []string {
	var out []string
	for _, row := range r.Rows {
		if row.Status == "MISSED" {
			out = append(out, row.Operation)
		}
	}
	return out
}

// WriteMarkdown renders the run as a Markdown section body: its shape, the per-operation table and the
// dollar comparison.
func (r *Result) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	settings := ""
	if len(r.Env) > 0 {
		settings = " (`" + strings.Join(r.Env, " ") + "`)"
	}
	round := "round 1: every stream and group new"
	if r.Round > 1 {
		round = fmt.Sprintf("round %d: new poll processes, %d of %d streams new", r.Round, r.NewStreams, r.Streams)
	}
	fmt.Fprintf(&b, "**%s**, %s%s: %d objects (%.1f KB uncompressed, %.1f KB gzip on average, %d events), %d tenants × (CloudWatch + S3), %d streams, %s, polled in %.1f s.\n\n",
		mdEscape(r.Label), round, settings, r.Objects, float64(r.UncompressedBytes)/float64(max(r.Objects, 1))/1000,
		float64(r.CompressedBytes)/float64(max(r.Objects, 1))/1000, r.Events, r.Tenants, r.Streams, pollers(r.Pollers), r.Seconds)
	b.WriteString("| operation | calls | per object | minimum per object | calls / minimum | target | status | error answers | why this minimum |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---|---|---|\n")
	for _, row := range r.Rows {
		ratio := "–"
		if row.Minimum > 0 {
			ratio = fmt.Sprintf("%.2f×", float64(row.Calls)/row.Minimum)
		}
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f | %s | %s | %s | %s | %s |\n", mdEscape(row.Operation), row.Calls,
			float64(row.Calls)/float64(max(r.Objects, 1)), row.Minimum/float64(max(r.Objects, 1)), ratio,
			orDash(row.Target), orDash(row.Status), orDash(mdEscape(row.Errors)), mdEscape(row.Why))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteDollars renders the request charges of r next to the upstream processor's, per service.
func (r *Result) WriteDollars(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| operation | US$ per call | logrouter calls / object | upstream calls / object | logrouter US$ / million objects | upstream US$ / million objects |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		if row.PerCall == 0 && row.Upstream == 0 && row.Calls == 0 {
			continue
		}
		per := float64(row.Calls) / float64(max(r.Objects, 1))
		fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %.3f | %.3f |\n", mdEscape(row.Operation), priceCell(row.PerCall), per, row.Upstream,
			per*row.PerCall*1e6, row.Upstream*row.PerCall*1e6)
	}
	fmt.Fprintf(&b, "| **total** | | | | **%.2f** | **%.2f** |\n\n", r.DollarsPerMillionObjects, r.UpstreamPerMillionObjects)
	fmt.Fprintf(&b, "Per TB of uncompressed Vector output in objects of this run's size (%.1f KB): logrouter US$ %.0f, upstream US$ %.0f.\n",
		float64(r.UncompressedBytes)/float64(max(r.Objects, 1))/1000, r.DollarsPerTB, r.UpstreamPerTB)
	_, err := io.WriteString(w, b.String())
	return err
}

func pollers(n int) string {
	if n == 1 {
		return "one poll process"
	}
	return fmt.Sprintf("%d poll processes sharing the queue", n)
}

func priceCell(p float64) string {
	if p == 0 {
		return "0"
	}
	return fmt.Sprintf("%.2f / million", p*1e6)
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
