package batcher

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

// randomStream generates n events with unique timestamps spread over span (ending an hour before fixedNow),
// in shuffled order. Message sizes range from 0 B to 3 MiB (mostly small, a tail of large ones); contents
// mix ASCII, multi-byte UTF-8, invalid bytes, control characters, and JSON-escaped input.
func randomStream(rng *rand.Rand, n int, span time.Duration, maxSize int) []Event {
	end := ms(fixedNow.Add(-time.Hour))
	used := map[int64]bool{}
	evs := make([]Event, n)
	for i := range evs {
		ts := end - rng.Int64N(span.Milliseconds())
		for used[ts] {
			ts++
		}
		used[ts] = true
		var size int
		switch r := rng.Float64(); {
		case r < 0.03:
			size = 0
		case r < 0.75:
			size = rng.IntN(2048)
		case r < 0.90:
			size = 2048 + rng.IntN(100<<10)
		default:
			size = 100<<10 + rng.IntN(3<<20-100<<10+1)
		}
		evs[i] = Event{Timestamp: ts}
		evs[i].Message, evs[i].Escaped = randomMessage(rng, min(size, maxSize))
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	return evs
}

var alphabet = []string{"a", "b", "Z", " ", "0", "é", "ß", "世", "界", "🎉", "\u2028", "\"", "\\", "\n", "\t", "\x01"}

// textPools holds, per message kind, 4 MiB of text that messages are sliced from (cheap for 3 MiB messages).
var textPools = sync.OnceValue(func() [3][]byte {
	rng := rand.New(rand.NewPCG(99, 99))
	var pools [3][]byte
	for kind := range pools {
		var sb strings.Builder
		for sb.Len() < 4<<20 {
			s := "abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.:/"[rng.IntN(40):]
			if kind > 0 && rng.IntN(4) == 0 {
				s = alphabet[rng.IntN(len(alphabet))]
			}
			sb.WriteString(s)
			if kind == 2 && rng.IntN(50) == 0 {
				sb.WriteByte(byte(0x80 + rng.IntN(0x80))) // invalid UTF-8
			}
		}
		pools[kind] = []byte(sb.String())
	}
	return pools
})

// randomMessage returns a message of about size bytes: ASCII, mixed Unicode and control characters, with
// invalid UTF-8, or mixed Unicode as JSON-escaped input.
func randomMessage(rng *rand.Rand, size int) ([]byte, bool) {
	kind := rng.IntN(4)
	pool := textPools()[min(kind, 2)]
	off := rng.IntN(len(pool) - size)
	msg := pool[off : off+size]
	if kind == 3 { // as it appears in the input JSON line
		b, _ := json.Marshal(string(msg))
		return b[1 : len(b)-1], true
	}
	return slices.Clone(msg), false
}

// minimumRequests is a lower bound on the number of PutLogEvents requests any client needs for evs, even one
// that reorders the whole input freely and splits only what must be split:
//
//   - bytes: every non-empty message of u bytes (as CloudWatch counts them) needs at least ceil(u/maxU) events,
//     each costing 26 bytes on top; the total cannot be packed in fewer than ceil(total/1,048,576) requests;
//   - events: the same event count, at most 10,000 per request;
//   - span: the greedy cover of the sorted timestamps by 24-hour windows (optimal for interval covering);
//   - big events: events over half a request (that are not split) cannot share a request.
//
// The true minimum (a bin-packing problem) is at least this bound, so "within 2% of the bound" implies
// "within 2% of the minimum".
func minimumRequests(evs []Event, texts []string, maxEvent int) int {
	maxU := maxEvent - EventOverhead
	var bytes, events, big int
	var ts []int64
	for i, ev := range evs {
		u := len(texts[i])
		if u == 0 {
			continue
		}
		p := (u + maxU - 1) / maxU
		bytes += u + EventOverhead*p
		events += p
		if p == 1 && u+EventOverhead > MaxRequestBytes/2 {
			big++
		}
		ts = append(ts, ev.Timestamp)
	}
	slices.Sort(ts)
	spans := 0
	for i := 0; i < len(ts); {
		spans++
		end := ts[i] + MaxSpan.Milliseconds()
		for i < len(ts) && ts[i] <= end {
			i++
		}
	}
	return max((bytes+MaxRequestBytes-1)/MaxRequestBytes, (events+MaxRequestEvents-1)/MaxRequestEvents, spans, big)
}

// checkDelivery asserts that the fake holds exactly the non-empty input messages (pieces reassembled in
// arrival order per unique timestamp) and nothing else.
func checkDelivery(t *testing.T, srv *cwlfake.Server, evs []Event, texts []string) {
	t.Helper()
	got := map[int64]*strings.Builder{}
	for _, e := range srv.Events(testDest.LogGroup, testDest.LogStream) {
		sb := got[e.Timestamp]
		if sb == nil {
			sb = &strings.Builder{}
			got[e.Timestamp] = sb
		}
		sb.WriteString(e.Message)
	}
	want := 0
	for i, ev := range evs {
		text := texts[i]
		if text == "" {
			if got[ev.Timestamp] != nil {
				t.Fatalf("event %d: empty message delivered", i)
			}
			continue
		}
		want++
		sb := got[ev.Timestamp]
		if sb == nil {
			t.Fatalf("event %d (%d bytes) not delivered", i, len(text))
		}
		if sb.String() != text {
			t.Fatalf("event %d: delivered %d bytes differ from the %d input bytes", i, sb.Len(), len(text))
		}
	}
	if len(got) != want {
		t.Fatalf("delivered %d messages, want %d", len(got), want)
	}
}

func TestPropertyRandomStreams(t *testing.T) {
	tests := map[string]struct {
		seed     uint64
		n        int
		span     time.Duration
		maxEvent int
		maxSize  int
		window   int
		block    int  // > 0: sort, then shuffle only within blocks of this many events
		noBound  bool // correctness only: stragglers of a wide, sparse time range cost a few requests
	}{
		"3 days, 1 MiB events":   {1, 400, 72 * time.Hour, DefaultMaxEventBytes, 3 << 20, 0, 20, true},
		"3 days, 256 KiB events": {2, 250, 72 * time.Hour, LegacyMaxEventBytes, 3 << 20, 0, 20, true},
		"12 days, shuffled within blocks of 20 events, correctness only": {3, 80, 12 * 24 * time.Hour, DefaultMaxEventBytes, 3 << 20, 0, 20, true},
		"one hour, many small events":                                    {4, 30000, time.Hour, DefaultMaxEventBytes, 300, 0, 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 42))
			evs := randomStream(rng, tc.n, tc.span, tc.maxSize)
			if tc.block > 0 {
				slices.SortFunc(evs, func(a, b Event) int { return int(a.Timestamp - b.Timestamp) })
				for i := 0; i < len(evs); i += tc.block {
					blk := evs[i:min(i+tc.block, len(evs))]
					rng.Shuffle(len(blk), func(i, j int) { blk[i], blk[j] = blk[j], blk[i] })
				}
			}
			srv := startFake(t, func(o *cwlfake.Options) { o.MaxEventBytes = tc.maxEvent })
			srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
			b := newBatcher(t, srv, func(o *Options) {
				o.MaxEventBytes = tc.maxEvent
				o.SortWindow = tc.window
			})
			res := deliver(t, b, evs)
			texts := make([]string, len(evs))
			for i, ev := range evs {
				texts[i] = textOf(ev)
			}
			checkDelivery(t, srv, evs, texts)

			minimum := minimumRequests(evs, texts, tc.maxEvent)
			requests := len(srv.Puts())
			t.Logf("%d events: %d requests, lower bound %d (%.2f%%), mean fill %.4f, %d split",
				len(evs), requests, minimum, 100*float64(requests-minimum)/float64(minimum), res.Stats.FillSum/float64(res.Stats.Requests), res.Stats.Split)
			if limit := int(math.Ceil(1.02 * float64(minimum))); requests > limit && !tc.noBound {
				t.Errorf("%d requests, more than 2%% above the minimum %d", requests, minimum)
			}
			if res.Acked != int64(len(evs)) || res.Stats.Requests != int64(requests) || res.Stats.Retries != 0 {
				t.Errorf("result %+v", res)
			}
			if srv.Requests("DescribeLogStreams") != 0 {
				t.Error("Describe* called")
			}
		})
	}
}

