package batcher

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

var testDest = Destination{LogGroup: "/logrouter/test", LogStream: "pod-1"}

// fixedNow is the clock shared by the fake and the batcher in tests.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func startFake(t testing.TB, optFns ...func(*cwlfake.Options)) *cwlfake.Server {
	t.Helper()
	fns := append([]func(*cwlfake.Options){func(o *cwlfake.Options) { o.Now = func() time.Time { return fixedNow } }}, optFns...)
	return cwlfake.Start(t, fns...)
}

func testOptions(o *Options) {
	o.Now = func() time.Time { return fixedNow }
	o.Retry = RetryPolicy{MaxAttempts: 8, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
}

func newBatcher(t testing.TB, srv *cwlfake.Server, optFns ...func(*Options)) *Batcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return New(ctx, srv.Client(), "test-scope", testDest, append([]func(*Options){testOptions}, optFns...)...)
}

// deliver adds evs and closes the batcher; it fails the test on any error.
func deliver(t testing.TB, b *Batcher, evs []Event) Result {
	t.Helper()
	for i, ev := range evs {
		if err := b.Add(ev); err != nil {
			t.Fatalf("Add(%d): %v", i, err)
		}
	}
	res, err := b.Close()
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	return res
}

// textOf is what CloudWatch stores for an input event.
func textOf(ev Event) string {
	if !ev.Escaped {
		if utf8.Valid(ev.Message) {
			return string(ev.Message)
		}
		out := make([]byte, 0, len(ev.Message)+16)
		for i := 0; i < len(ev.Message); {
			r, n := utf8.DecodeRune(ev.Message[i:])
			out = utf8.AppendRune(out, r)
			i += n
		}
		return string(out)
	}
	var s string
	if err := json.Unmarshal([]byte(`"`+string(ev.Message)+`"`), &s); err != nil {
		panic(err)
	}
	return s
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func plainEvent(ts int64, n int) Event {
	return Event{Timestamp: ts, Message: []byte(strings.Repeat("x", n))}
}
