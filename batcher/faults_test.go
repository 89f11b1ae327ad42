package batcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/logrouter/logrouter/internal/cwlfake"
)

// faultStream returns n unique-timestamp events of about 900 bytes (about 1,100 per request).
func faultStream(n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Timestamp: ms(fixedNow) - int64(n-i), Message: fmt.Appendf(nil, "%06d %0900d", i, i)}
	}
	return evs
}

// checkAckedDelivered asserts that every one of the first acked events is stored exactly once, and that
// nothing was stored twice.
func checkAckedDelivered(t *testing.T, srv *cwlfake.Server, evs []Event, acked int64, exact bool) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range srv.Events(testDest.LogGroup, testDest.LogStream) {
		seen[e.Message]++
	}
	for i := range acked {
		if seen[string(evs[i].Message)] == 0 {
			t.Fatalf("event %d acknowledged (prefix %d) but not stored", i, acked)
		}
	}
	if exact {
		for m, n := range seen {
			if n != 1 {
				t.Fatalf("message %.6s stored %d times", m, n)
			}
		}
		if int64(len(seen)) < acked {
			t.Fatalf("%d stored < %d acknowledged", len(seen), acked)
		}
	}
}

func TestTransientFaultsRetried(t *testing.T) {
	tests := map[string]func(*cwlfake.Server){
		"throttling storm": func(s *cwlfake.Server) {
			s.InjectFaults("PutLogEvents", cwlfake.FaultThrottle, cwlfake.FaultThrottle, cwlfake.FaultThrottle, cwlfake.FaultThrottle, cwlfake.FaultThrottle)
			s.SetFaultRate("PutLogEvents", cwlfake.FaultThrottle, 0.3)
		},
		"500s": func(s *cwlfake.Server) {
			s.SetFaultRate("PutLogEvents", cwlfake.FaultServerError, 0.3)
		},
		"connection reset mid-request": func(s *cwlfake.Server) {
			s.SetFaultRate("PutLogEvents", cwlfake.FaultDrop, 0.3)
		},
	}
	for name, inject := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startFake(t)
			srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
			inject(srv)
			evs := faultStream(8000)
			b := newBatcher(t, srv, func(o *Options) { o.Retry.MaxAttempts = 30 })
			res := deliver(t, b, evs)
			if res.Acked != int64(len(evs)) || res.Stats.EventsOut != int64(len(evs)) || res.Stats.Retries == 0 {
				t.Fatalf("result %+v", res)
			}
			checkAckedDelivered(t, srv, evs, res.Acked, true)
			if got := srv.EventCount(); got != int64(len(evs)) {
				t.Fatalf("stored %d events, want %d", got, len(evs))
			}
		})
	}
}

func TestRetriesExhausted(t *testing.T) {
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	evs := faultStream(8000)
	// Let the first requests through, then throttle everything.
	var faults []cwlfake.Fault
	faults = append(faults, 0, 0)
	for range 1000 {
		faults = append(faults, cwlfake.FaultThrottle)
	}
	srv.InjectFaults("PutLogEvents", faults...)
	b := newBatcher(t, srv, func(o *Options) { o.Retry.MaxAttempts = 3 })
	var addErr error
	for _, ev := range evs {
		if addErr = b.Add(ev); addErr != nil {
			break
		}
	}
	res, err := b.Close()
	var apiErr smithy.APIError
	if err == nil || !IsRetryable(err) || !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ThrottlingException" {
		t.Fatalf("Close error %v", err)
	}
	if addErr != nil && !errors.Is(addErr, err) && addErr.Error() != err.Error() {
		t.Fatalf("Add error %v differs from Close error %v", addErr, err)
	}
	if res.Acked >= int64(len(evs)) {
		t.Fatalf("acked %d of %d despite the failure", res.Acked, len(evs))
	}
	checkAckedDelivered(t, srv, evs, res.Acked, true)
}

func TestTerminalErrorNotRetried(t *testing.T) {
	srv := startFake(t)
	// A log group name CloudWatch refuses: creation fails with InvalidParameterException.
	b := New(context.Background(), srv.Client(), "s", Destination{LogGroup: "bad group name!", LogStream: "x"}, testOptions)
	_ = b.Add(plainEvent(ms(fixedNow), 10))
	res, err := b.Close()
	var apiErr smithy.APIError
	if err == nil || IsRetryable(err) || !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterException" {
		t.Fatalf("error %v", err)
	}
	var be *Error
	if !errors.As(err, &be) || be.Attempts != 1 || res.Acked != 0 {
		t.Fatalf("error %#v, result %+v", be, res)
	}
}

