package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/replay"
	"github.com/logrouter/logrouter/tenant"
)

func init() {
	register(&command{
		Name:    "replay",
		Summary: "re-deliver a tenant's objects from the central bucket (enqueue signed notifications, or deliver here with --local)",
		Doc: `Lists the tenant's objects in the central bucket (cluster prefixes with a delimiter, then
{cluster}/{tenant}/), keeps those whose LastModified is in [--since, --until), and either enqueues one
signed replay notification per object on --queue-url (at most --rate per second) for the poller fleet, or
delivers them in this process with the engine (--local, which takes the poll flags and needs the fleet's
--progress-table to skip what was delivered). TIME is RFC 3339 or a duration before now (48h, 90m, 7d).

Replays are idempotent: a destination that already has an object version is skipped. --force delivers
again under a new replay id: that DUPLICATES what the destination already holds. --type limits the
destination types (replaying CloudWatch does not copy S3 objects again). Events older than CloudWatch's 14
days are dropped and counted (--clamp moves them to the window's edge instead). --dry-run prints one JSON
line per object (key, size, LastModified, whether it is out of CloudWatch's window) and sends nothing.

A progress line (listed, in window, enqueued/delivered, bytes, rate, ETA) is shown on a terminal; a JSON
summary is printed at the end. On SIGINT the replay stops and prints the --id and --start-after that
continue it; continuing covers every object once. Processors accept replay notifications only when they
share a replay key (--replay-keys-file); enqueueing signs with --replay-key-id (default: the file's only
key). Listing uses the caller's AWS credentials (s3:ListBucket on the central bucket).
Exit status: 0 done, 1 objects failed (--local), 2 usage, 130 interrupted.`,
		Setup: func(fs *flagSet) runFunc {
			var ef engineFlags
			var tenantID, clusters, apps, since, until, types, startAfter, id, bucket, queue, keyID, progress string
			var dry, force, clamp, local bool
			var rate int
			fs.String(&tenantID, "tenant", "LOGROUTER_REPLAY_TENANT", "", "tenant whose objects are replayed (required)")
			fs.String(&clusters, "cluster", "LOGROUTER_REPLAY_CLUSTERS", "", "comma-separated clusters to replay (default: all)")
			fs.String(&apps, "application", "LOGROUTER_REPLAY_APPLICATIONS", "", "comma-separated applications to replay (default: all)")
			fs.String(&since, "since", "LOGROUTER_REPLAY_SINCE", "", "replay objects written at or after TIME (RFC 3339 or a duration before now: 48h, 7d)")
			fs.String(&until, "until", "LOGROUTER_REPLAY_UNTIL", "", "replay objects written before TIME (default: no bound, so a continuation covers what arrived meanwhile)")
			fs.String(&types, "type", "LOGROUTER_REPLAY_TYPES", "", "comma-separated destination types: cloudwatch, s3 (default: both)")
			fs.Bool(&dry, "dry-run", "LOGROUTER_DRY_RUN", false, "list the objects, their sizes and how many are out of CloudWatch's window; send nothing")
			fs.Bool(&force, "force", "LOGROUTER_REPLAY_FORCE", false, "deliver again to destinations that already have the objects (DUPLICATES them)")
			fs.Bool(&clamp, "clamp", "LOGROUTER_REPLAY_CLAMP", false, "move CloudWatch events older than 14 days to the window's edge instead of dropping them")
			fs.Int(&rate, "rate", "LOGROUTER_REPLAY_RATE", 100, "most notifications enqueued per second (0 = no limit)")
			fs.Bool(&local, "local", "LOGROUTER_REPLAY_LOCAL", false, "deliver in this process with the engine instead of enqueueing")
			fs.String(&startAfter, "start-after", "LOGROUTER_REPLAY_START_AFTER", "", "continue an interrupted replay after this key (with its --id)")
			fs.String(&id, "id", "LOGROUTER_REPLAY_ID", "", "replay id (default: a new one; reuse it to continue a replay)")
			fs.String(&bucket, "bucket", "LOGROUTER_REPLAY_BUCKET", "", "central bucket to list (default: the first of --source-buckets, which must hold it)")
			fs.String(&queue, "queue-url", "LOGROUTER_QUEUE_URL", "", "queue of the poller fleet (required unless --local or --dry-run)")
			fs.String(&keyID, "replay-key-id", "LOGROUTER_REPLAY_KEY_ID", "", "key of --replay-keys-file that signs the notifications (default: its only key)")
			fs.String(&progress, "progress", "LOGROUTER_REPLAY_PROGRESS", "auto", "progress line on stderr: auto (on a terminal), always or never")
			ef.declare(fs)
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) != 0 {
					return usagef("replay takes no arguments")
				}
				now := time.Now()
				spec := replay.Spec{ID: id, Tenant: tenantID, Bucket: bucket, Clusters: splitList(clusters), Applications: splitList(apps),
					Force: force, Clamp: clamp, StartAfter: startAfter}
				if spec.ID == "" {
					spec.ID = replay.NewID(now)
				}
				var err error
				if spec.Since, err = replay.ParseTime(since, now); err != nil {
					return usagef("--since: %v", err)
				}
				if spec.Until, err = replay.ParseTime(until, now); err != nil {
					return usagef("--until: %v", err)
				}
				for _, t := range splitList(types) {
					spec.Types = append(spec.Types, tenant.Type(t))
				}
				sources := engine.ParseBuckets(ef.buckets)
				if spec.Bucket == "" && len(sources) > 0 {
					spec.Bucket = sources[0]
				}
				if tenantID == "" {
					return usagef("--tenant (LOGROUTER_REPLAY_TENANT) is required")
				}
				if len(sources) == 0 {
					return usagef("--source-buckets (LOGROUTER_SOURCE_BUCKETS) is required: the central bucket to list is its first, or --bucket, which must be one of them")
				}
				if err := spec.Validate(sources); err != nil {
					return usagef("%v", err)
				}
				if rate < 0 {
					return usagef("--rate must not be negative")
				}
				if dry && local {
					return usagef("--dry-run and --local exclude each other")
				}
				cfg, err := loadAWSConfig(ctx)
				if err != nil {
					return err
				}
				pathStyle, err := s3PathStyle(ef.pathDesc)
				if err != nil {
					return err
				}
				o := replay.Options{Lister: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), Rate: float64(rate)}
				log, err := newLogger(sio.Stderr, ef.logLevel)
				if err != nil {
					return err
				}
				o.Logger = log
				enc := json.NewEncoder(sio.Stdout)
				verb := "enqueued"
				switch {
				case dry:
					o.DryRun, verb = true, "listed"
					o.OnObject = func(obj replay.Object) { _ = enc.Encode(obj) }
				case local:
					if ef.s.ProgressTable == "" && !force {
						return usagef("--local without --progress-table (LOGROUTER_PROGRESS_TABLE) cannot see what the fleet delivered and would deliver every object again: give the fleet's progress table, or --force to duplicate on purpose")
					}
					rt, _, err := ef.runtime(ctx, sio, prometheus.NewRegistry())
					if err != nil {
						return err
					}
					o.Deliverer, o.Workers, verb = rt.Processor, rt.Processor.Workers(), "delivered"
				default:
					if queue == "" {
						return usagef("--queue-url (LOGROUTER_QUEUE_URL) is required to enqueue (or give --local or --dry-run)")
					}
					keys, err := ef.replayKeySet()
					if err != nil {
						return err
					}
					kid, secret, err := pickSigningKey(keys, keyID)
					if err != nil {
						return err
					}
					o.Queue, o.QueueURL, o.KeyID, o.Secret = sqs.NewFromConfig(cfg), queue, kid, secret
				}
				p := &replay.Progress{}
				if showProgress(progress, sio) {
					rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
					done := make(chan struct{})
					go func() { replay.Report(rctx, sio.Stderr, p, verb, time.Second); close(done) }()
					defer func() { stop(); <-done }()
				}
				sum, runErr := replay.Run(ctx, &spec, o, p)
				if err := enc.Encode(sum); err != nil {
					return err
				}
				if runErr != nil {
					cont := fmt.Sprintf("logrouter replay --tenant %s --id %s", spec.Tenant, spec.ID)
					if sum.NextStartAfter != "" {
						cont += " --start-after " + shellQuote(sum.NextStartAfter)
					}
					fmt.Fprintf(sio.Stderr, "logrouter replay: stopped: %v\ncontinue with the same flags and: %s\n", runErr, cont)
					if errors.Is(runErr, context.Canceled) {
						return exitCodeError{code: 130}
					}
					return exitCodeError{code: 1}
				}
				if sum.Failed > 0 {
					return exitCodeError{code: 1, err: fmt.Errorf("%d objects were not delivered (see failed_by_reason); the replay is idempotent: run it again once the cause is fixed", sum.Failed)}
				}
				return nil
			}
		},
	})
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// signingKey picks the replay key of file that signs notifications.
func signingKey(file, keyID string) (string, []byte, error) {
	if file == "" {
		return pickSigningKey(nil, keyID)
	}
	keys, err := loadReplayKeys(file)
	if err != nil {
		return "", nil, err
	}
	return pickSigningKey(keys, keyID)
}

// pickSigningKey picks the key of keys that signs notifications: keyID, or the only key.
func pickSigningKey(keys api.Keys, keyID string) (string, []byte, error) {
	if len(keys) == 0 {
		return "", nil, usagef("a replay key (--replay-keys-file / LOGROUTER_REPLAY_KEYS_FILE, or LOGROUTER_REPLAY_KEYS) is required to enqueue: processors drop unsigned replay notifications")
	}
	if keyID == "" {
		if len(keys) != 1 {
			return "", nil, usagef("the replay keys hold %d keys: choose one with --replay-key-id", len(keys))
		}
		for k := range keys {
			keyID = k
		}
	}
	secret, ok := keys[keyID]
	if !ok {
		return "", nil, usagef("replay key %q is not among the replay keys (they hold %s)", keyID, strings.Join(replayKeyIDs(keys), ", "))
	}
	return keyID, secret, nil
}

func showProgress(mode string, sio stdio) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := sio.Stderr.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
