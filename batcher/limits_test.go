package batcher

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

func putSizes(puts []cwlfake.PutRecord) (events []int, bytes []int) {
	for _, p := range puts {
		events = append(events, p.Events)
		bytes = append(bytes, p.Bytes)
	}
	return
}

func TestRequestByteLimit(t *testing.T) {
	const half = MaxRequestBytes / 2
	now := ms(fixedNow)
	invalid := func(n int) Event { // n bytes on the wire as counted: one invalid byte counts 3
		return Event{Timestamp: now + 1, Message: append([]byte(strings.Repeat("v", n-3)), 0xff)}
	}
	escaped := func(n int) Event { // \u00e9 counts 2 bytes, not 6
		return Event{Timestamp: now + 1, Message: []byte(strings.Repeat(`\u00e9`, n/2) + strings.Repeat("e", n%2)), Escaped: true}
	}
	tests := map[string]struct {
		evs      []Event
		requests int
	}{
		"one under":                   {[]Event{plainEvent(now, half-26), plainEvent(now+1, half-26-1)}, 1},
		"at":                          {[]Event{plainEvent(now, half-26), plainEvent(now+1, half-26)}, 1},
		"one over":                    {[]Event{plainEvent(now, half-26), plainEvent(now+1, half-26+1)}, 2},
		"at, invalid UTF-8 as U+FFFD": {[]Event{plainEvent(now, half-26), invalid(half - 26)}, 1},
		"over by U+FFFD":              {[]Event{plainEvent(now, half-26), invalid(half - 26 + 1)}, 2},
		"at, escaped input":           {[]Event{plainEvent(now, half-26), escaped(half - 26)}, 1},
		"over, escaped input":         {[]Event{plainEvent(now, half-26), escaped(half - 26 + 1)}, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startFake(t)
			srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
			res := deliver(t, newBatcher(t, srv), tc.evs)
			_, bytes := putSizes(srv.Puts())
			if len(bytes) != tc.requests {
				t.Fatalf("requests %d (sizes %v), want %d", len(bytes), bytes, tc.requests)
			}
			if res.Stats.Split != 0 || res.Stats.EventsOut != 2 || res.Acked != 2 {
				t.Fatalf("unexpected result %+v", res)
			}
			got := srv.Events(testDest.LogGroup, testDest.LogStream)
			for i, ev := range tc.evs {
				if got[i].Message != textOf(ev) {
					t.Fatalf("event %d differs", i)
				}
			}
		})
	}
}

func TestRequestEventLimit(t *testing.T) {
	for name, n := range map[string]int{"one under": MaxRequestEvents - 1, "at": MaxRequestEvents, "one over": MaxRequestEvents + 1} {
		t.Run(name, func(t *testing.T) {
			srv := startFake(t)
			srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
			evs := make([]Event, n)
			for i := range evs {
				evs[i] = Event{Timestamp: ms(fixedNow) + int64(i), Message: []byte("m")}
			}
			res := deliver(t, newBatcher(t, srv), evs)
			events, _ := putSizes(srv.Puts())
			slices.Sort(events)
			want := []int{n}
			if n > MaxRequestEvents {
				want = []int{n - MaxRequestEvents, MaxRequestEvents}
			}
			if !slices.Equal(events, want) || res.Acked != int64(n) || res.Stats.EventsOut != int64(n) {
				t.Fatalf("requests %v, want %v; result %+v", events, want, res)
			}
		})
	}
}

func TestSpanLimit(t *testing.T) {
	t0 := ms(fixedNow.Add(-36 * time.Hour))
	day := MaxSpan.Milliseconds()
	tests := map[string]struct {
		last     int64
		requests int
	}{
		"one under": {t0 + day - 1, 1},
		"at":        {t0 + day, 1},
		"one over":  {t0 + day + 1, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startFake(t)
			srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
			// Given out of order: the batcher sorts.
			evs := []Event{plainEvent(tc.last, 5), plainEvent(t0+1000, 5), plainEvent(t0, 5)}
			res := deliver(t, newBatcher(t, srv), evs)
			if got := len(srv.Puts()); got != tc.requests || res.Acked != 3 {
				t.Fatalf("requests %d, want %d; %+v", got, tc.requests, res)
			}
			for _, p := range srv.Puts() {
				if p.MaxTimestamp-p.MinTimestamp > day {
					t.Fatalf("request spans %d ms", p.MaxTimestamp-p.MinTimestamp)
				}
			}
		})
	}
}