func TestLostResponseRedelivers(t *testing.T) {
	// The request is stored but its response is lost: the batcher retries (CloudWatch has no idempotency),
	// so the events are stored twice, but acknowledged once.
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	srv.InjectFaults("PutLogEvents", cwlfake.FaultDropAfterStore)
	evs := faultStream(100)
	res := deliver(t, newBatcher(t, srv), evs)
	if res.Acked != 100 || res.Stats.EventsOut != 100 || res.Stats.Retries != 1 || srv.EventCount() != 200 {
		t.Fatalf("result %+v, stored %d", res, srv.EventCount())
	}
}

func TestCancelledContext(t *testing.T) {
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	srv.SetLatency(20 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	b := New(ctx, srv.Client(), "s", testDest, testOptions)
	evs := faultStream(16000)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for srv.EventCount() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	var addErr error
	for _, ev := range evs {
		if addErr = b.Add(ev); addErr != nil {
			break
		}
	}
	res, err := b.Close()
	wg.Wait()
	if err == nil || !errors.Is(err, context.Canceled) || !IsRetryable(err) {
		t.Fatalf("Close error %v (Add error %v)", err, addErr)
	}
	if res.Acked >= int64(len(evs)) {
		t.Fatalf("acked everything despite cancellation")
	}
	// Nothing acknowledged that is not stored; requests cut by the cancellation may be stored without
	// being acknowledged (at-least-once).
	checkAckedDelivered(t, srv, evs, res.Acked, false)
	if err := b.Add(evs[0]); err == nil {
		t.Fatal("Add after failure succeeded")
	}
}

func TestAckNeverAhead(t *testing.T) {
	// Acked is sampled while requests complete out of order (random latency, throttling); every sampled
	// prefix must already be stored.
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	srv.SetFaultRate("PutLogEvents", cwlfake.FaultThrottle, 0.2)
	evs := faultStream(12000)
	b := newBatcher(t, srv, func(o *Options) { o.Retry.MaxAttempts = 30 })
	rng := rand.New(rand.NewPCG(5, 5))
	var last int64
	for i, ev := range evs {
		if err := b.Add(ev); err != nil {
			t.Fatal(err)
		}
		// Memory stays bounded by the sort window (plus MaxInFlight requests, by construction).
		if capU := int64(b.opts.SortWindow) * MaxRequestBytes; b.winU > capU || b.winN > b.opts.SortWindow*MaxRequestEvents {
			t.Fatalf("window holds %d bytes / %d events, over its bound", b.winU, b.winN)
		}
		if i%800 == 0 || rng.IntN(1000) == 0 {
			a := b.Acked()
			if a < last {
				t.Fatalf("acked went back from %d to %d", last, a)
			}
			last = a
			checkAckedDelivered(t, srv, evs, a, true)
		}
	}
	res, err := b.Close()
	if err != nil || res.Acked != int64(len(evs)) {
		t.Fatalf("%v %+v", err, res)
	}
}

func TestCreatesMissingDestination(t *testing.T) {
	srv := startFake(t)
	cache := NewExistenceCache(10)
	opts := func(o *Options) {
		o.RetentionDays = 30
		o.KMSKeyID = "arn:aws:kms:us-east-1:123456789012:key/k"
		o.Tags = map[string]string{"tenant": "t1"}
		o.Existence = cache
	}
	// Several batchers for the same (missing) destination at once: one creation, everything delivered.
	var wg sync.WaitGroup
	results := make([]Result, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBatcher(t, srv, opts)
			for j := range 3000 {
				if err := b.Add(Event{Timestamp: ms(fixedNow), Message: fmt.Appendf(nil, "b%d-%d", i, j)}); err != nil {
					errs[i] = err
					return
				}
			}
			results[i], errs[i] = b.Close()
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i].Acked != 3000 {
			t.Fatalf("batcher %d: %v %+v", i, errs[i], results[i])
		}
	}
	g, ok := srv.Group(testDest.LogGroup)
	if !ok || g.RetentionDays != 30 || g.KMSKeyID == "" || g.Tags["tenant"] != "t1" || len(g.Streams) != 1 {
		t.Fatalf("group %+v", g)
	}
	if n := srv.Requests("CreateLogGroup"); n != 1 {
		t.Fatalf("%d CreateLogGroup calls, want 1", n)
	}
	if srv.Requests("DescribeLogStreams") != 0 || srv.Requests("DescribeLogGroups") != 0 {
		t.Fatal("Describe* called")
	}
	if srv.EventCount() != 12000 || !cache.Known("test-scope", testDest) {
		t.Fatalf("stored %d, cached %v", srv.EventCount(), cache.Known("test-scope", testDest))
	}
	// A later batcher for an existing stream makes no creation calls.
	before := srv.Requests("")
	deliver(t, newBatcher(t, srv, opts), []Event{plainEvent(ms(fixedNow), 5)})
	if got := srv.Requests("") - before; got != 1 {
		t.Fatalf("%d requests for one delivery to an existing stream, want 1", got)
	}
}

