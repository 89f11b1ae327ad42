package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/status"
)

// engineFlags are the settings poll, lambda and process share.
type engineFlags struct {
	s        engine.Settings
	buckets  string
	pathDesc string
	logLevel string

	statusTable    string
	statusInterval time.Duration
	usageRetention time.Duration
	// recorder is set by runtime when a status table is configured.
	recorder *status.Recorder
	// replayKeys is the file of replay keys (key_id=secret lines) that authenticate replay markers;
	// replayKeysInline holds the same keys in the setting itself (Lambda has no file to mount).
	replayKeys, replayKeysInline string
}

func (f *engineFlags) declare(fs *flagSet) {
	fs.String(&f.s.TenantTable, "tenant-table", "LOGROUTER_TENANT_TABLE", "tenant-configurations", "DynamoDB table of delivery configs")
	fs.String(&f.s.CentralRoleARN, "central-role-arn", "LOGROUTER_CENTRAL_ROLE_ARN", "", "central log distribution role (required)")
	fs.String(&f.s.ExternalID, "external-id", "LOGROUTER_EXTERNAL_ID", "", "ExternalId for customer roles whose config has none (default: the central account id)")
	fs.String(&f.buckets, "source-buckets", "LOGROUTER_SOURCE_BUCKETS", "", "comma-separated central buckets whose events are accepted (required)")
	fs.Int(&f.s.Workers, "workers", "LOGROUTER_WORKERS", 0, "objects delivered concurrently (0 = 2 × CPUs)")
	fs.Int(&f.s.TenantInFlight, "tenant-in-flight", "LOGROUTER_TENANT_IN_FLIGHT", 0, "one tenant's share of the workers while other tenants wait; alone it may use all (0 = half the workers, at least 1)")
	fs.String(&f.s.LogStreamTemplate, "log-stream-template", "LOGROUTER_LOG_STREAM_TEMPLATE", "{pod_name}", "CloudWatch log stream name; placeholders {cluster_id}, {tenant_id}, {application}, {pod_name}")
	fs.Duration(&f.s.ConfigCacheTTL, "config-cache-ttl", "LOGROUTER_CONFIG_CACHE_TTL", 60*time.Second, "how long a tenant's delivery configs are cached")
	fs.Int(&f.s.MaxEventBytes, "max-event-bytes", "LOGROUTER_MAX_EVENT_BYTES", 1_048_576, "largest CloudWatch event incl. 26 bytes overhead: 1048576 or 262144 (longer messages are split)")
	fs.String(&f.s.OutOfWindow, "out-of-window", "LOGROUTER_OUT_OF_WINDOW", "clamp", "events outside CloudWatch's time window: clamp (move to the edge) or drop")
	fs.String(&f.s.StreamProbe, "stream-probe", "LOGROUTER_STREAM_PROBE", "auto", "a log stream not yet seen: put-first (create on ResourceNotFound), create-first (CreateLogStream before the first put), or auto (create first only in a group this process created)")
	fs.String(&f.pathDesc, "s3-path-style", "LOGROUTER_S3_PATH_STYLE", "auto", "path-style S3 addressing: true, false, or auto (on when AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3 is set)")
	fs.String(&f.s.ProgressTable, "progress-table", "LOGROUTER_PROGRESS_TABLE", "", "DynamoDB table (partition key \"id\", TTL attribute \"ttl\") keeping delivery progress across crashes; empty = in memory only")
	fs.Bool(&f.s.TenantMetrics, "tenant-metrics", "LOGROUTER_TENANT_METRICS", false, "add per-tenant metrics (logrouter_tenant_*); keep off for large fleets")
	fs.Int(&f.s.BreakerThreshold, "breaker-threshold", "LOGROUTER_BREAKER_THRESHOLD", 3, "consecutive AccessDenied errors that open a tenant's circuit breaker (negative = never)")
	fs.Duration(&f.s.BreakerCooldown, "breaker-cooldown", "LOGROUTER_BREAKER_COOLDOWN", 30*time.Second, "how long an open circuit breaker fails the tenant's deliveries fast")
	fs.Duration(&f.s.DetachAfter, "detach-after", "LOGROUTER_DETACH_AFTER", 20*time.Second, "how long an object's stream waits for one of its several CloudWatch destinations before detaching it (it resumes on redelivery)")
	fs.String(&f.logLevel, "log-level", "LOGROUTER_LOG_LEVEL", "info", "debug, info, warn or error")
	fs.String(&f.replayKeys, "replay-keys-file", "LOGROUTER_REPLAY_KEYS_FILE", "", "file of key_id=secret lines authenticating replay notifications (shared with `logrouter replay` and the API); empty = replay notifications are dropped")
	fs.String(&f.replayKeysInline, "replay-keys", "LOGROUTER_REPLAY_KEYS", "", "the replay keys themselves instead of a file: key_id=secret entries separated by commas or newlines (secrets without commas), for Lambda; set the variable, not the flag (a flag shows in the process list); excludes --replay-keys-file")
	fs.String(&f.statusTable, "status-table", "LOGROUTER_STATUS_TABLE", "", "DynamoDB table of per-tenant delivery status and usage (pk/sk, TTL expires_at); empty = not recorded")
	fs.Duration(&f.statusInterval, "status-flush-interval", "LOGROUTER_STATUS_FLUSH_INTERVAL", status.DefaultFlushInterval, "how often delivery status and usage are written (at most one write per tenant × type per interval)")
	fs.Duration(&f.usageRetention, "usage-retention", "LOGROUTER_USAGE_RETENTION", status.DefaultUsageRetention, "how long daily usage items are kept (DynamoDB TTL)")
}

