package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/logrouter/logrouter/replay"
	"github.com/logrouter/logrouter/tenant"
)

func init() {
	register(&command{
		Name:    "redrive",
		Summary: "move messages from the dead-letter queue back to the notification queue (all, or one tenant's)",
		Doc: `Receives the dead-letter queue's messages (--from, default: the target of --to's redrive policy) and
sends them to --to (the notification queue), deleting each from the DLQ only after --to accepted it (at
least once; the processors skip what was already delivered). With --tenant only messages whose objects
all belong to that tenant move; every other message stays in the DLQ untouched (visible again at the end).
Each message is examined once; the redrive ends when the DLQ has nothing more to show, after --max moved
messages, or on SIGINT. Prints a JSON summary: messages examined, moved and left, per reason and per
tenant. --dry-run only counts.`,
		Setup: func(fs *flagSet) runFunc {
			var from, to, tenantID, logLevel string
			var maxN int
			var dry bool
			var visibility time.Duration
			fs.String(&from, "from", "LOGROUTER_DLQ_URL", "", "dead-letter queue URL (default: the target of --to's redrive policy)")
			fs.String(&to, "to", "LOGROUTER_QUEUE_URL", "", "queue the messages go back to (required)")
			fs.String(&tenantID, "tenant", "LOGROUTER_REDRIVE_TENANT", "", "move only this tenant's messages (default: all)")
			fs.Int(&maxN, "max", "LOGROUTER_REDRIVE_MAX", 0, "most messages moved (0 = all)")
			fs.Bool(&dry, "dry-run", "LOGROUTER_DRY_RUN", false, "count what would move; move nothing")
			fs.Duration(&visibility, "visibility-timeout", "LOGROUTER_REDRIVE_VISIBILITY", 5*time.Minute, "how long examined messages stay hidden while the redrive runs (at most 12h)")
			fs.String(&logLevel, "log-level", "LOGROUTER_LOG_LEVEL", "info", "debug, info, warn or error")
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) != 0 {
					return usagef("redrive takes no arguments")
				}
				if to == "" {
					return usagef("--to (LOGROUTER_QUEUE_URL) is required")
				}
				if tenantID != "" {
					if err := tenant.ValidateTenantID(tenantID); err != nil {
						return usagef("--tenant %q %v", tenantID, err)
					}
				}
				if maxN < 0 {
					return usagef("--max must not be negative")
				}
				if visibility < time.Second || visibility > 12*time.Hour {
					return usagef("--visibility-timeout must be between 1s and 12h")
				}
				log, err := newLogger(sio.Stderr, logLevel)
				if err != nil {
					return err
				}
				cfg, err := loadAWSConfig(ctx)
				if err != nil {
					return err
				}
				sum, runErr := replay.Redrive(ctx, sqs.NewFromConfig(cfg), replay.RedriveOptions{
					From: from, To: to, Tenant: tenantID, Max: maxN, DryRun: dry, Visibility: visibility, Logger: log})
				enc := json.NewEncoder(sio.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(sum); err != nil {
					return err
				}
				if runErr != nil {
					return exitCodeError{code: 1, err: fmt.Errorf("redrive stopped: %w", runErr)}
				}
				return nil
			}
		},
	})
}
