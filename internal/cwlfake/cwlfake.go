// Package cwlfake is a strict, in-memory CloudWatch Logs endpoint for tests and benchmarks. It speaks the
// JSON 1.1 protocol the AWS SDK uses (POST /, X-Amz-Target: Logs_20140328.<Operation>) and enforces the
// PutLogEvents rules the way CloudWatch documents them:
//
//   - 1 to 10,000 events per request; every message non-empty and at most MaxEventBytes (message UTF-8
//     bytes + 26);
//   - Σ(UTF-8 bytes of each message + 26) ≤ 1,048,576;
//   - events in chronological order;
//   - the valid events (not too old, new or expired) span at most 24 hours;
//
// violations fail the whole request with InvalidParameterException. Events more than 2 hours in the future,
// older than 14 days, or older than the log group's retention are rejected individually and reported in
// rejectedLogEventsInfo while the rest are stored. Missing groups or streams give ResourceNotFoundException;
// creating an existing one gives ResourceAlreadyExistsException.
//
// The request body must be valid UTF-8 and every message a strictly valid JSON string (no raw control
// characters, no unpaired surrogate escapes): the fake is stricter than necessary so that it catches encoders
// that emit anything questionable.
//
// Faults can be injected per operation: throttling, 5xx responses, latency and dropped connections; and
// denials per operation and log group (Deny) or KMS key (DenyKMSKey).
package cwlfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// CloudWatch Logs limits enforced by the fake.
const (
	MaxBatchBytes  = 1_048_576
	MaxBatchEvents = 10_000
	EventOverhead  = 26
	MaxSpan        = 24 * time.Hour
	MaxAge         = 14 * 24 * time.Hour
	MaxFuture      = 2 * time.Hour
	// getPageBytes bounds one GetLogEvents page (CloudWatch: 1 MB). Kept small because of a race in the SDK
	// client (smithy-go v1.28): it closes the request body as soon as the response headers arrive, while
	// net/http's write loop may still make its final read of that body; the failed read makes the transport
	// close the connection under the caller, whose read of a response body not yet buffered fails with
	// "use of closed network connection". Small responses arrive with their headers and are not affected.
	getPageBytes = 64 << 10
	// MaxBodyBytes bounds what the fake reads of one request body.
	MaxBodyBytes = 16 << 20
	targetPrefix = "Logs_20140328."
)

// Fault is an injectable failure.
type Fault int

const (
	// FaultThrottle answers 400 ThrottlingException without processing the request.
	FaultThrottle Fault = iota + 1
	// FaultServerError answers 500 ServiceUnavailableException without processing the request.
	FaultServerError
	// FaultDrop closes the connection mid-request, before processing it (nothing stored).
	FaultDrop
	// FaultDropAfterStore processes the request (events stored) and then closes the connection without a
	// response, as when a response is lost in the network.
	FaultDropAfterStore
)

func (f Fault) String() string {
	switch f {
	case FaultThrottle:
		return "throttle"
	case FaultServerError:
		return "server_error"
	case FaultDrop:
		return "drop"
	case FaultDropAfterStore:
		return "drop_after_store"
	}
	return "none"
}

// Options configure a Fake.
type Options struct {
	// Now is the service clock (too old / too new / expired decisions, ingestion times). Default time.Now.
	Now func() time.Time
	// MaxEventBytes is the largest accepted event (message UTF-8 bytes + 26). Default 1,048,576.
	MaxEventBytes int
	// Latency delays every request before it is processed.
	Latency time.Duration
	// Seed seeds the random fault generator (SetFaultRate). Default 1.
	Seed uint64
	// Discard makes PutLogEvents read the body and answer success without decoding, validating or storing
	// anything (Requests still counts). For client benchmarks only: it keeps the endpoint's CPU cost out of
	// the measurement.
	Discard bool
}

