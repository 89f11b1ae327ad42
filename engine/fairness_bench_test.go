package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/fairshare"
)

// endpointSink stands for a CloudWatch destination whose one PutLogEvents request per object (200 events)
// takes latency, and records when each tenant's objects finish.
type endpointSink struct {
	*fakeSink
	latency time.Duration
	done    func()
}

func (s *endpointSink) Close() (batcher.Result, error) {
	time.Sleep(s.latency) // the endpoint's response time (simulated; not a test assertion)
	r, err := s.fakeSink.Close()
	s.done()
	return r, err
}

// noisyRun is one run of the noisy-neighbour scenario: a objects of tenant A queued first, then (once A's
// delivery is under way) b objects of tenant B, with 2 workers and the poller as logrouter poll sets it up.
type noisyRun struct {
	bLatency   time.Duration // from B's enqueue to B's last object done
	aPerSecond float64       // A's objects / time from start to A's last object done
	// SQS calls per object delivered (A's and B's), counted until the last object is done.
	receives, changes float64
}

func runNoisy(tb testing.TB, a, b int, latency time.Duration) noisyRun {
	w := newFakeWorld()
	obj := vectorObject("x", 200)
	q := newFakeSQS()
	var bodiesA, bodiesB []string
	for _, tn := range []string{"tenant-a", "tenant-b"} {
		w.configs[tn] = append(w.configs[tn], cwConfig(tn, "/"+tn, "arn:aws:iam::111111111111:role/"+tn))
		n := map[string]int{"tenant-a": a, "tenant-b": b}[tn]
		for i := range n {
			key := fmt.Sprintf("c1/%s/app/pod-1/obj-%03d.json.gz", tn, i)
			w.s3.objects["central/"+key] = obj
			if tn == "tenant-a" {
				bodiesA = append(bodiesA, string(s3Body("central", key)))
			} else {
				bodiesB = append(bodiesB, string(s3Body("central", key)))
			}
		}
	}
	var mu sync.Mutex
	var lastA, lastB time.Time
	var doneA, doneB atomic.Int64
	allDone := make(chan struct{})
	check := func() {
		if doneA.Load() == int64(a) && doneB.Load() == int64(b) {
			close(allDone)
		}
	}
	sched, err := fairshare.New(fairshare.Options{Workers: 2, Waiting: 20})
	if err != nil {
		tb.Fatal(err)
	}
	p := w.processor(tb, func(o *Options) {
		o.Workers, o.HandBack, o.Scheduler = 2, true, sched
		o.NewSink = func(ctx context.Context, c batcher.API, scope string, d batcher.Destination, fns ...func(*batcher.Options)) LogSink {
			fs := w.newSink(ctx, c, scope, d, fns...).(*fakeSink)
			return &endpointSink{fakeSink: fs, latency: latency, done: func() {
				mu.Lock()
				defer mu.Unlock()
				if d.LogGroup == "/tenant-a" {
					lastA = time.Now()
					doneA.Add(1)
				} else {
					lastB = time.Now()
					doneB.Add(1)
				}
				check()
			}}
		}
	})
	for _, body := range bodiesA {
		q.send(body)
	}
	start := time.Now()
	cancel, done, _ := runPoller(tb, q, p, PollerOptions{Workers: 2 + 20, Crowded: p.Crowded, Visibility: 30 * time.Second})
	defer func() { cancel(); <-done }()
	if a > 0 {
		for sched.Stats().InFlight["tenant-a"] < 2 {
			time.Sleep(time.Millisecond)
		}
	}
	bStart := time.Now()
	for _, body := range bodiesB {
		q.send(body)
	}
	if a == 0 && b == 0 {
		return noisyRun{}
	}
	select {
	case <-allDone:
	case <-time.After(10 * time.Minute):
		tb.Fatalf("not delivered: A %d/%d, B %d/%d", doneA.Load(), a, doneB.Load(), b)
	}
	mu.Lock()
	defer mu.Unlock()
	r := noisyRun{}
	if b > 0 {
		r.bLatency = lastB.Sub(bStart)
	}
	if a > 0 {
		r.aPerSecond = float64(a) / lastA.Sub(start).Seconds()
	}
	q.mu.Lock()
	r.receives, r.changes = float64(q.receives)/float64(a+b), float64(q.changes)/float64(a+b)
	q.mu.Unlock()
	return r
}

// BenchmarkNoisyNeighbour is issue 18's scenario: tenant A queues 500 objects, then tenant B 5; 2 workers,
// 200-event objects, 50 ms endpoint latency. It reports B's latency and A's throughput against each alone,
// with the targets: B within 2× its solo latency plus one object's time, A within 10% of its solo
// throughput. Run: go test -run '^$' -bench NoisyNeighbour -benchtime 1x ./engine/
func BenchmarkNoisyNeighbour(b *testing.B) {
	const latency = 50 * time.Millisecond
	for range b.N {
		soloB := runNoisy(b, 0, 5, latency)
		soloA := runNoisy(b, 500, 0, latency)
		mixed := runNoisy(b, 500, 5, latency)
		bTarget := 2*soloB.bLatency + latency
		b.ReportMetric(soloB.bLatency.Seconds(), "B-solo-s")
		b.ReportMetric(mixed.bLatency.Seconds(), "B-behind-A-s")
		b.ReportMetric(bTarget.Seconds(), "B-target-s")
		b.ReportMetric(soloA.aPerSecond, "A-solo-obj/s")
		b.ReportMetric(mixed.aPerSecond, "A-with-B-obj/s")
		b.Logf("B: solo %.3fs, behind A %.3fs, target ≤ %.3fs: %s", soloB.bLatency.Seconds(), mixed.bLatency.Seconds(), bTarget.Seconds(), metOrMissed(mixed.bLatency <= bTarget))
		b.ReportMetric(soloA.receives, "A-solo-receives/obj")
		b.ReportMetric(soloA.changes, "A-solo-visibility-changes/obj")
		b.ReportMetric(mixed.receives, "A+B-receives/obj")
		b.ReportMetric(mixed.changes, "A+B-visibility-changes/obj")
		b.Logf("SQS calls per object: A alone %.2f receives, %.2f visibility changes; A and B %.2f receives, %.2f visibility changes",
			soloA.receives, soloA.changes, mixed.receives, mixed.changes)
		b.Logf("A: solo %.2f obj/s, with B %.2f obj/s (%.1f%%), target ≥ 90%%: %s", soloA.aPerSecond, mixed.aPerSecond, 100*mixed.aPerSecond/soloA.aPerSecond, metOrMissed(mixed.aPerSecond >= 0.9*soloA.aPerSecond))
	}
}

func metOrMissed(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}
