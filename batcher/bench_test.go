package batcher

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/logrouter/logrouter/internal/cwlfake"
)

// benchCorpus is about 16 MiB of messages shaped like container logs: ~280-byte lines, JSON-escaped as they
// appear in Vector's output (quotes, tabs, some non-ASCII), time-ordered with small jitter.
func benchCorpus() (evs []Event, textBytes int64) {
	rng := rand.New(rand.NewPCG(11, 11))
	ts := ms(fixedNow.Add(-2 * time.Hour))
	for textBytes < 16<<20 {
		ts += int64(rng.IntN(20))
		msg := fmt.Appendf(nil, `2026-03-01T10:%02d:%02d.%03dZ level=info component=api msg=\"request served\" path=/api/v1/items/%d\tstatus=200 duration_ms=%d user_agent=\"Mozilla/5.0 (X11; Linux x86_64)\" trace_id=%016x span=%08x región=eu-west-1 %s`,
			rng.IntN(60), rng.IntN(60), rng.IntN(1000), rng.IntN(1e6), rng.IntN(500), rng.Uint64(), rng.Uint32(), "payload-abcdefghijklmnopqrstuvwxyz-0123456789"[:rng.IntN(45)])
		ev := Event{Timestamp: ts - int64(rng.IntN(50)), Message: msg, Escaped: true}
		evs = append(evs, ev)
		textBytes += int64(len(textOf(ev)))
	}
	return evs, textBytes
}

// BenchmarkDeliver measures batching + sending a 16 MiB stream over loopback HTTP through the real SDK
// client (signing included) to the fake endpoint in discard mode, so the endpoint's decoding cost stays
// out of the numbers. MB/s is of message text; requests/min compares the request count with the minimum.
func BenchmarkDeliver(b *testing.B) {
	evs, textBytes := benchCorpus()
	texts := make([]string, len(evs))
	for i, ev := range evs {
		texts[i] = textOf(ev)
	}
	minimum := minimumRequests(evs, texts, DefaultMaxEventBytes)
	for _, mode := range []struct {
		name  string
		stock bool
	}{{"pre-escaped-body", false}, {"stock-serializer", true}} {
		b.Run(mode.name, func(b *testing.B) {
			srv := cwlfake.Start(b, func(o *cwlfake.Options) { o.Discard = true })
			srv.CreateLogStream(testDest.LogGroup, testDest.LogStream)
			client := srv.Client()
			b.SetBytes(textBytes)
			b.ReportAllocs()
			var requests int64
			for b.Loop() {
				bt := New(context.Background(), client, "bench", testDest, testOptions, func(o *Options) { o.StockSerializer = mode.stock })
				for _, ev := range evs {
					if err := bt.Add(ev); err != nil {
						b.Fatal(err)
					}
				}
				res, err := bt.Close()
				if err != nil || res.Acked != int64(len(evs)) {
					b.Fatal(err, res.Acked)
				}
				requests = res.Stats.Requests
			}
			b.ReportMetric(float64(requests), "requests/op")
			b.ReportMetric(float64(requests)/float64(minimum), "requests/min")
		})
	}
}

// BenchmarkAppendWireMix measures the conversion of escaped messages to their wire form (validation, length,
// copy) on a mix of JSON application logs (an escaped quote every few bytes), klog lines and logfmt with
// tabs and non-ASCII text.
func BenchmarkAppendWireMix(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 11))
	var msgs [][]byte
	n := 0
	for n < 4<<20 {
		var m []byte
		switch rng.IntN(3) {
		case 0:
			m = fmt.Appendf(nil, `{\"ts\":1700000000.%03d,\"level\":\"info\",\"msg\":\"request served\",\"path\":\"/api/v1/items/%d\",\"status\":200,\"duration_ms\":%d,\"trace_id\":\"%016x\"}`, rng.IntN(1000), rng.IntN(1e6), rng.IntN(500), rng.Uint64())
		case 1:
			m = fmt.Appendf(nil, `I0301 10:%02d:%02d.%06d       1 controller.go:%d] Successfully synced object namespace/name-%d with generation %d`, rng.IntN(60), rng.IntN(60), rng.IntN(1e6), rng.IntN(999), rng.IntN(1e5), rng.IntN(100))
		default:
			m = fmt.Appendf(nil, `2026-03-01T10:%02d:%02d.%03dZ level=info component=api msg=\"request served\" path=/api/v1/items/%d\tstatus=200 región=eu-west-1`, rng.IntN(60), rng.IntN(60), rng.IntN(1000), rng.IntN(1e6))
		}
		msgs = append(msgs, m)
		n += len(m)
	}
	dst := make([]byte, 0, 2*n)
	b.SetBytes(int64(n))
	for b.Loop() {
		dst = dst[:0]
		for _, m := range msgs {
			dst, _, _ = appendWire(dst, m, true)
		}
	}
}