// Event is one stored log event.
type Event struct {
	Timestamp     int64
	Message       string
	IngestionTime int64
	// Seq is the global arrival order of the event in the fake (unique, increasing).
	Seq int64
}

// PutRecord describes one accepted PutLogEvents request.
type PutRecord struct {
	Group, Stream string
	Events        int   // events in the request
	Bytes         int   // Σ(UTF-8 message bytes + 26)
	Rejected      int   // events rejected via rejectedLogEventsInfo
	MinTimestamp  int64 // over all events of the request
	MaxTimestamp  int64
}

// Group is a snapshot of a log group's settings.
type Group struct {
	Name          string
	RetentionDays int32
	KMSKeyID      string
	Tags          map[string]string
	Streams       []string
}

type group struct {
	retention int32
	kms       string
	tags      map[string]string
	streams   map[string]*stream
}

type stream struct {
	events []Event
	sorted bool
}

type rate struct {
	fault Fault
	p     float64
}

// Fake is the endpoint; it is an http.Handler and safe for concurrent use.
type Fake struct {
	opts Options

	mu       sync.Mutex
	groups   map[string]*group
	queued   map[string][]Fault // by operation; "" matches any operation
	rates    map[string][]rate
	rng      *rand.Rand
	latency  time.Duration
	requests map[string]int64 // by operation, every request including failed ones
	faults   map[Fault]int64
	events   int64 // stored events
	seq      int64
	puts     []PutRecord
	denied   map[[2]string]string // {operation, log group} -> error code
	badKMS   map[string]bool      // KMS keys CreateLogGroup refuses
	active   int                  // requests being handled
	hold     *hold
	connGen  int64 // generation given to connections opened from now on (ConnContext)
	putGen   int64 // PutLogEvents on connections of an older generation are refused (ReleasePutsToNewConnections)
}

// connGenKey is the request-context key of a connection's generation.
type connGenKey struct{}

// hold is the PutLogEvents gate of HoldPutsAfter.
type hold struct {
	slots   int           // requests that may still store events: n minus those let through and not failed
	held    int           // requests waiting at the gate
	freed   chan struct{} // closed (and replaced) when a request let through stored nothing
	release chan struct{} // closed by ReleasePuts
}

// New returns an empty Fake.
func New(optFns ...func(*Options)) *Fake {
	o := Options{Now: time.Now, MaxEventBytes: MaxBatchBytes, Seed: 1}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = MaxBatchBytes
	}
	return &Fake{
		opts:     o,
		groups:   map[string]*group{},
		queued:   map[string][]Fault{},
		rates:    map[string][]rate{},
		rng:      rand.New(rand.NewPCG(o.Seed, 0x5eed)),
		latency:  o.Latency,
		requests: map[string]int64{},
		faults:   map[Fault]int64{},
		denied:   map[[2]string]string{},
		badKMS:   map[string]bool{},
	}
}

// Deny makes every request of op ("PutLogEvents", "CreateLogGroup", ...) on log group group fail with
// code (400, e.g. "AccessDeniedException"), as when the calling role's policy does not allow it, until
// Allow. The fake does not know roles: deny per group stands for the role that writes to it.
func (f *Fake) Deny(op, group, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied[[2]string{op, group}] = code
}

// Allow undoes Deny.
func (f *Fake) Allow(op, group string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.denied, [2]string{op, group})
}

// DenyKMSKey makes CreateLogGroup with kmsKeyId key fail with InvalidParameterException, as CloudWatch
// answers when the key does not exist, is disabled or its policy does not admit the logs service.
func (f *Fake) DenyKMSKey(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.badKMS[key] = true
}

