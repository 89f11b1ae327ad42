package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/fairshare"
)

// gatedSink is a sink whose Close waits for a token of its log group's gate (nil gate: no wait), and that
// counts its closes, so that a test decides when each tenant's objects finish.
type gatedSink struct {
	*fakeSink
	gate <-chan struct{}
	done *atomic.Int64
}

func (s *gatedSink) Close() (batcher.Result, error) {
	if s.gate != nil {
		<-s.gate
	}
	r, err := s.fakeSink.Close()
	s.done.Add(1)
	return r, err
}

// TestNoisyNeighbour: tenant A's 500-object backlog is queued before tenant B's 5 objects, with 2 workers.
// Every A object finishes only when the test gives a token, and each token stands for 5 s of the queue's
// clock (so messages handed back become visible again). B's objects must all finish while A finishes only
// a few objects (today: after A's whole backlog); B is never delayed by more than its share.
func TestNoisyNeighbour(t *testing.T) {
	w := newFakeWorld()
	var bodies []string
	obj := vectorObject("x", 20)
	for _, tn := range []string{"tenant-a", "tenant-b"} {
		w.configs[tn] = append(w.configs[tn], cwConfig(tn, "/"+tn, "arn:aws:iam::111111111111:role/"+tn))
		n := map[string]int{"tenant-a": 500, "tenant-b": 5}[tn]
		for i := range n {
			key := fmt.Sprintf("c1/%s/app/pod-1/obj-%03d.json.gz", tn, i)
			w.s3.objects["central/"+key] = obj
			bodies = append(bodies, string(s3Body("central", key)))
		}
	}
	var clock atomic.Int64 // seconds the queue's clock is ahead of the wall clock
	q := newFakeSQS()
	q.now = func() time.Time { return time.Now().Add(time.Duration(clock.Load()) * time.Second) }
	for _, b := range bodies[:500] {
		q.send(b)
	}

	tokens := make(chan struct{})
	var doneA, doneB atomic.Int64
	sched, err := fairshare.New(fairshare.Options{Workers: 2, Waiting: 20}) // as logrouter poll sets it
	require.NoError(t, err)
	p := w.processor(t, func(o *Options) {
		o.Workers, o.HandBack, o.Scheduler = 2, true, sched
		o.NewSink = func(ctx context.Context, c batcher.API, scope string, d batcher.Destination, fns ...func(*batcher.Options)) LogSink {
			fs := w.newSink(ctx, c, scope, d, fns...).(*fakeSink)
			if d.LogGroup == "/tenant-a" {
				return &gatedSink{fakeSink: fs, gate: tokens, done: &doneA}
			}
			return &gatedSink{fakeSink: fs, done: &doneB}
		}
	})
	cancel, done, m := runPoller(t, q, p, PollerOptions{Workers: 2 + 20, Crowded: p.Crowded, Visibility: 30 * time.Second})
	defer func() {
		cancel()
		close(tokens)
		<-done
	}()

	// pendingB: B messages visible in the queue and not yet received since they became visible.
	pendingB := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		n := 0
		for _, msg := range q.msgs {
			if strings.Contains(msg.body, "tenant-b") && !q.now().Before(msg.visibleAt) {
				n++
			}
		}
		return n
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute) // a hang guard, not a timing assumption
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never happened (%+v, %d B messages visible, A done %d, B done %d)", what, sched.Stats(), pendingB(), doneA.Load(), doneB.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	// A alone uses both workers (work-conserving).
	until("tenant A holds both workers", func() bool { return sched.Stats().InFlight["tenant-a"] == 2 })

	for _, b := range bodies[500:] {
		q.send(b)
	}
	aAtStart := doneA.Load()
	for doneB.Load() < 5 {
		// Settle: no B object is running, both workers are busy (with A's objects, which wait for tokens),
		// and B has an object waiting for the next worker, or every visible B message has been received.
		until("settled", func() bool {
			st := sched.Stats()
			return st.Free == 0 && st.InFlight["tenant-b"] == 0 && (st.Waiting["tenant-b"] > 0 || pendingB() == 0)
		})
		if doneB.Load() == 5 {
			break
		}
		require.LessOrEqual(t, doneA.Load()-aAtStart, int64(5), "B's 5 objects wait for at most one of A's each (before fair share: for A's whole backlog)")
		t.Logf("token %d: %+v, %d B visible, B done %d", doneA.Load()-aAtStart, sched.Stats(), pendingB(), doneB.Load())
		before := doneA.Load()
		tokens <- struct{}{} // one A object finishes
		until("an A object finished", func() bool { return doneA.Load() == before+1 })
		clock.Add(5) // handed-back messages are visible again
	}
	t.Logf("B's 5 objects finished while A finished %d", doneA.Load()-aAtStart)
	assert.Positive(t, value(m.MessagesRetried.WithLabelValues(string(ReasonTenantBusy))), "busy tenants' messages were handed back")
	q.mu.Lock()
	for id, v := range q.visibility {
		for _, d := range v {
			require.True(t, d >= 1 && d <= 30, "message %s handed back for %ds", id, d)
		}
	}
	q.mu.Unlock()
}
