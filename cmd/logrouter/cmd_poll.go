package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/logrouter/logrouter/engine"
)

func init() {
	register(&command{
		Name:    "poll",
		Summary: "long-poll the SQS queue of S3 notifications and deliver each object (the container mode)",
		Doc: `Receives 10 messages per long poll (20 s), issued whenever 10 of its places are free (it holds
--workers + 20 messages: the ones being delivered and the ones waiting for a worker), delivers them
with --workers concurrent objects, keeps each message invisible while its object is being delivered,
and deletes delivered and non-recoverable messages in batches of 10 (waiting up to 1 s for a batch). Recoverable failures are left for redelivery (and the queue's
DLQ after maxReceiveCount). On SIGTERM/SIGINT it stops receiving and lets in-flight work finish
within --shutdown-grace; unfinished messages become visible again with their progress saved.
Serves /metrics, /healthz and /readyz on --metrics-addr.`,
		Setup: func(fs *flagSet) runFunc {
			var ef engineFlags
			var queue, addr string
			var visibility, grace, wait time.Duration
			fs.String(&queue, "queue-url", "LOGROUTER_QUEUE_URL", "", "SQS queue to poll (required)")
			fs.String(&addr, "metrics-addr", "LOGROUTER_METRICS_ADDR", "127.0.0.1:9090", "listen address of /metrics, /healthz and /readyz (\"\" = none)")
			fs.Duration(&visibility, "visibility-timeout", "LOGROUTER_VISIBILITY_TIMEOUT", 60*time.Second, "visibility timeout requested on receive and renewed while a message is in flight")
			fs.Duration(&grace, "shutdown-grace", "LOGROUTER_SHUTDOWN_GRACE", 25*time.Second, "time in-flight work may take to finish after SIGTERM")
			fs.Duration(&wait, "wait-time", "LOGROUTER_WAIT_TIME", 20*time.Second, "long-poll wait per receive (at most 20s)")
			ef.declare(fs)
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) != 0 {
					return usagef("poll takes no arguments")
				}
				if queue == "" {
					return usagef("--queue-url (LOGROUTER_QUEUE_URL) is required")
				}
				reg := prometheus.NewRegistry()
				reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
				// Busy tenants' messages go back to the queue instead of holding a slot (fairshare). Arithmetic,
				// with W the processor's workers and a receive of batch = 10 messages:
				//  - the poller holds W + 2×batch messages, all of which may wait for a worker (Waiting =
				//    2×batch), and issues a receive only when a whole batch fits: when at most batch messages
				//    wait. So under a backlog every receive asks for (and gets) 10, and it is issued while 10
				//    still wait, so a worker that frees always finds a message; with nothing waiting
				//    (W + 2×batch - W ≥ batch places free) a receive is always outstanding.
				//  - a normal receive never takes the waiting places beyond Waiting, so nothing is handed back
				//    for want of a place. Only when one tenant holds more than half of them (Crowded) does the
				//    poller receive another batch beyond W + 2×batch: the other tenants' messages it finds take
				//    the crowding tenant's newest places (handed back), and its own are handed back at once.
				const batch = 10
				const spare = 2 * batch
				rt, log, err := ef.runtime(ctx, sio, reg, func(o *engine.Options) { o.HandBack, o.Waiting = true, spare })
				if err != nil {
					return err
				}
				poller, err := engine.NewPoller(rt.SQS, rt.Processor, engine.PollerOptions{
					QueueURL: queue, Workers: rt.Processor.Workers() + spare, MaxMessages: batch, Crowded: rt.Processor.Crowded,
					WaitTime: wait, Visibility: visibility, Grace: grace, Metrics: rt.Metrics, Logger: log,
				})
				if err != nil {
					return usagef("%v", err)
				}
				srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
				defer stopSrv()
				srvErr := make(chan error, 1)
				if addr != "" {
					go func() { srvErr <- engine.Serve(srvCtx, addr, engine.NewHealthHandler(reg, poller.Ready), nil) }()
				}
				recDone := make(chan struct{})
				if ef.recorder != nil {
					// The recorder flushes on its interval and once more after the poller stopped (shutdown).
					recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
					go func() { defer close(recDone); ef.recorder.Run(recCtx) }()
					defer func() { stopRec(); <-recDone }()
				}
				log.Info("polling", "queue", queue, "region", rt.Region, "metrics_addr", addr, "status_table", ef.statusTable)
				runErr := make(chan error, 1)
				go func() { runErr <- poller.Run(ctx) }()
				select {
				case err := <-srvErr:
					// The listener failed (e.g. the port is taken): stop and say so.
					stopSrv()
					return err
				case err := <-runErr:
					log.Info("stopped")
					return err
				}
			}
		},
	})
}