// refused returns the injected denial of one request, if any.
func (f *Fake) refused(op string, body []byte) *apiError {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.denied) == 0 && len(f.badKMS) == 0 {
		return nil
	}
	var in struct {
		LogGroupName string `json:"logGroupName"`
		KmsKeyID     string `json:"kmsKeyId"`
	}
	_ = json.Unmarshal(body, &in)
	if code, ok := f.denied[[2]string{op, in.LogGroupName}]; ok {
		return &apiError{http.StatusBadRequest, code, "injected: not authorized to perform logs:" + op + " on log group " + in.LogGroupName}
	}
	if op == "CreateLogGroup" && in.KmsKeyID != "" && f.badKMS[in.KmsKeyID] {
		return &apiError{http.StatusBadRequest, "InvalidParameterException", "injected: the specified KMS key does not exist or is not allowed to be used"}
	}
	return nil
}

// InjectFaults queues faults for the next requests of operation op (e.g. "PutLogEvents"; "" = any
// operation): the next request gets faults[0], the one after faults[1], and so on. A zero Fault passes a
// request through unharmed.
func (f *Fake) InjectFaults(op string, faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queued[op] = append(f.queued[op], faults...)
}

// SetFaultRate makes each request of op (""= any) fail with fault with probability p (0 removes every rate
// for op). Draws are deterministic for a given Options.Seed and request order.
func (f *Fake) SetFaultRate(op string, fault Fault, p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p <= 0 {
		delete(f.rates, op)
		return
	}
	f.rates[op] = append(f.rates[op], rate{fault, p})
}

// HoldPutsAfter lets the next n PutLogEvents requests that store events through and makes every later one
// wait, unprocessed, until ReleasePuts — or until its client goes away, in which case nothing of it is
// stored. A request let through that fails (a missing stream, an invalid batch, a fault) gives its place to
// a waiting one. Tests use it to stop a delivery at an exact point (after n stored requests) whatever the
// machine's speed.
func (f *Fake) HoldPutsAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hold != nil {
		close(f.hold.release)
	}
	f.hold = &hold{slots: n, freed: make(chan struct{}), release: make(chan struct{})}
}

// ReleasePuts lets the held PutLogEvents requests, and every later one, through.
func (f *Fake) ReleasePuts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hold != nil {
		close(f.hold.release)
		f.hold = nil
	}
}

// ReleasePutsToNewConnections is ReleasePuts for requests on connections opened from now on: a PutLogEvents
// request on an earlier connection — held at the gate, or reaching the fake only later — is refused with
// nothing stored (a 503 ServiceUnavailableException, and the connection is closed, so a client still alive
// retries on a new one). Crash tests use it so that a request of the process they stopped, still on its way
// when the test goes on, can never be stored after the cut, whatever the machine's speed. Connections are
// told apart only by a server that installs ConnContext (NewServer does).
func (f *Fake) ReleasePutsToNewConnections() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connGen++
	f.putGen = f.connGen
	if f.hold != nil {
		close(f.hold.release)
		f.hold = nil
	}
}

// ConnContext tags a new connection with the current connection generation (http.Server.ConnContext).
func (f *Fake) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	return context.WithValue(ctx, connGenKey{}, f.connGen)
}

// staleConn reports whether r came on a connection opened before the last ReleasePutsToNewConnections.
func (f *Fake) staleConn(r *http.Request) bool {
	gen, ok := r.Context().Value(connGenKey{}).(int64)
	if !ok {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return gen < f.putGen
}

// HeldPuts returns how many PutLogEvents requests are waiting at the gate of HoldPutsAfter.
func (f *Fake) HeldPuts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hold == nil {
		return 0
	}
	return f.hold.held
}

// Active returns how many requests the fake is handling (received, not yet answered), held ones included.
// Once a client has gone, Active reaching 0 means nothing more of its requests will be stored.
func (f *Fake) Active() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}

