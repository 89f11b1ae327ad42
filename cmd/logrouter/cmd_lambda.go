package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/engine"
)

// lambdaRuntimeEnv is set by the Lambda runtime; main chooses the lambda command when it is present.
const lambdaRuntimeEnv = "AWS_LAMBDA_RUNTIME_API"

// lambdaDefault chooses the lambda command when the Lambda runtime starts the binary without arguments
// (as its bootstrap); otherwise args are used as given.
func lambdaDefault(args []string, getenv func(string) string) []string {
	if len(args) == 0 && getenv(lambdaRuntimeEnv) != "" {
		return []string{"lambda"}
	}
	return args
}

// startLambda is lambda.StartWithOptions; tests replace it.
var startLambda = func(handler any, opts ...lambda.Option) { lambda.StartWithOptions(handler, opts...) }

func init() {
	register(&command{
		Name:    "lambda",
		Summary: "serve SQS-triggered AWS Lambda invocations (chosen automatically when AWS_LAMBDA_RUNTIME_API is set)",
		Doc: `Handles SQS event batches with partial batch responses: enable ReportBatchItemFailures on the
event source mapping. Records whose delivery failed recoverably, and records not finished
--deadline-reserve before the invocation's deadline, are reported as failures and redelivered;
the others are deleted by Lambda. Replay notifications (logrouter replay, the API's replay jobs) are
accepted when LOGROUTER_REPLAY_KEYS holds the key that signed them (processor-lambda.yaml's NoEcho
parameter ReplayKeys sets it); without replay keys they are dropped, which the function logs at start.`,
		Setup: func(fs *flagSet) runFunc {
			var ef engineFlags
			var reserve time.Duration
			fs.Duration(&reserve, "deadline-reserve", "LOGROUTER_DEADLINE_RESERVE", 10*time.Second, "stop starting and cancel work this long before the invocation's deadline")
			ef.declare(fs)
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) != 0 {
					return usagef("lambda takes no arguments")
				}
				rt, log, err := ef.runtime(ctx, sio, prometheus.NewRegistry())
				if err != nil {
					return err
				}
				h := engine.NewLambdaHandler(rt.Processor, engine.LambdaOptions{Workers: ef.s.Workers, Reserve: reserve, Metrics: rt.Metrics})
				if ef.recorder != nil {
					// A frozen execution environment flushes nothing: write at the end of every invocation.
					inner := h
					h = func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
						resp, err := inner(ctx, ev)
						fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
						ef.flushStatus(fctx, log)
						cancel()
						return resp, err
					}
				}
				startLambda(h, lambda.WithContext(ctx))
				return nil
			}
		},
	})
}
