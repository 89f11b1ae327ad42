package batcher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

// sigChecker verifies each request's SigV4 signature the way the service does: it signs the received
// request's signed headers again over the SHA-256 of the body actually received and compares.
type sigChecker struct {
	next     http.Handler
	failPuts int // PutLogEvents requests answered 500 before any is passed on

	mu       sync.Mutex
	checked  int
	failures []string
	bodies   map[string]int // PutLogEvents bodies received, by hash
}

func (c *sigChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	problem := c.verify(r, hash)
	c.mu.Lock()
	c.checked++
	if problem != "" {
		c.failures = append(c.failures, problem)
	}
	put := strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutLogEvents")
	if put {
		c.bodies[hash]++
	}
	fail := put && c.failPuts > 0
	if fail {
		c.failPuts--
	}
	c.mu.Unlock()
	if problem != "" {
		http.Error(w, `{"__type":"InvalidSignatureException","message":"`+problem+`"}`, http.StatusForbidden)
		return
	}
	if fail {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"__type":"ServiceUnavailableException","message":"injected"}`)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	c.next.ServeHTTP(w, r)
}

// verify returns "" when r's Authorization header is the signature of r (its signed headers) over payload
// hash, with the test credentials.
func (c *sigChecker) verify(r *http.Request, hash string) string {
	auth := r.Header.Get("Authorization")
	const prefix = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, prefix) {
		return "not signed"
	}
	fields := map[string]string{}
	for f := range strings.SplitSeq(strings.TrimPrefix(auth, prefix), ", ") {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 {
		return "bad credential scope " + fields["Credential"]
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "bad X-Amz-Date"
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err.Error()
	}
	for h := range strings.SplitSeq(fields["SignedHeaders"], ";") {
		switch h {
		case "host":
			again.Host = r.Host
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: "fake-secret"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hash, scope[3], scope[2], at); err != nil {
		return err.Error()
	}
	if got, want := auth, again.Header.Get("Authorization"); got != want {
		return "signature mismatch: sent " + got + ", expected " + want
	}
	return ""
}

// The batcher hands the signer the body's hash itself (the SDK's own payload-hash step is skipped): every
// request, retries included, must carry the signature of the bytes it sends.
func TestRequestsSignTheirBody(t *testing.T) {
	fake := cwlfake.New(func(o *cwlfake.Options) { o.Now = func() time.Time { return fixedNow } })
	checker := &sigChecker{next: fake, failPuts: 1, bodies: map[string]int{}}
	srv := httptest.NewServer(checker)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := cwlfake.NewClient(srv.URL)
	// The stream exists, so that the only retry is the injected one.
	if _, err := client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(testDest.LogGroup)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(testDest.LogGroup), LogStreamName: aws.String(testDest.LogStream)}); err != nil {
		t.Fatal(err)
	}
	b := New(ctx, client, "test-scope", testDest, testOptions)
	// Three requests' worth of events with escapes, so bodies differ from the messages' text.
	var evs []Event
	for i := range 3 * 1024 {
		evs = append(evs, Event{Timestamp: ms(fixedNow) - int64(10_000-i), Message: []byte(strings.Repeat(`a\"b\\c`, 160)), Escaped: true})
	}
	res := deliver(t, b, evs)
	if res.Acked != int64(len(evs)) {
		t.Fatalf("acked %d of %d", res.Acked, len(evs))
	}
	checker.mu.Lock()
	defer checker.mu.Unlock()
	if len(checker.failures) > 0 {
		t.Fatalf("%d of %d requests badly signed; first: %s", len(checker.failures), checker.checked, checker.failures[0])
	}
	if res.Stats.Requests < 2 || res.Stats.Retries != 1 {
		t.Fatalf("requests %d, retries %d: want several requests and the one injected retry", res.Stats.Requests, res.Stats.Retries)
	}
	resent := 0
	for _, n := range checker.bodies {
		if n == 2 {
			resent++
		}
	}
	if resent != 1 || len(checker.bodies) != int(res.Stats.Requests) {
		t.Fatalf("bodies %v: want %d distinct bodies, one of them sent twice", checker.bodies, res.Stats.Requests)
	}
	if got := int64(fake.EventCount()); got != int64(len(evs)) {
		t.Fatalf("fake stored %d events, want %d", got, len(evs))
	}
}