// TestVouchedTextLen delivers escaped messages with the length a parser vouches for (Event.TextLen) and checks
// that the requests and what CloudWatch stores are exactly those of the same events measured by the batcher.
func TestVouchedTextLen(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var plain, vouched []Event
	for _, ev := range randomStream(rng, 2500, 3*time.Hour, 1<<20) {
		if !ev.Escaped || strings.Contains(string(ev.Message), `\u`) {
			continue // a parser vouches only for escaped messages without \u escapes
		}
		plain = append(plain, ev)
		ev.TextLen = len(textOf(ev))
		vouched = append(vouched, ev)
	}
	if len(vouched) < 100 {
		t.Fatalf("only %d escaped messages without \\u escapes", len(vouched))
	}
	// A length that cannot be right is ignored rather than trusted.
	bogus := Event{Timestamp: vouched[0].Timestamp + 1, Message: []byte(`a\nb`), Escaped: true, TextLen: 9}
	plainBogus := bogus
	plainBogus.TextLen = 0
	plain, vouched = append(plain, plainBogus), append(vouched, bogus)

	var puts [2][]cwlfake.PutRecord
	for i, evs := range [][]Event{plain, vouched} {
		srv := startFake(t)
		srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
		res := deliver(t, newBatcher(t, srv, func(o *Options) { o.MaxInFlight = 1 }), evs)
		texts := make([]string, len(evs))
		for j, ev := range evs {
			texts[j] = textOf(ev)
		}
		checkDelivery(t, srv, evs, texts)
		if res.Acked != int64(len(evs)) {
			t.Fatalf("acked %d of %d", res.Acked, len(evs))
		}
		puts[i] = srv.Puts()
		stored := 0
		for _, p := range puts[i] {
			stored += p.Bytes
		}
		if res.Stats.Bytes != int64(stored) {
			t.Fatalf("the batcher counted %d bytes, CloudWatch %d", res.Stats.Bytes, stored)
		}
	}
	if !slices.Equal(puts[0], puts[1]) {
		t.Fatalf("vouched lengths changed the requests:\n%+v\nagainst\n%+v", puts[1], puts[0])
	}
}