// gate makes a PutLogEvents request wait at the hold, if any. ok is false when its client went away
// meanwhile; done, when not nil, must be called with whether the request stored events.
func (f *Fake) gate(r *http.Request) (done func(stored bool), ok bool) {
	read := false
	for {
		f.mu.Lock()
		h := f.hold
		if h == nil {
			f.mu.Unlock()
			return nil, true
		}
		if h.slots > 0 {
			h.slots--
			f.mu.Unlock()
			return func(stored bool) {
				if stored {
					return
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				h.slots++
				close(h.freed)
				h.freed = make(chan struct{})
			}, true
		}
		h.held++
		freed := h.freed
		f.mu.Unlock()
		if !read {
			// Read the body first: net/http notices a client going away only once the body has been read.
			body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
			r.Body = io.NopCloser(bytes.NewReader(body))
			read = true
			if err != nil {
				f.unhold(h)
				return nil, false
			}
		}
		select {
		case <-h.release:
			f.unhold(h)
			return nil, true
		case <-freed:
			f.unhold(h)
		case <-r.Context().Done():
			f.unhold(h)
			return nil, false
		}
	}
}

func (f *Fake) unhold(h *hold) {
	f.mu.Lock()
	h.held--
	f.mu.Unlock()
}

// SetLatency changes the delay applied to every request.
func (f *Fake) SetLatency(d time.Duration) {
	f.mu.Lock()
	f.latency = d
	f.mu.Unlock()
}

// Requests returns how many requests of operation op were received ("" = all operations), including failed
// and faulted ones.
func (f *Fake) Requests(op string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op != "" {
		return f.requests[op]
	}
	var n int64
	for _, v := range f.requests {
		n += v
	}
	return n
}

// FaultsServed returns how many times fault was applied.
func (f *Fake) FaultsServed(fault Fault) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.faults[fault]
}

// EventCount returns the number of stored events over all streams.
func (f *Fake) EventCount() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.events
}

// Puts returns the accepted PutLogEvents requests in arrival order.
func (f *Fake) Puts() []PutRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.puts)
}

// Events returns a stream's events in the order GetLogEvents returns them: by timestamp, then arrival.
// It returns nil when the stream does not exist.
func (f *Fake) Events(groupName, streamName string) []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stream(groupName, streamName)
	if s == nil {
		return nil
	}
	s.sort()
	return slices.Clone(s.events)
}

// Group returns a snapshot of a log group, false when it does not exist.
func (f *Fake) Group(name string) (Group, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[name]
	if g == nil {
		return Group{}, false
	}
	out := Group{Name: name, RetentionDays: g.retention, KMSKeyID: g.kms, Tags: map[string]string{}}
	for k, v := range g.tags {
		out.Tags[k] = v
	}
	for s := range g.streams {
		out.Streams = append(out.Streams, s)
	}
	slices.Sort(out.Streams)
	return out, true
}

// CreateLogStream creates a group (when missing) and a stream (when missing) directly, for test setup.
func (f *Fake) CreateLogStream(groupName, streamName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[groupName]
	if g == nil {
		g = &group{streams: map[string]*stream{}}
		f.groups[groupName] = g
	}
	if g.streams[streamName] == nil {
		g.streams[streamName] = &stream{sorted: true}
	}
}

// SetRetention sets a group's retention directly (the group must exist), for test setup.
func (f *Fake) SetRetention(groupName string, days int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.groups[groupName]; g != nil {
		g.retention = days
	}
}

func (f *Fake) stream(groupName, streamName string) *stream {
	g := f.groups[groupName]
	if g == nil {
		return nil
	}
	return g.streams[streamName]
}

func (s *stream) sort() {
	if s.sorted {
		return
	}
	slices.SortStableFunc(s.events, func(a, b Event) int {
		if a.Timestamp != b.Timestamp {
			if a.Timestamp < b.Timestamp {
				return -1
			}
			return 1
		}
		if a.Seq < b.Seq {
			return -1
		}
		if a.Seq > b.Seq {
			return 1
		}
		return 0
	})
	s.sorted = true
}

// apiError is a modelled error response.
type apiError struct {
	status  int
	code    string
	message string
}

func errInvalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf(format, args...)}
}