func TestCreateStreamInExistingGroup(t *testing.T) {
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, "other")
	res := deliver(t, newBatcher(t, srv, func(o *Options) { o.RetentionDays = 7 }), []Event{plainEvent(ms(fixedNow), 5)})
	g, _ := srv.Group(testDest.LogGroup)
	if res.Acked != 1 || srv.Requests("CreateLogGroup") != 0 || srv.Requests("PutRetentionPolicy") != 0 || len(g.Streams) != 2 {
		t.Fatalf("result %+v, group %+v", res, g)
	}
}

func TestRejectedEventsAccounted(t *testing.T) {
	// The service clock differs from the batcher's: CloudWatch rejects per event; those events are counted,
	// acknowledged and not retried.
	serviceNow := fixedNow.Add(-3 * time.Hour) // events at the batcher's "now" are too new for the service
	srv := cwlfake.Start(t, func(o *cwlfake.Options) { o.Now = func() time.Time { return serviceNow } })
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	srv.SetRetention(testDest.LogGroup, 7)
	evs := []Event{
		plainEvent(ms(serviceNow.Add(-8*24*time.Hour)), 5), // expired for the service (retention 7 days)
		plainEvent(ms(serviceNow.Add(-time.Hour)), 5),      // accepted
		plainEvent(ms(fixedNow.Add(-10*time.Minute)), 5),   // 2h50m ahead of the service: too new
		plainEvent(ms(fixedNow), 5),                        // too new
	}
	res := deliver(t, newBatcher(t, srv), evs)
	s := res.Stats
	if res.Acked != 4 || s.EventsOut != 1 || s.RejectedExpired != 1 || s.RejectedTooNew != 2 || s.RejectedTooOld != 0 || s.Retries != 0 || s.Requests != 2 {
		t.Fatalf("result %+v", res)
	}
	// Too old for the service.
	srv2 := cwlfake.Start(t, func(o *cwlfake.Options) { o.Now = func() time.Time { return fixedNow.Add(15 * 24 * time.Hour) } })
	srv2.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	res = deliver(t, newBatcher(t, srv2), []Event{plainEvent(ms(fixedNow), 5), plainEvent(ms(fixedNow), 6)})
	if res.Acked != 2 || res.Stats.RejectedTooOld != 2 || res.Stats.EventsOut != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestAttemptTimeoutRetried(t *testing.T) {
	// The first attempt hangs (endpoint latency beyond the attempt timeout); the retry succeeds.
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	srv.SetLatency(500 * time.Millisecond)
	b := newBatcher(t, srv, func(o *Options) { o.AttemptTimeout = 50 * time.Millisecond })
	if err := b.Add(plainEvent(ms(fixedNow), 5)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for srv.Requests("PutLogEvents") == 0 {
			time.Sleep(time.Millisecond)
		}
		srv.SetLatency(0)
	}()
	res, err := b.Close()
	if err != nil || res.Acked != 1 || res.Stats.Retries < 1 || srv.EventCount() != 1 {
		t.Fatalf("%v %+v, stored %d", err, res, srv.EventCount())
	}
}

func TestBodyStreamHasNoWriteTo(t *testing.T) {
	var body any = &bodyStream{r: bytes.NewReader([]byte("{}"))}
	if _, ok := body.(io.WriterTo); ok {
		t.Fatal("bodyStream implements io.WriterTo; a closed SDK body would then fail the transport's final read")
	}
	if _, ok := body.(io.Seeker); !ok {
		t.Fatal("bodyStream must be seekable for signing and retries")
	}
}
