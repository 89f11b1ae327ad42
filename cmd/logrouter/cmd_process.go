package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/engine"
)

func init() {
	register(&command{
		Name:    "process",
		Summary: "deliver one notification (stdin) or one object (--bucket/--key) once and print a JSON summary",
		Args:    "[< MESSAGE]",
		Doc: `Reads an SQS message body (S3 event notification, optionally in an SNS envelope) or a Lambda SQS
event from stdin, or takes --bucket and --key, delivers it once and prints a JSON summary of every
destination (events, requests, bytes, outcome). Exits 1 when anything was not delivered.
--dry-run resolves tenant, filters and destinations and prints them without sending.`,
		Setup: func(fs *flagSet) runFunc {
			var ef engineFlags
			var bucket, key string
			var dry bool
			fs.String(&bucket, "bucket", "LOGROUTER_PROCESS_BUCKET", "", "bucket of one object to deliver (with --key)")
			fs.String(&key, "key", "LOGROUTER_PROCESS_KEY", "", "key of one object to deliver (not URL-encoded)")
			fs.Bool(&dry, "dry-run", "LOGROUTER_DRY_RUN", false, "resolve and print the destinations without sending")
			ef.declare(fs)
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) != 0 {
					return usagef("process takes no arguments; give the message on stdin or --bucket and --key")
				}
				if (bucket == "") != (key == "") {
					return usagef("--bucket and --key go together")
				}
				rt, log, err := ef.runtime(ctx, sio, prometheus.NewRegistry())
				if err != nil {
					return err
				}
				var results []engine.MessageResult
				if bucket != "" {
					ref := engine.ObjectRef{Bucket: bucket, Key: key}
					var r engine.ObjectResult
					if dry {
						r = rt.Processor.PlanObject(ctx, ref)
					} else {
						r = rt.Processor.ProcessObject(ctx, ref)
					}
					results = append(results, engine.MessageResult{Outcome: r.Outcome, Reason: r.Reason, Error: r.Error, Objects: []engine.ObjectResult{r}})
				} else {
					in, err := io.ReadAll(io.LimitReader(sio.Stdin, 8<<20))
					if err != nil {
						return fmt.Errorf("read stdin: %w", err)
					}
					for _, body := range engine.MessageBodies(in) {
						if dry {
							results = append(results, rt.Processor.PlanMessage(ctx, body))
						} else {
							results = append(results, rt.Processor.ProcessMessage(ctx, body))
						}
					}
				}
				if !dry {
					fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
					ef.flushStatus(fctx, log)
					cancel()
				}
				enc := json.NewEncoder(sio.Stdout)
				enc.SetIndent("", "  ")
				failed := false
				for _, r := range results {
					if err := enc.Encode(r); err != nil {
						return err
					}
					failed = failed || r.Outcome != engine.OutcomeSuccess
				}
				if failed {
					return exitCodeError{code: 1}
				}
				return nil
			}
		},
	})
}