func errNotFound(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException", msg}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	// Not reusing a connection after an error narrows an SDK client race (see getPageBytes).
	w.Header().Set("Connection", "close")
	w.WriteHeader(e.status)
	body, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{http.StatusInternalServerError, "InternalFailure", "encode response"})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// nextFault picks the fault for one request of op. Called with f.mu held.
func (f *Fake) nextFault(op string) Fault {
	for _, key := range []string{op, ""} {
		if q := f.queued[key]; len(q) > 0 {
			f.queued[key] = q[1:]
			return q[0]
		}
	}
	for _, key := range []string{op, ""} {
		for _, r := range f.rates[key] {
			if f.rng.Float64() < r.p {
				return r.fault
			}
		}
	}
	return 0
}

func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http closes the connection without a response
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// ServeHTTP implements the JSON 1.1 protocol.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if r.Method != http.MethodPost || !ok {
		writeError(w, &apiError{http.StatusBadRequest, "UnknownOperationException", "missing or unknown X-Amz-Target"})
		return
	}
	f.mu.Lock()
	f.active++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	var stored func(bool)
	if op == "PutLogEvents" {
		var ok bool
		if stored, ok = f.gate(r); !ok {
			return
		}
	}
	didStore := false // an accepted PutLogEvents (events stored, or all rejected individually)
	if stored != nil {
		defer func() { stored(didStore) }()
	}
	if op == "PutLogEvents" && f.staleConn(r) {
		w.Header().Set("Connection", "close")
		writeError(w, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "connection opened before the cut (ReleasePutsToNewConnections)"})
		return
	}
	f.mu.Lock()
	f.requests[op]++
	fault := f.nextFault(op)
	if fault != 0 {
		f.faults[fault]++
	}
	latency := f.latency
	f.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch fault {
	case FaultThrottle:
		writeError(w, &apiError{http.StatusBadRequest, "ThrottlingException", "Rate exceeded"})
		return
	case FaultServerError:
		writeError(w, &apiError{http.StatusInternalServerError, "ServiceUnavailableException", "The service is unavailable"})
		return
	case FaultDrop:
		// Read part of the body so the client is mid-request, then cut the connection.
		_, _ = io.CopyN(io.Discard, r.Body, 512)
		dropConnection(w)
		return
	}

	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException", "unexpected Content-Type " + strconv.Quote(ct)})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, &apiError{http.StatusBadRequest, "MissingAuthenticationTokenException", "request is not signed"})
		return
	}
	if f.opts.Discard && op == "PutLogEvents" {
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			writeJSON(w, struct{}{})
		}
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return // the client went away
	}
	if len(body) > MaxBodyBytes {
		writeError(w, &apiError{http.StatusRequestEntityTooLarge, "SerializationException", "request body too large"})
		return
	}
	if !utf8.Valid(body) {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException", "request body is not valid UTF-8"})
		return
	}

	var resp any
	aerr := f.refused(op, body)
	if aerr == nil {
		resp, aerr = f.dispatch(op, body)
	}
	didStore = op == "PutLogEvents" && aerr == nil
	if fault == FaultDropAfterStore {
		dropConnection(w)
		return
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, resp)
}

func (f *Fake) dispatch(op string, body []byte) (resp any, aerr *apiError) {
	switch op {
	case "PutLogEvents":
		resp, aerr = f.putLogEvents(body)
	case "CreateLogGroup":
		resp, aerr = f.createLogGroup(body)
	case "CreateLogStream":
		resp, aerr = f.createLogStream(body)
	case "PutRetentionPolicy":
		resp, aerr = f.putRetentionPolicy(body)
	case "GetLogEvents":
		resp, aerr = f.getLogEvents(body)
	case "DescribeLogStreams":
		resp, aerr = f.describeLogStreams(body)
	default:
		aerr = &apiError{http.StatusBadRequest, "UnknownOperationException", "operation " + op + " is not supported by the fake"}
	}
	return resp, aerr
}

func decode(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, "SerializationException", "decode request: " + err.Error()}
	}
	return nil
}

