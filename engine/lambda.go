package engine

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func defaultCPUs() int { return runtime.GOMAXPROCS(0) }

// LambdaOptions configure the Lambda handler.
type LambdaOptions struct {
	// Workers bounds records processed at once (default 2 × CPUs).
	Workers int
	// Reserve is the time before the invocation's deadline after which no new record is started and
	// running ones are cancelled (their progress saved); default 10s, at most a quarter of the time left.
	Reserve time.Duration
	Metrics *Metrics
}

// NewLambdaHandler returns an SQS event handler for aws-lambda-go that reports partial batch failures
// (the event source mapping must enable ReportBatchItemFailures): records whose outcome is recoverable, and
// records not finished before the deadline, are returned as failures; the others are deleted by Lambda.
func NewLambdaHandler(h MessageHandler, o LambdaOptions) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	if o.Workers <= 0 {
		o.Workers = 2 * defaultCPUs()
	}
	if o.Reserve <= 0 {
		o.Reserve = 10 * time.Second
	}
	count := func(f func(*Metrics)) {
		if o.Metrics != nil {
			f(o.Metrics)
		}
	}
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		work := ctx
		if dl, ok := ctx.Deadline(); ok {
			// A short function timeout must still leave time for work: reserve at most a quarter of it.
			reserve := min(o.Reserve, time.Until(dl)/4)
			var cancel context.CancelFunc
			work, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
			defer cancel()
		}
		failed := make([]bool, len(ev.Records))
		slots := make(chan struct{}, o.Workers)
		var wg sync.WaitGroup
		for i, r := range ev.Records {
			count(func(m *Metrics) { m.MessagesReceived.Inc() })
			select {
			case slots <- struct{}{}:
			case <-work.Done():
			}
			if work.Err() != nil {
				failed[i] = true
				count(func(m *Metrics) { m.MessagesRetried.WithLabelValues(string(ReasonInterrupted)).Inc() })
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				res := h.ProcessMessage(work, []byte(r.Body))
				switch res.Outcome {
				case OutcomeRetry:
					failed[i] = true
					count(func(m *Metrics) { m.MessagesRetried.WithLabelValues(string(res.Reason)).Inc() })
				case OutcomeDropped:
					count(func(m *Metrics) {
						m.MessagesDropped.WithLabelValues(string(res.Reason)).Inc()
						m.MessagesDeleted.Inc()
					})
				default:
					count(func(m *Metrics) { m.MessagesDeleted.Inc() })
				}
			})
		}
		wg.Wait()
		var resp events.SQSEventResponse
		for i, f := range failed {
			if f {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
			}
		}
		return resp, nil
	}
}
