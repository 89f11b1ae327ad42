package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/replay"
)

// replayJobFlags are the settings of the API's replay jobs.
type replayJobFlags struct {
	statusTable, queue, buckets, keysFile, keyID, pathDesc string
	rate                                                   int
}

func (f *replayJobFlags) declare(fs *flagSet) {
	fs.String(&f.statusTable, "status-table", "LOGROUTER_STATUS_TABLE", "", "DynamoDB status table (pk/sk, TTL expires_at): delivery status, and the replay jobs' state")
	fs.String(&f.queue, "queue-url", "LOGROUTER_QUEUE_URL", "", "notification queue replay jobs enqueue on (replay jobs are off without it)")
	fs.String(&f.buckets, "source-buckets", "LOGROUTER_SOURCE_BUCKETS", "", "comma-separated central buckets; replay jobs list the first")
	fs.String(&f.keysFile, "replay-keys-file", "LOGROUTER_REPLAY_KEYS_FILE", "", "replay keys (key_id=secret lines) shared with the processors; signs replay notifications")
	fs.String(&f.keyID, "replay-key-id", "LOGROUTER_REPLAY_KEY_ID", "", "key of --replay-keys-file that signs (default: its only key)")
	fs.Int(&f.rate, "replay-rate", "LOGROUTER_REPLAY_RATE", 100, "most notifications a replay job enqueues per second (0 = no limit)")
	fs.String(&f.pathDesc, "s3-path-style", "LOGROUTER_S3_PATH_STYLE", "auto", "path-style S3 addressing for listing: true, false, or auto (on when AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3 is set)")
}

// jobs returns the replay jobs, or nil when replay jobs are not configured (no queue and no keys file);
// half a configuration is a usage error.
func (f *replayJobFlags) jobs(cfg aws.Config, log *slog.Logger) (*replay.Jobs, error) {
	if f.queue == "" && f.keysFile == "" {
		log.Info("replay jobs are off: set LOGROUTER_QUEUE_URL, LOGROUTER_REPLAY_KEYS_FILE, LOGROUTER_SOURCE_BUCKETS and LOGROUTER_STATUS_TABLE to serve them")
		return nil, nil
	}
	var missing []string
	for name, v := range map[string]string{"--queue-url": f.queue, "--replay-keys-file": f.keysFile, "--source-buckets": f.buckets, "--status-table": f.statusTable} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, usagef("replay jobs need %s as well", strings.Join(missing, ", "))
	}
	if f.rate < 0 {
		return nil, usagef("--replay-rate must not be negative")
	}
	kid, secret, err := signingKey(f.keysFile, f.keyID)
	if err != nil {
		return nil, err
	}
	pathStyle, err := s3PathStyle(f.pathDesc)
	if err != nil {
		return nil, err
	}
	sources := engine.ParseBuckets(f.buckets)
	if len(sources) == 0 {
		return nil, errors.New("--source-buckets names no bucket")
	}
	return replay.NewJobs(replay.JobsOptions{
		DB: dynamodb.NewFromConfig(cfg), Table: f.statusTable, Bucket: sources[0], Sources: sources,
		Lister: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), Queue: sqs.NewFromConfig(cfg),
		QueueURL: f.queue, KeyID: kid, Secret: secret, Rate: float64(f.rate), Logger: log,
	})
}

// serveJobs resumes replay jobs left running and keeps resuming orphaned ones until ctx ends; then it stops
// this process's jobs (they stay resumable by the next API process).
func serveJobs(ctx context.Context, jobs *replay.Jobs) {
	if jobs == nil {
		return
	}
	jobs.Serve(ctx)
	jobs.Close()
}