func validGroupName(s string) bool {
	if len(s) < 1 || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '_', c == '/', c == '#':
		default:
			return false
		}
	}
	return true
}

func validStreamName(s string) bool {
	return len(s) >= 1 && len(s) <= 512 && !strings.ContainsAny(s, ":*")
}

var validRetention = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func (f *Fake) createLogGroup(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName  string            `json:"logGroupName"`
		KmsKeyID      string            `json:"kmsKeyId"`
		Tags          map[string]string `json:"tags"`
		LogGroupClass string            `json:"logGroupClass"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if !validGroupName(in.LogGroupName) {
		return nil, errInvalid("invalid log group name %q", in.LogGroupName)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.groups[in.LogGroupName] != nil {
		return nil, &apiError{http.StatusBadRequest, "ResourceAlreadyExistsException", "The specified log group already exists"}
	}
	f.groups[in.LogGroupName] = &group{kms: in.KmsKeyID, tags: in.Tags, streams: map[string]*stream{}}
	return struct{}{}, nil
}

func (f *Fake) createLogStream(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName  string `json:"logGroupName"`
		LogStreamName string `json:"logStreamName"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if !validGroupName(in.LogGroupName) || !validStreamName(in.LogStreamName) {
		return nil, errInvalid("invalid log group or stream name")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[in.LogGroupName]
	if g == nil {
		return nil, errNotFound("The specified log group does not exist.")
	}
	if g.streams[in.LogStreamName] != nil {
		return nil, &apiError{http.StatusBadRequest, "ResourceAlreadyExistsException", "The specified log stream already exists"}
	}
	g.streams[in.LogStreamName] = &stream{sorted: true}
	return struct{}{}, nil
}

func (f *Fake) putRetentionPolicy(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName    string `json:"logGroupName"`
		RetentionInDays int32  `json:"retentionInDays"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if !slices.Contains(validRetention, in.RetentionInDays) {
		return nil, errInvalid("invalid retentionInDays %d", in.RetentionInDays)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[in.LogGroupName]
	if g == nil {
		return nil, errNotFound("The specified log group does not exist.")
	}
	g.retention = in.RetentionInDays
	return struct{}{}, nil
}

type rejectedInfo struct {
	TooNewLogEventStartIndex *int32 `json:"tooNewLogEventStartIndex,omitempty"`
	TooOldLogEventEndIndex   *int32 `json:"tooOldLogEventEndIndex,omitempty"`
	ExpiredLogEventEndIndex  *int32 `json:"expiredLogEventEndIndex,omitempty"`
}

func (f *Fake) putLogEvents(body []byte) (any, *apiError) {
	in, err := parsePut(body)
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", "decode request: " + err.Error()}
	}
	if !in.hasGroup || !in.hasStream || !in.hasEvents {
		return nil, errInvalid("logGroupName, logStreamName and logEvents are required")
	}
	n := len(in.msgs)
	if n < 1 || n > MaxBatchEvents {
		return nil, errInvalid("logEvents must hold 1 to %d events, got %d", MaxBatchEvents, n)
	}
	msgs, ts := in.msgs, in.ts
	total := 0
	for i := range n {
		size := len(msgs[i]) + EventOverhead
		if len(msgs[i]) == 0 {
			return nil, errInvalid("logEvents[%d].message: minimum length is 1", i)
		}
		if size > f.opts.MaxEventBytes {
			return nil, errInvalid("Log event too large: %d bytes exceeds the limit of %d", size, f.opts.MaxEventBytes)
		}
		total += size
		if i > 0 && ts[i] < ts[i-1] {
			return nil, errInvalid("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if total > MaxBatchBytes {
		return nil, errInvalid("Upload too large: %d bytes exceeds the limit of %d", total, MaxBatchBytes)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[in.group]
	if g == nil {
		return nil, errNotFound("The specified log group does not exist.")
	}
	s := g.streams[in.stream]
	if s == nil {
		return nil, errNotFound("The specified log stream does not exist.")
	}
	now := f.opts.Now()
	nowMS := now.UnixMilli()
	oldest := now.Add(-MaxAge).UnixMilli()
	newest := now.Add(MaxFuture).UnixMilli()
	expiredBefore := int64(-1 << 63)
	if g.retention > 0 {
		expiredBefore = now.Add(-time.Duration(g.retention) * 24 * time.Hour).UnixMilli()
	}
	// Events are sorted, so rejected events form a prefix (too old / expired) and a suffix (too new).
	tooOldEnd, expiredEnd, tooNewStart := 0, 0, n
	for i := 0; i < n && (ts[i] < oldest || ts[i] < expiredBefore); i++ {
		if ts[i] < oldest {
			tooOldEnd = i + 1
		}
		if ts[i] < expiredBefore {
			expiredEnd = i + 1
		}
	}
	for tooNewStart > 0 && ts[tooNewStart-1] > newest {
		tooNewStart--
	}
	first := max(tooOldEnd, expiredEnd)
	if first < tooNewStart && time.Duration(ts[tooNewStart-1]-ts[first])*time.Millisecond > MaxSpan {
		return nil, errInvalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	for i := first; i < tooNewStart; i++ {
		f.seq++
		s.events = append(s.events, Event{Timestamp: ts[i], Message: msgs[i], IngestionTime: nowMS, Seq: f.seq})
		s.sorted = false
	}
	f.events += int64(tooNewStart - first)
	f.puts = append(f.puts, PutRecord{
		Group: in.group, Stream: in.stream, Events: n, Bytes: total,
		Rejected: n - (tooNewStart - first), MinTimestamp: ts[0], MaxTimestamp: ts[n-1],
	})
	out := struct {
		NextSequenceToken     string        `json:"nextSequenceToken"`
		RejectedLogEventsInfo *rejectedInfo `json:"rejectedLogEventsInfo,omitempty"`
	}{NextSequenceToken: strconv.FormatInt(f.seq, 10)}
	if first > 0 || tooNewStart < n {
		ri := &rejectedInfo{}
		if tooOldEnd > 0 {
			v := int32(tooOldEnd)
			ri.TooOldLogEventEndIndex = &v
		}
		if expiredEnd > 0 {
			v := int32(expiredEnd)
			ri.ExpiredLogEventEndIndex = &v
		}
		if tooNewStart < n {
			v := int32(tooNewStart)
			ri.TooNewLogEventStartIndex = &v
		}
		out.RejectedLogEventsInfo = ri
	}
	return out, nil
}

type outEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

func (f *Fake) getLogEvents(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName       string `json:"logGroupName"`
		LogGroupIdentifier string `json:"logGroupIdentifier"`
		LogStreamName      string `json:"logStreamName"`
		StartFromHead      bool   `json:"startFromHead"`
		Limit              int    `json:"limit"`
		NextToken          string `json:"nextToken"`
		StartTime          *int64 `json:"startTime"`
		EndTime            *int64 `json:"endTime"`
		Unmask             bool   `json:"unmask"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.LogGroupName == "" {
		in.LogGroupName = in.LogGroupIdentifier
	}
	limit := in.Limit
	if limit <= 0 || limit > MaxBatchEvents {
		limit = MaxBatchEvents
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[in.LogGroupName]
	if g == nil {
		return nil, errNotFound("The specified log group does not exist.")
	}
	s := g.streams[in.LogStreamName]
	if s == nil {
		return nil, errNotFound("The specified log stream does not exist.")
	}
	s.sort()
	var evs []Event
	for _, e := range s.events {
		if (in.StartTime == nil || e.Timestamp >= *in.StartTime) && (in.EndTime == nil || e.Timestamp < *in.EndTime) {
			evs = append(evs, e)
		}
	}
	start := 0
	switch {
	case strings.HasPrefix(in.NextToken, "f/"):
		v, err := strconv.Atoi(in.NextToken[2:])
		if err != nil || v < 0 || v > len(evs) {
			return nil, errInvalid("invalid nextToken")
		}
		start = v
	case in.NextToken != "":
		return nil, errInvalid("only forward tokens are supported by the fake")
	case !in.StartFromHead:
		start = max(0, len(evs)-limit)
	}
	out := struct {
		Events            []outEvent `json:"events"`
		NextForwardToken  string     `json:"nextForwardToken"`
		NextBackwardToken string     `json:"nextBackwardToken"`
	}{Events: []outEvent{}}
	end, size := start, 0
	for end < len(evs) && end-start < limit {
		sz := len(evs[end].Message) + EventOverhead
		if end > start && size+sz > getPageBytes {
			break
		}
		size += sz
		out.Events = append(out.Events, outEvent{evs[end].Timestamp, evs[end].Message, evs[end].IngestionTime})
		end++
	}
	out.NextForwardToken = "f/" + strconv.Itoa(end)
	out.NextBackwardToken = "b/" + strconv.Itoa(start)
	return out, nil
}

func (f *Fake) describeLogStreams(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName        string `json:"logGroupName"`
		LogGroupIdentifier  string `json:"logGroupIdentifier"`
		LogStreamNamePrefix string `json:"logStreamNamePrefix"`
		OrderBy             string `json:"orderBy"`
		Descending          bool   `json:"descending"`
		Limit               int    `json:"limit"`
		NextToken           string `json:"nextToken"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.LogGroupName == "" {
		in.LogGroupName = in.LogGroupIdentifier
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[in.LogGroupName]
	if g == nil {
		return nil, errNotFound("The specified log group does not exist.")
	}
	type outStream struct {
		LogStreamName       string `json:"logStreamName"`
		FirstEventTimestamp int64  `json:"firstEventTimestamp,omitempty"`
		LastEventTimestamp  int64  `json:"lastEventTimestamp,omitempty"`
	}
	out := struct {
		LogStreams []outStream `json:"logStreams"`
	}{LogStreams: []outStream{}}
	names := make([]string, 0, len(g.streams))
	for name := range g.streams {
		if strings.HasPrefix(name, in.LogStreamNamePrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		s := g.streams[name]
		s.sort()
		os := outStream{LogStreamName: name}
		if len(s.events) > 0 {
			os.FirstEventTimestamp = s.events[0].Timestamp
			os.LastEventTimestamp = s.events[len(s.events)-1].Timestamp
		}
		out.LogStreams = append(out.LogStreams, os)
	}
	return out, nil
}

// checkJSONString verifies that raw is one strictly valid JSON string: quoted, no raw control characters,
// only defined escapes, and \u escapes that never leave a surrogate unpaired. (The body was already checked
// to be valid UTF-8.)
func checkJSONString(raw []byte) error {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return fmt.Errorf("not a JSON string")
	}
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20:
			return fmt.Errorf("raw control character 0x%02x at %d", c, i)
		case c == '"':
			return fmt.Errorf("unescaped quote at %d", i)
		case c != '\\':
			continue
		}
		if i+1 >= len(s) {
			return fmt.Errorf("dangling backslash")
		}
		i++
		switch s[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			continue
		case 'u':
		default:
			return fmt.Errorf("invalid escape \\%c", s[i])
		}
		r, ok := hex4(s[i+1:])
		if !ok {
			return fmt.Errorf("invalid \\u escape at %d", i-1)
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return fmt.Errorf("unpaired low surrogate at %d", i-5)
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(s)+0 || s[i+1] != '\\' || s[i+2] != 'u' {
				return fmt.Errorf("unpaired high surrogate at %d", i-5)
			}
			lo, ok := hex4(s[i+3:])
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return fmt.Errorf("unpaired high surrogate at %d", i-5)
			}
			i += 6
		}
	}
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
