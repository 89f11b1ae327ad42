package replay

import (
	"context"
	"sync"
	"time"

	"github.com/logrouter/logrouter/engine"
)

// deliver hands each object to the Deliverer, o.Workers at a time, and folds the results into sum. It
// returns the last key such that it and every key before it were handled (delivered or failed for good in
// this run; interrupted objects are not handled).
func deliver(ctx context.Context, spec *Spec, m engine.Replay, o Options, p *Progress, start time.Time, sum *Summary) (string, error) {
	workers := o.Workers
	if workers < 1 {
		workers = 4
	}
	type job struct {
		seq int64
		obj Object
	}
	jobs := make(chan job)
	var mu sync.Mutex
	w := newWatermark()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				ref := engine.ObjectRef{Bucket: spec.Bucket, Key: j.obj.Key, Size: j.obj.Size, ETag: j.obj.ETag, VersionID: j.obj.VersionID, EventTime: j.obj.LastModified, Replay: &m}
				res := processLeased(ctx, o.Deliverer, ref)
				interrupted := res.Reason == engine.ReasonInterrupted && ctx.Err() != nil
				mu.Lock()
				if !interrupted {
					fold(sum, res)
					w.done(j.seq)
				}
				mu.Unlock()
				if interrupted {
					continue
				}
				p.Handled.Add(1)
				p.Bytes.Add(j.obj.Size)
				if res.Outcome != engine.OutcomeSuccess {
					p.Failed.Add(1)
					o.Logger.Warn("replayed object not delivered", "key", res.Key, "outcome", res.Outcome.String(), "reason", string(res.Reason), "error", res.Error)
				}
			}
		})
	}
	var seq int64
	err := List(ctx, o.Lister, spec, start, &p.List, func(obj Object) error {
		mu.Lock()
		w.add(seq, obj.Key)
		mu.Unlock()
		select {
		case jobs <- job{seq, obj}:
			seq++
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(jobs)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return w.key, err
}

// processLeased delivers ref, waiting out the leases of other processes: a destination that another process
// is delivering at this moment (live traffic, or the fleet working on an enqueued replay of the same object)
// answers ReasonLeased with the lease's end; by then that delivery is done (found so, already_done) or has died
// (taken over at its last checkpoint). Only ctx ends the wait.
func processLeased(ctx context.Context, d Deliverer, ref engine.ObjectRef) engine.ObjectResult {
	for {
		res := d.ProcessObject(ctx, ref)
		if res.Reason != engine.ReasonLeased || res.RetryAfter <= 0 {
			return res
		}
		t := time.NewTimer(res.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			res.Reason = engine.ReasonInterrupted
			return res
		case <-t.C:
		}
	}
}

// fold adds one object's result to the summary.
func fold(sum *Summary, res engine.ObjectResult) {
	if res.Outcome == engine.OutcomeSuccess {
		sum.Delivered++
	} else {
		sum.Failed++
		if sum.FailedReasons == nil {
			sum.FailedReasons = map[string]int64{}
		}
		sum.FailedReasons[string(res.Reason)]++
		if len(sum.FailedKeys) < maxFailedKeys {
			sum.FailedKeys = append(sum.FailedKeys, res.Key)
		}
	}
	for _, d := range res.Destinations {
		if d.AlreadyDone {
			sum.AlreadyDone++
			continue
		}
		if d.Outcome == engine.OutcomeSuccess {
			sum.DestDelivered++
		}
		sum.Events += d.Events
		if d.Stats != nil {
			sum.EventsDropped += d.Stats.DroppedOutOfWindow
			sum.EventsClamped += d.Stats.Clamped
			sum.EventsRejected += d.Stats.RejectedTooOld + d.Stats.RejectedTooNew + d.Stats.RejectedExpired
		}
	}
}

// watermark tracks the highest sequence number below which everything is done, and its key.
type watermark struct {
	next    int64            // lowest sequence number not done
	pending map[int64]string // listed, keyed by sequence number, until the watermark passes them
	fin     map[int64]bool
	key     string
}

func newWatermark() *watermark {
	return &watermark{pending: map[int64]string{}, fin: map[int64]bool{}}
}

func (w *watermark) add(seq int64, key string) { w.pending[seq] = key }

func (w *watermark) done(seq int64) {
	w.fin[seq] = true
	for w.fin[w.next] {
		w.key = w.pending[w.next]
		delete(w.fin, w.next)
		delete(w.pending, w.next)
		w.next++
	}
}