func TestOrderStable(t *testing.T) {
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	rng := rand.New(rand.NewPCG(7, 7))
	var evs []Event
	for i := range 3000 {
		ts := ms(fixedNow) - int64(rng.IntN(20)) // many equal timestamps
		evs = append(evs, Event{Timestamp: ts, Message: fmt.Appendf(nil, "event %05d", i)})
	}
	deliver(t, newBatcher(t, srv, func(o *Options) { o.MaxInFlight = 1 }), evs)
	want := slices.Clone(evs)
	slices.SortStableFunc(want, func(a, b Event) int { return int(a.Timestamp - b.Timestamp) })
	got := srv.Events(testDest.LogGroup, testDest.LogStream)
	if len(got) != len(want) {
		t.Fatalf("stored %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Message != string(want[i].Message) || got[i].Timestamp != want[i].Timestamp {
			t.Fatalf("event %d: got %d %q, want %d %q", i, got[i].Timestamp, got[i].Message, want[i].Timestamp, want[i].Message)
		}
	}
}

func TestEventSizeLimit(t *testing.T) {
	for _, max := range []int{DefaultMaxEventBytes, LegacyMaxEventBytes} {
		limit := max - EventOverhead
		tests := map[string]struct {
			msg    string
			pieces int
		}{
			"one under": {strings.Repeat("a", limit-1), 1},
			"at":        {strings.Repeat("a", limit), 1},
			"one over":  {strings.Repeat("a", limit+1), 2},
			// A 3-byte character straddles the limit: the cut moves back to its start.
			"multi-byte at the cut": {strings.Repeat("a", limit-1) + "世" + "bc", 2},
			"three pieces":          {strings.Repeat("é", limit+7), 3},
		}
		for name, tc := range tests {
			t.Run(fmt.Sprintf("%d/%s", max, name), func(t *testing.T) {
				srv := startFake(t, func(o *cwlfake.Options) { o.MaxEventBytes = max })
				srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
				res := deliver(t, newBatcher(t, srv, func(o *Options) { o.MaxEventBytes = max }),
					[]Event{{Timestamp: ms(fixedNow), Message: []byte(tc.msg)}})
				got := srv.Events(testDest.LogGroup, testDest.LogStream)
				var sb strings.Builder
				for _, e := range got {
					sb.WriteString(e.Message)
				}
				if len(got) != tc.pieces || sb.String() != tc.msg {
					t.Fatalf("%d pieces (want %d), reassembled equal: %v", len(got), tc.pieces, sb.String() == tc.msg)
				}
				wantSplit := int64(0)
				if tc.pieces > 1 {
					wantSplit = 1
				}
				if res.Stats.Split != wantSplit || res.Acked != 1 || res.Stats.EventsOut != int64(tc.pieces) {
					t.Fatalf("result %+v", res)
				}
			})
		}
	}
}

func TestEmptyMessagesDropped(t *testing.T) {
	srv := startFake(t)
	srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
	now := ms(fixedNow)
	evs := []Event{{Timestamp: now, Message: nil}, plainEvent(now, 3), {Timestamp: now, Message: []byte{}, Escaped: true}}
	res := deliver(t, newBatcher(t, srv), evs)
	if res.Stats.DroppedEmpty != 2 || res.Acked != 3 || res.Stats.EventsOut != 1 || srv.EventCount() != 1 {
		t.Fatalf("result %+v, stored %d", res, srv.EventCount())
	}
	// Only empty messages: nothing sent, all acknowledged.
	srv2 := startFake(t)
	res = deliver(t, newBatcher(t, srv2), []Event{{Timestamp: now}})
	if res.Acked != 1 || srv2.Requests("") != 0 {
		t.Fatalf("result %+v, %d requests", res, srv2.Requests(""))
	}
}