// flushStatus writes the recorded status and usage, if any is recorded; failures are logged.
func (f *engineFlags) flushStatus(ctx context.Context, log *slog.Logger) {
	if f.recorder == nil {
		return
	}
	if err := f.recorder.Flush(ctx); err != nil {
		log.Warn("delivery status flush failed", "error", err.Error())
	}
}

// runtime validates the flags and wires the engine; getenv is the process environment.
func (f *engineFlags) runtime(ctx context.Context, sio stdio, reg prometheus.Registerer, extra ...func(*engine.Options)) (*engine.Runtime, *slog.Logger, error) {
	log, err := newLogger(sio.Stderr, f.logLevel)
	if err != nil {
		return nil, nil, err
	}
	f.s.SourceBuckets = engine.ParseBuckets(f.buckets)
	if f.s.S3PathStyle, err = s3PathStyle(f.pathDesc); err != nil {
		return nil, nil, err
	}
	// The required settings, named as the user gives them (engine.Settings.Validate knows no flags).
	var missing []string
	if f.s.CentralRoleARN == "" {
		missing = append(missing, "the central role ARN is required: --central-role-arn (LOGROUTER_CENTRAL_ROLE_ARN)")
	}
	if len(f.s.SourceBuckets) == 0 {
		missing = append(missing, "at least one source bucket is required: --source-buckets (LOGROUTER_SOURCE_BUCKETS)")
	}
	if len(missing) > 0 {
		return nil, nil, usagef("%s", strings.Join(missing, "; "))
	}
	if err := f.s.Validate(); err != nil {
		return nil, nil, usagef("%v", err)
	}
	if f.s.ReplayKeys, err = f.replayKeySet(); err != nil {
		return nil, nil, err
	}
	if len(f.s.ReplayKeys) == 0 {
		log.Info("replay notifications are dropped: set LOGROUTER_REPLAY_KEYS_FILE (or LOGROUTER_REPLAY_KEYS) to accept them")
	} else {
		log.Info("replay notifications are accepted", "replay_key_ids", replayKeyIDs(f.s.ReplayKeys))
	}
	cfg, err := loadAWSConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	var optFns []func(*engine.Options)
	if f.statusTable != "" {
		rec, err := status.NewRecorder(status.NewTable(dynamodb.NewFromConfig(cfg), f.statusTable), status.RecorderOptions{
			FlushInterval: f.statusInterval, UsageRetention: f.usageRetention, Registerer: reg, TenantHealth: f.s.TenantMetrics, Logger: log,
		})
		if err != nil {
			return nil, nil, usagef("%v", err)
		}
		f.recorder = rec
		optFns = append(optFns, func(o *engine.Options) { o.Status = rec })
	} else {
		log.Info("delivery status and usage are not recorded: set LOGROUTER_STATUS_TABLE to record them")
	}
	rt, err := engine.NewRuntime(ctx, cfg, f.s, reg, log, append(optFns, extra...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("set up the engine: %w", err)
	}
	return rt, log, nil
}

// s3PathStyle reads the --s3-path-style setting: true, false, or auto (on when an endpoint override is set).
func s3PathStyle(desc string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(desc)) {
	case "auto", "":
		return os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "", nil
	}
	v, err := strconv.ParseBool(desc)
	if err != nil {
		return false, usagef("s3 path style %q is not true, false or auto", desc)
	}
	return v, nil
}

// replayKeySet returns the replay keys of --replay-keys-file or --replay-keys, or nil when neither is set.
// Its errors never contain a secret.
func (f *engineFlags) replayKeySet() (api.Keys, error) {
	switch {
	case f.replayKeys != "" && f.replayKeysInline != "":
		return nil, usagef("give --replay-keys-file (LOGROUTER_REPLAY_KEYS_FILE) or --replay-keys (LOGROUTER_REPLAY_KEYS), not both")
	case f.replayKeys != "":
		return loadReplayKeys(f.replayKeys)
	case f.replayKeysInline != "":
		// Entries separated by commas are lines of a keys file: a CloudFormation parameter or a Lambda
		// environment variable is written on one line.
		keys, err := api.ParseKeys(strings.NewReader(strings.ReplaceAll(f.replayKeysInline, ",", "\n")))
		if err != nil {
			return nil, fmt.Errorf("replay keys of LOGROUTER_REPLAY_KEYS (--replay-keys; each comma-separated entry counts as a line): %w", err)
		}
		return keys, nil
	}
	return nil, nil
}

// replayKeyIDs lists the key ids (never the secrets), sorted.
func replayKeyIDs(keys api.Keys) []string {
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// loadReplayKeys reads a replay keys file: key_id=secret lines, as the API's keys file.
func loadReplayKeys(path string) (api.Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay keys: %w", err)
	}
	defer f.Close()
	keys, err := api.ParseKeys(f)
	if err != nil {
		return nil, fmt.Errorf("replay keys file %s: %w", path, err)
	}
	return keys, nil
}
