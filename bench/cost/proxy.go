package cost

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Call identifies one kind of AWS call as the proxy saw it.
type Call struct {
	Service string // s3, sqs, dynamodb, sts, logs
	Op      string // e.g. GetObject, ReceiveMessage, UpdateItem
	// Resource narrows DynamoDB calls to a table (the table's role, see Proxy.Tables); empty otherwise.
	Resource string
}

func (c Call) String() string {
	s := c.Service + " " + c.Op
	if c.Resource != "" {
		s += " (" + c.Resource + ")"
	}
	return s
}

// Tally is what the proxy counted for one Call.
type Tally struct {
	Calls int
	// Errors counts answers with an error by error code (e.g. ResourceNotFoundException).
	Errors map[string]int
}

// Proxy is a reverse proxy in front of the AWS emulator that counts every HTTP request by service, operation
// and (for DynamoDB) table. Each request is one billed call: SDK retries are counted as what they are.
type Proxy struct {
	URL string

	target *url.URL
	srv    *http.Server
	ln     net.Listener
	// tables maps a DynamoDB table name to the role reported in Call.Resource.
	tables map[string]string

	mu     sync.Mutex
	counts map[Call]*Tally
}

// maxInspect bounds the request body the proxy reads to classify a call (JSON and query protocol bodies
// are small; S3 object bodies are never read: S3 is classified from the method, path and headers).
const maxInspect = 1 << 20

// StartProxy listens on 127.0.0.1 and forwards to target. tables names DynamoDB tables' roles.
func StartProxy(target string, tables map[string]string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), target: u, ln: ln, tables: tables, counts: map[Call]*Tally{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // the signature covers the Host the client used
		},
		ModifyResponse: p.observe,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			code := "proxy: " + err.Error()
			if errors.Is(err, context.Canceled) {
				code = "cancelled by the caller" // e.g. the long poll of a process stopping
			}
			p.add(callOf(r), code)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: p.classify(rp)}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

type callKey struct{}

// classify works out the call before forwarding (it may need the request body) and stores it in the request
// context for observe.
func (p *Proxy) classify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := p.identify(r)
		r = r.WithContext(withCall(r.Context(), c))
		next.ServeHTTP(w, r)
	})
}

// identify classifies r. JSON-protocol services (DynamoDB, SQS, CloudWatch Logs) name the operation in
// X-Amz-Target; STS (query protocol) in the form's Action; anything else is S3, whose operation follows from
// the method, the path and a few headers and query parameters.
func (p *Proxy) identify(r *http.Request) Call {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		c := Call{Op: op}
		switch {
		case strings.HasPrefix(prefix, "DynamoDB"):
			c.Service = "dynamodb"
			var body struct{ TableName string }
			c.Resource = "unreadable body"
			if b := p.peek(r); b != nil && json.Unmarshal(b, &body) == nil {
				c.Resource = p.tables[body.TableName]
				if c.Resource == "" {
					c.Resource = "table " + body.TableName
				}
			}
		case strings.HasPrefix(prefix, "AmazonSQS"):
			c.Service = "sqs"
		case strings.HasPrefix(prefix, "Logs"):
			c.Service = "logs"
		default:
			c.Service = strings.ToLower(prefix)
		}
		return c
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if b := p.peek(r); b != nil {
			if v, err := url.ParseQuery(string(b)); err == nil && v.Get("Action") != "" {
				return Call{Service: serviceOfQuery(r), Op: v.Get("Action")}
			}
		}
	}
	return Call{Service: "s3", Op: s3Op(r)}
}

// serviceOfQuery names a query-protocol service from the credential scope of the request's signature.
func serviceOfQuery(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if _, scope, ok := strings.Cut(auth, "Credential="); ok {
		parts := strings.Split(strings.SplitN(scope, ",", 2)[0], "/")
		if len(parts) >= 4 {
			return parts[3]
		}
	}
	return "query"
}

// peek reads the request body (up to maxInspect) and puts it back.
func (p *Proxy) peek(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxInspect))
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), rest), rest}
	if err != nil {
		return nil
	}
	return b
}

// s3Op names an S3 REST call (path-style addressing: /bucket/key).
func s3Op(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	_, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		switch {
		case key != "":
			return "GetObject"
		case q.Has("list-type"):
			return "ListObjectsV2"
		case q.Has("versions"):
			return "ListObjectVersions"
		case path == "":
			return "ListBuckets"
		}
		return "GetBucket?"
	case http.MethodHead:
		if key != "" {
			return "HeadObject"
		}
		return "HeadBucket"
	case http.MethodPut:
		switch {
		case key != "" && r.Header.Get("X-Amz-Copy-Source") != "":
			return "CopyObject"
		case key != "":
			return "PutObject"
		}
		return "PutBucket?"
	case http.MethodDelete:
		if key != "" {
			return "DeleteObject"
		}
		return "DeleteBucket"
	case http.MethodPost:
		if q.Has("delete") {
			return "DeleteObjects"
		}
	}
	return r.Method + "?"
}

// observe counts the call once its answer is in, with the error code of a failed answer.
func (p *Proxy) observe(resp *http.Response) error {
	c := callFrom(resp.Request.Context())
	code := ""
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		code = errorCode(resp)
	}
	p.add(c, code)
	return nil
}

// errorCode extracts the AWS error code of a failed answer: the X-Amzn-ErrorType header (JSON protocols),
// the body's __type, or the XML <Code> (S3, STS); the HTTP status when none says.
func errorCode(resp *http.Response) string {
	if t := resp.Header.Get("X-Amzn-ErrorType"); t != "" {
		return trimCode(t)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxInspect))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err == nil {
		var j struct {
			Type string `json:"__type"`
		}
		if json.Unmarshal(b, &j) == nil && j.Type != "" {
			return trimCode(j.Type)
		}
		dec := xml.NewDecoder(bytes.NewReader(b))
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Code" {
				var s string
				if dec.DecodeElement(&s, &se) == nil && s != "" {
					return s
				}
			}
		}
	}
	return http.StatusText(resp.StatusCode)
}

// trimCode turns "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException:http://..." into
// "ConditionalCheckFailedException".
func trimCode(s string) string {
	s, _, _ = strings.Cut(s, ":")
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func (p *Proxy) add(c Call, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.counts[c]
	if t == nil {
		t = &Tally{Errors: map[string]int{}}
		p.counts[c] = t
	}
	t.Calls++
	if code != "" {
		t.Errors[code]++
	}
}

// Counts returns a copy of what was counted so far.
func (p *Proxy) Counts() map[Call]Tally {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Call]Tally, len(p.counts))
	for c, t := range p.counts {
		errs := make(map[string]int, len(t.Errors))
		for k, v := range t.Errors {
			errs[k] = v
		}
		out[c] = Tally{Calls: t.Calls, Errors: errs}
	}
	return out
}

// Reset forgets every count (the run's setup is not measured).
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[Call]*Tally{}
}

// SortedCalls lists counts' calls in a stable order.
func SortedCalls(counts map[Call]Tally) []Call {
	out := make([]Call, 0, len(counts))
	for c := range counts {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func callOf(r *http.Request) Call { return callFrom(r.Context()) }

func withCall(ctx context.Context, c Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callFrom(ctx context.Context) Call {
	c, _ := ctx.Value(callKey{}).(Call)
	return c
}
