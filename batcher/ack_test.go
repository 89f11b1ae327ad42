package batcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

func TestAckTrackerState(t *testing.T) {
	type op struct {
		seq int64
		d   int32
	}
	tests := map[string]struct {
		resume AckState
		pushed int64
		ops    []op
		want   AckState
	}{
		"nothing acknowledged":      {pushed: 3, want: AckState{}},
		"prefix":                    {pushed: 3, ops: []op{{0, -1}, {1, -1}}, want: AckState{Prefix: 2}},
		"out of order":              {pushed: 6, ops: []op{{1, -1}, {2, -1}, {4, -1}}, want: AckState{Ranges: [][2]int64{{1, 3}, {4, 5}}}},
		"gap filled joins prefix":   {pushed: 4, ops: []op{{1, -1}, {2, -1}, {0, -1}}, want: AckState{Prefix: 3}},
		"adjacent ranges merge":     {pushed: 5, ops: []op{{1, -1}, {3, -1}, {2, -1}}, want: AckState{Ranges: [][2]int64{{1, 4}}}},
		"split: two of three":       {pushed: 2, ops: []op{{1, +2}, {1, -1}, {1, -1}}, want: AckState{}},
		"split: all pieces":         {pushed: 2, ops: []op{{1, +2}, {1, -1}, {1, -1}, {1, -1}}, want: AckState{Ranges: [][2]int64{{1, 2}}}},
		"split piece before prefix": {pushed: 2, ops: []op{{0, +1}, {0, -1}, {1, -1}}, want: AckState{Ranges: [][2]int64{{1, 2}}}},
		"resume: ranges not added yet": {resume: AckState{Prefix: 10, Ranges: [][2]int64{{12, 14}, {20, 25}}}, pushed: 2,
			ops: []op{{10, -1}}, want: AckState{Prefix: 11, Ranges: [][2]int64{{12, 14}, {20, 25}}}},
		"resume: range reached": {resume: AckState{Prefix: 10, Ranges: [][2]int64{{12, 14}, {20, 25}}}, pushed: 4,
			ops: []op{{12, -1}, {13, -1}, {10, -1}, {11, -1}}, want: AckState{Prefix: 14, Ranges: [][2]int64{{20, 25}}}},
		"resume: partly added range": {resume: AckState{Prefix: 0, Ranges: [][2]int64{{1, 4}}}, pushed: 3,
			ops: []op{{1, -1}, {2, -1}}, want: AckState{Ranges: [][2]int64{{1, 4}}}},
		"resume: range right after everything added": {resume: AckState{Prefix: 0, Ranges: [][2]int64{{2, 4}}}, pushed: 2,
			ops: []op{{0, -1}, {1, -1}}, want: AckState{Prefix: 4}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var a ackTracker
			a.init(tc.resume)
			for i := range tc.pushed {
				a.push(tc.resume.Prefix + i)
			}
			for _, o := range tc.ops {
				a.add(o.seq, o.d)
			}
			got := a.state()
			if !got.Equal(tc.want) {
				t.Fatalf("state %+v, want %+v", got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAckStateContainsAndValidate(t *testing.T) {
	s := AckState{Prefix: 3, Ranges: [][2]int64{{5, 7}, {9, 10}}}
	var in []int64
	for i := range int64(12) {
		if s.Contains(i) {
			in = append(in, i)
		}
	}
	if fmt.Sprint(in) != "[0 1 2 5 6 9]" || s.Count() != 6 {
		t.Fatalf("contains %v, count %d", in, s.Count())
	}
	bad := map[string]AckState{
		"negative prefix":     {Prefix: -1},
		"range below prefix":  {Prefix: 5, Ranges: [][2]int64{{3, 6}}},
		"empty range":         {Ranges: [][2]int64{{3, 3}}},
		"overlapping ranges":  {Ranges: [][2]int64{{3, 6}, {5, 8}}},
		"unsorted ranges":     {Ranges: [][2]int64{{8, 9}, {3, 4}}},
		"inverted range ends": {Ranges: [][2]int64{{4, 3}}},
	}
	for name, st := range bad {
		if st.Validate() == nil {
			t.Errorf("%s: %+v accepted", name, st)
		}
	}
}

// interleavedStream is faultStream with timestamps permuted within blocks of 3,000 events, so that one
// request holds events scattered over the input and requests complete in no particular input order.
func interleavedStream(n int) []Event {
	evs := faultStream(n)
	for i := range evs {
		blk := i / 3000 * 3000
		evs[i].Timestamp = ms(fixedNow) - int64(n) + int64(blk) + int64((i-blk)*1777%3000)
	}
	return evs
}

// storedCounts counts the stored copies of each input event (messages are unique).
func storedCounts(srv *cwlfake.Server, evs []Event) []int {
	idx := map[string]int{}
	for i, ev := range evs {
		idx[string(ev.Message)] = i
	}
	counts := make([]int, len(evs))
	for _, e := range srv.Events(testDest.LogGroup, testDest.LogStream) {
		counts[idx[e.Message]]++
	}
	return counts
}

func TestAckStateOutOfOrder(t *testing.T) {
	// Requests hold scattered input events and complete out of order (throttling, retries); every sampled
	// acknowledged set must be stored already and contain the previous one.
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	srv.SetFaultRate("PutLogEvents", cwlfake.FaultThrottle, 0.3)
	srv.SetLatency(2 * time.Millisecond)
	evs := interleavedStream(12000)
	var mu sync.Mutex
	var samples []AckState
	var notified atomic.Int64
	var b *Batcher
	b = newBatcher(t, srv, func(o *Options) {
		o.Retry.MaxAttempts = 30
		o.OnAck = func() {
			if notified.Add(1)%3 == 0 {
				st := b.AckState()
				stored := storedCounts(srv, evs)
				mu.Lock()
				samples = append(samples, st)
				mu.Unlock()
				for i := range evs {
					if st.Contains(int64(i)) && stored[i] == 0 {
						t.Errorf("event %d acknowledged (%+v) but not stored", i, st)
						return
					}
				}
			}
		}
	})
	res := deliver(t, b, evs)
	if res.Acked != int64(len(evs)) {
		t.Fatalf("result %+v", res)
	}
	if st := b.AckState(); !st.Equal(AckState{Prefix: int64(len(evs))}) {
		t.Fatalf("final state %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	beyond := 0
	for k, st := range samples {
		if err := st.Validate(); err != nil {
			t.Fatal(err)
		}
		if len(st.Ranges) > 0 {
			beyond++
		}
		if k == 0 {
			continue
		}
		for i := range int64(len(evs)) {
			if samples[k-1].Contains(i) && !st.Contains(i) {
				t.Fatalf("event %d left the acknowledged set between samples %d and %d", i, k-1, k)
			}
		}
	}
	if beyond == 0 {
		t.Fatalf("no sample of %d had acknowledged events beyond the prefix", len(samples))
	}
	for i, c := range storedCounts(srv, evs) {
		if c != 1 {
			t.Fatalf("event %d stored %d times", i, c)
		}
	}
}

func TestAckStateDropsAndSplits(t *testing.T) {
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	now := ms(fixedNow)
	var notified atomic.Int64
	b := newBatcher(t, srv, func(o *Options) {
		o.OutOfWindow = PolicyDrop
		o.MaxEventBytes = 1024
		o.OnAck = func() { notified.Add(1) }
	})
	evs := []Event{
		plainEvent(now, 10), // 0: waits in the sort window
		{Timestamp: now},    // 1: empty, dropped
		plainEvent(ms(fixedNow.Add(-MaxAge-time.Hour)), 5), // 2: out of window, dropped
		plainEvent(now, 5000),                              // 3: split into six pieces
		plainEvent(now, 10),                                // 4
	}
	for _, ev := range evs {
		if err := b.Add(ev); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing was sent yet: only the drops are acknowledged, beyond the pending event 0.
	if st := b.AckState(); !st.Equal(AckState{Ranges: [][2]int64{{1, 3}}}) || notified.Load() != 2 {
		t.Fatalf("before sending: %+v, %d notifications", st, notified.Load())
	}
	res, err := b.Close()
	if err != nil || res.Acked != 5 || res.Stats.Split != 1 || res.Stats.EventsOut != 2+6 {
		t.Fatalf("%v %+v", err, res)
	}
	if st := b.AckState(); !st.Equal(AckState{Prefix: 5}) {
		t.Fatalf("after Close: %+v", st)
	}
}

func TestAckStateSplitPartlyAccepted(t *testing.T) {
	// A message split over two requests is acknowledged only when both are: the second request fails
	// terminally, so the message stays outside the acknowledged set although its first piece is stored.
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	now := ms(fixedNow)
	b := newBatcher(t, srv, func(o *Options) { o.MaxInFlight = 1; o.SortWindow = 1 })
	// Event 0 leaves room for part of event 1 (larger than a whole request) in the first request.
	evs := []Event{plainEvent(now, MaxRequestBytes/2), plainEvent(now, MaxRequestBytes+1000)}
	if err := b.Add(evs[0]); err != nil {
		t.Fatal(err)
	}
	srv.InjectFaults("PutLogEvents", 0) // first request succeeds
	for range 20 {
		srv.InjectFaults("PutLogEvents", cwlfake.FaultServerError)
	}
	err := b.Add(evs[1])
	res, cerr := b.Close()
	if err == nil && cerr == nil {
		t.Fatalf("delivery succeeded despite failing requests: %+v", res)
	}
	if srv.EventCount() == 0 {
		t.Fatal("the first request was not stored")
	}
	st := b.AckState()
	if !st.Contains(0) || st.Contains(1) {
		t.Fatalf("state %+v: want event 0 acknowledged and the split event 1 not", st)
	}
}

func TestResumeSkipsAcknowledged(t *testing.T) {
	// A first attempt is cut off mid-delivery; a second one resumes from its acknowledged set: nothing is
	// lost, nothing acknowledged is sent again, and only events of the requests cut off are duplicated.
	//
	// The two attempts write to two streams of the group, so that what each attempt stored is told apart by
	// where it is, not by when it arrived: a request of the first attempt still on its way when the attempt
	// was cut off may be stored late, and must count as the first attempt's, not as a second-attempt
	// duplicate.
	srv := startFake(t)
	firstDest, secondDest := testDest, Destination{LogGroup: testDest.LogGroup, LogStream: testDest.LogStream + "-resumed"}
	srv.CreateLogStream(firstDest.LogGroup, firstDest.LogStream)
	srv.CreateLogStream(secondDest.LogGroup, secondDest.LogStream)
	evs := interleavedStream(12000)
	ctx, cancel := context.WithCancel(context.Background())
	b1 := New(ctx, srv.Client(), "s", firstDest, testOptions)
	// The endpoint stores 3 requests and holds the rest; the attempt is cut off while they wait.
	srv.HoldPutsAfter(3)
	go func() {
		for len(srv.Puts()) < 3 || srv.HeldPuts() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	for _, ev := range evs {
		if err := b1.Add(ev); err != nil {
			break
		}
	}
	first, err := b1.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v", err)
	}
	st := b1.AckState()
	if st.Prefix >= int64(len(evs)) || st.Count() == 0 {
		t.Fatalf("first attempt acknowledged %+v (result %+v): not a mid-delivery cut", st, first)
	}
	settled(srv)
	srv.ReleasePuts()

	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel2()
	b2 := New(ctx2, srv.Client(), "test-scope", secondDest, testOptions, func(o *Options) { o.Resume = st; o.AttemptTimeout = 5 * time.Second })
	res := deliver(t, b2, evs[st.Prefix:])
	if res.Acked != int64(len(evs))-st.Prefix || res.Stats.Resumed != st.Count()-st.Prefix {
		t.Fatalf("second attempt %+v, resumed from %+v", res, st)
	}
	if got := b2.AckState(); !got.Equal(AckState{Prefix: int64(len(evs))}) {
		t.Fatalf("final state %+v", got)
	}
	idx := map[string]int64{}
	for i, ev := range evs {
		idx[string(ev.Message)] = int64(i)
	}
	firstLife := make([]int, len(evs))
	secondLife := make([]int, len(evs))
	first1 := srv.Events(firstDest.LogGroup, firstDest.LogStream)
	for _, e := range first1 {
		firstLife[idx[e.Message]]++
	}
	for _, e := range srv.Events(secondDest.LogGroup, secondDest.LogStream) {
		secondLife[idx[e.Message]]++
	}
	dup := 0
	for i := range evs {
		acked := st.Contains(int64(i))
		switch {
		case acked && firstLife[i] != 1:
			t.Fatalf("event %d acknowledged by the first attempt but stored %d times by it", i, firstLife[i])
		case acked && secondLife[i] != 0:
			t.Fatalf("event %d acknowledged by the first attempt and sent again", i)
		case !acked && secondLife[i] == 0:
			t.Fatalf("event %d not acknowledged by the first attempt and not sent by the second: lost", i)
		case !acked && secondLife[i] > 1 && res.Stats.Retries == 0:
			t.Fatalf("event %d stored %d times by the second attempt without a retry", i, secondLife[i])
		}
		if firstLife[i] > 0 && secondLife[i] > 0 {
			dup++
		}
	}
	// Only requests in flight at the cut may have been stored without acknowledgement: at most MaxInFlight
	// requests of about 1,100 of these events, and exactly the stored events outside the acknowledged set.
	if bound := 4 * (MaxRequestBytes / (906 + EventOverhead)); dup > bound || int64(dup) != int64(len(first1))-st.Count() {
		t.Fatalf("%d events re-sent (bound %d); the first attempt stored %d and acknowledged %d", dup, bound, len(first1), st.Count())
	}
	t.Logf("cut at prefix %d with %d ranges, %d acknowledged; %d events re-sent", st.Prefix, len(st.Ranges), st.Count(), dup)
}

// settled waits until the fake handles no request (requests held when their client went away are
// abandoned, the others answered: nothing more of the cut attempt can be stored) and returns the stored
// event count.
func settled(srv *cwlfake.Server) int64 {
	for srv.Active() != 0 {
		time.Sleep(time.Millisecond)
	}
	return srv.EventCount()
}

func TestInvalidResume(t *testing.T) {
	srv := startFake(t)
	b := newBatcher(t, srv, func(o *Options) { o.Resume = AckState{Prefix: 5, Ranges: [][2]int64{{3, 4}}} })
	if err := b.Add(plainEvent(ms(fixedNow), 3)); err == nil || !strings.Contains(err.Error(), "Resume") {
		t.Fatalf("Add error %v", err)
	}
	if res, err := b.Close(); err == nil || res.Acked != 0 {
		t.Fatalf("Close: %+v, %v", res, err)
	}
}