func TestOutOfWindowPolicy(t *testing.T) {
	oldest := ms(fixedNow.Add(-MaxAge + WindowMargin))
	newest := ms(fixedNow.Add(MaxFuture - WindowMargin))
	oldest7d := ms(fixedNow.Add(-7*24*time.Hour + WindowMargin))
	tests := map[string]struct {
		policy    Policy
		retention int32
		ts        int64
		wantTS    int64 // -1 = dropped
	}{
		"old, one over":         {PolicyClamp, 0, oldest + 1, oldest + 1},
		"old, at":               {PolicyClamp, 0, oldest, oldest},
		"old, one under clamps": {PolicyClamp, 0, oldest - 1, oldest},
		"old, far clamps":       {PolicyClamp, 0, 0, oldest},
		"old, one under drops":  {PolicyDrop, 0, oldest - 1, -1},
		"old, at, drop":         {PolicyDrop, 0, oldest, oldest},
		"new, one under":        {PolicyClamp, 0, newest - 1, newest - 1},
		"new, at":               {PolicyClamp, 0, newest, newest},
		"new, one over clamps":  {PolicyClamp, 0, newest + 1, newest},
		"new, one over drops":   {PolicyDrop, 0, newest + 1, -1},
		"retention, at":         {PolicyClamp, 7, oldest7d, oldest7d},
		"retention, one under":  {PolicyClamp, 7, oldest7d - 1, oldest7d},
		"retention, drop":       {PolicyDrop, 7, oldest7d - 1, -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startFake(t)
			srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
			srv.SetRetention(testDest.LogGroup, tc.retention)
			res := deliver(t, newBatcher(t, srv, func(o *Options) {
				o.OutOfWindow = tc.policy
				o.RetentionDays = tc.retention
			}), []Event{plainEvent(tc.ts, 4), plainEvent(ms(fixedNow), 4)})
			got := srv.Events(testDest.LogGroup, testDest.LogStream)
			if res.Acked != 2 || res.Stats.RejectedTooOld+res.Stats.RejectedTooNew+res.Stats.RejectedExpired != 0 {
				t.Fatalf("result %+v", res)
			}
			if tc.wantTS == -1 {
				if len(got) != 1 || res.Stats.DroppedOutOfWindow != 1 {
					t.Fatalf("stored %v, result %+v", got, res)
				}
				return
			}
			found := false
			for _, e := range got {
				found = found || e.Timestamp == tc.wantTS
			}
			wantClamped := int64(0)
			if tc.wantTS != tc.ts {
				wantClamped = 1
			}
			if len(got) != 2 || !found || res.Stats.Clamped != wantClamped {
				t.Fatalf("stored %v, want timestamp %d; result %+v", got, tc.wantTS, res)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	for s, want := range map[string]Policy{"clamp": PolicyClamp, "drop": PolicyDrop} {
		p, err := ParsePolicy(s)
		if err != nil || p != want || p.String() != s {
			t.Fatalf("ParsePolicy(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePolicy("keep"); err == nil {
		t.Fatal("ParsePolicy accepted an unknown policy")
	}
}

func TestInvalidOptions(t *testing.T) {
	tests := map[string]func(*Options){
		"event size":  func(o *Options) { o.MaxEventBytes = MaxRequestBytes + 1 },
		"in flight":   func(o *Options) { o.MaxInFlight = -1 },
		"retention":   func(o *Options) { o.RetentionDays = 8 },
		"sort window": func(o *Options) { o.SortWindow = 1000 },
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startFake(t)
			b := newBatcher(t, srv, fn)
			if err := b.Add(plainEvent(ms(fixedNow), 1)); err == nil {
				t.Fatal("Add succeeded with invalid options")
			}
			if _, err := b.Close(); err == nil {
				t.Fatal("Close succeeded with invalid options")
			}
		})
	}
}
