// Package cost measures the AWS calls logrouter makes per object: it runs `logrouter poll` on many small
// objects against the AWS emulator (moto) behind a counting proxy, checks that every object reached every
// destination, and relates each operation's calls to the least any processor could make (see Report).
package cost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/logrouter/logrouter/bench/corpus"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/internal/motoserver"
	"github.com/logrouter/logrouter/status"
	"github.com/logrouter/logrouter/tenant"
)

// Options describe a cost run. Zero values take the defaults.
type Options struct {
	// Exe is the logrouter binary; the run starts `Exe poll` (required).
	Exe string
	// Endpoint is a running AWS emulator's URL; empty starts a private moto_server (Moto, default on PATH).
	Endpoint string
	Moto     string
	// Tenants (default 20), each with a CloudWatch and an S3 destination; PodsPerTenant (default 4) pods
	// per tenant, one log stream each; Objects (default 500) of MinBytes-MaxBytes uncompressed (default
	// 10-50 KB), spread over the pods.
	Tenants       int
	PodsPerTenant int
	Objects       int
	MinBytes      int
	MaxBytes      int
	Seed          uint64
	// Pollers is the number of `logrouter poll` processes sharing the queue (default 1).
	Pollers int
	// Env adds settings to the poll process (e.g. LOGROUTER_STREAM_PROBE=put-first).
	Env []string
	// Label names the run in the report (default "default settings").
	Label string
	// Timeout bounds the whole run (default 10 minutes).
	Timeout  time.Duration
	Progress io.Writer
}

func (o *Options) defaults() {
	if o.Tenants == 0 {
		o.Tenants = 20
	}
	if o.PodsPerTenant == 0 {
		o.PodsPerTenant = 4
	}
	if o.Objects == 0 {
		o.Objects = 500
	}
	if o.MinBytes == 0 {
		o.MinBytes = 10_000
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 50_000
	}
	if o.Pollers == 0 {
		o.Pollers = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Label == "" {
		o.Label = "default settings"
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

func (o *Options) validate() error {
	switch {
	case o.Exe == "":
		return errors.New("cost: the logrouter binary is required")
	case o.Tenants < 1 || o.Tenants > 1000:
		return fmt.Errorf("cost: tenants %d outside 1..1000", o.Tenants)
	case o.PodsPerTenant < 1 || o.PodsPerTenant > 100:
		return fmt.Errorf("cost: pods per tenant %d outside 1..100", o.PodsPerTenant)
	case o.Pollers < 1 || o.Pollers > 8:
		return fmt.Errorf("cost: pollers %d outside 1..8", o.Pollers)
	case o.Objects < 1 || o.Objects > 100_000:
		return fmt.Errorf("cost: objects %d outside 1..100000", o.Objects)
	case o.MinBytes < corpus.MinLineBytes || o.MaxBytes < o.MinBytes || o.MaxBytes > 1<<20:
		return fmt.Errorf("cost: object sizes %d-%d outside %d..1 MiB", o.MinBytes, o.MaxBytes, corpus.MinLineBytes)
	}
	return nil
}

const (
	region         = "us-east-1"
	centralAccount = "123456789012" // moto's account
	cluster        = "cost-cluster"
)

// object is one generated source object.
type object struct {
	key    string
	tenant int
	stream string // pod name = log stream
	lines  int64
	raw    int64 // uncompressed bytes
	gz     int64
	body   []byte
}

// world is what a run set up in the emulator.
type world struct {
	sfx                     string
	central, queueURL       string
	tenantTable, progTable  string
	statusTable             string
	objects                 []object
	streams                 map[string]int64 // group\x00stream → events expected
	groups                  []string
	roles                   map[string]string // log group → customer role ARN
	destBuckets             []string
	s3c                     *s3.Client
	sqsc                    *sqs.Client
	base                    aws.Config
	ddb                     *dynamodb.Client
	eventsTotal, raw, gzTot int64
}

// Run performs one cost run and reports what it counted.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	endpoint := o.Endpoint
	if endpoint == "" {
		srv, err := motoserver.Start(ctx, o.Moto, 60*time.Second)
		if err != nil {
			return nil, fmt.Errorf("cost: %w", err)
		}
		defer srv.Stop()
		endpoint = srv.URL
	}
	base := aws.Config{
		Region:       region,
		Credentials:  awscreds.NewStaticCredentialsProvider("cost", "cost", ""),
		BaseEndpoint: aws.String(endpoint),
	}
	fmt.Fprintf(o.Progress, "cost: %s: setting up %d tenants, %d objects\n", o.Label, o.Tenants, o.Objects)
	w, err := setUp(ctx, base, o)
	if err != nil {
		return nil, fmt.Errorf("cost: set up: %w", err)
	}
	proxy, err := StartProxy(endpoint, map[string]string{w.tenantTable: "tenant table", w.progTable: "progress table", w.statusTable: "status table"})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()

	fmt.Fprintf(o.Progress, "cost: %s: polling\n", o.Label)
	began := time.Now()
	logPath, err := w.poll(ctx, o, proxy.URL)
	took := time.Since(began)
	if err != nil {
		return nil, fmt.Errorf("cost: %w (poll log: %s)", err, logPath)
	}
	counts := proxy.Counts()
	if err := w.verify(ctx); err != nil {
		return nil, fmt.Errorf("cost: the run did not deliver everything, its counts mean nothing: %w (poll log: %s)", err, logPath)
	}
	os.Remove(logPath)
	return w.result(o, counts, took), nil
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func setUp(ctx context.Context, base aws.Config, o Options) (*world, error) {
	w := &world{sfx: randomSuffix(), streams: map[string]int64{}, roles: map[string]string{}, base: base}
	w.s3c = s3.NewFromConfig(base, func(so *s3.Options) { so.UsePathStyle = true })
	w.sqsc = sqs.NewFromConfig(base)
	w.ddb = dynamodb.NewFromConfig(base)
	w.central = "cost-central-" + w.sfx
	w.tenantTable, w.progTable, w.statusTable = "cost-tenants-"+w.sfx, "cost-progress-"+w.sfx, "cost-status-"+w.sfx

	if err := tenant.CreateTable(ctx, w.ddb, w.tenantTable); err != nil {
		return nil, err
	}
	if err := engine.CreateProgressTable(ctx, w.ddb, w.progTable); err != nil {
		return nil, err
	}
	if err := status.CreateTable(ctx, w.ddb, w.statusTable); err != nil {
		return nil, err
	}
	q, err := w.sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("cost-queue-" + w.sfx)})
	if err != nil {
		return nil, err
	}
	w.queueURL = aws.ToString(q.QueueUrl)
	attrs, err := w.sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return nil, err
	}
	if _, err := w.s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(w.central)}); err != nil {
		return nil, err
	}
	if _, err := w.s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(w.central),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			QueueArn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
			Events:   []s3types.Event{s3types.EventS3ObjectCreated},
		}}},
	}); err != nil {
		return nil, err
	}
	// S3 → SQS notifications start with a test event; drop it so that the queue holds only object events.
	if err := w.purge(ctx); err != nil {
		return nil, err
	}

	store := tenant.NewStore(w.ddb, w.tenantTable)
	apps := []string{"api", "worker"}
	for i := range o.Tenants {
		id := tenantID(i)
		group := "/cost/" + w.sfx + "/" + id
		bucket := "cost-dest-" + w.sfx + "-" + strconv.Itoa(i)
		role := fmt.Sprintf("arn:aws:iam::%012d:role/cost-delivery", 200000000000+i)
		w.groups = append(w.groups, group)
		w.roles[group] = role
		w.destBuckets = append(w.destBuckets, bucket)
		if _, err := w.s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			return nil, err
		}
		for _, c := range []tenant.Config{
			{TenantID: id, Type: tenant.TypeCloudWatch, DesiredLogs: apps, LogGroupName: group,
				LogDistributionRoleARN: role},
			{TenantID: id, Type: tenant.TypeS3, DesiredLogs: apps, BucketName: bucket},
		} {
			c.Normalize()
			if err := c.Validate(time.Now()); err != nil {
				return nil, err
			}
			if _, err := store.Create(ctx, c); err != nil {
				return nil, err
			}
		}
	}

	// The objects: round-robin over tenants, then over each tenant's pods; timestamps of the last minutes.
	rng := mrand.New(mrand.NewPCG(o.Seed, 17))
	start := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second)
	for k := range o.Objects {
		ti := k % o.Tenants
		pod := fmt.Sprintf("%s-%d", apps[(k/o.Tenants)%o.PodsPerTenant%len(apps)], (k/o.Tenants)%o.PodsPerTenant)
		app := apps[(k/o.Tenants)%o.PodsPerTenant%len(apps)]
		var buf bytes.Buffer
		size := o.MinBytes + rng.IntN(o.MaxBytes-o.MinBytes+1)
		sum, err := corpus.Generate(&buf, corpus.Options{
			Seed: int64(o.Seed)*1_000_003 + int64(k), TargetBytes: int64(size), Start: start.Add(time.Duration(k) * time.Millisecond),
			ClusterID: cluster, Namespace: tenantID(ti), Application: app, PodName: pod,
		})
		if err != nil {
			return nil, err
		}
		ob := object{
			key:    fmt.Sprintf("%s/%s/%s/%s/%06d.log.gz", cluster, tenantID(ti), app, pod, k),
			tenant: ti, stream: pod, lines: sum.Lines, raw: sum.UncompressedBytes, gz: sum.CompressedBytes, body: buf.Bytes(),
		}
		w.objects = append(w.objects, ob)
		w.streams[w.groups[ti]+"\x00"+pod] += sum.Lines
		w.eventsTotal += sum.Lines
		w.raw += sum.UncompressedBytes
		w.gzTot += sum.CompressedBytes
	}
	for _, ob := range w.objects {
		if _, err := w.s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.central), Key: aws.String(ob.key), Body: bytes.NewReader(ob.body)}); err != nil {
			return nil, err
		}
	}
	for i := range w.objects {
		w.objects[i].body = nil
	}
	// Every object's notification must be queued before polling starts: the backlog is what is measured.
	for {
		n, _, err := w.backlog(ctx)
		if err != nil {
			return nil, err
		}
		if n >= o.Objects {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d notifications queued: %w", n, o.Objects, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return w, nil
}

func tenantID(i int) string { return fmt.Sprintf("tenant-%02d", i) }

// purge removes messages that are not object-created events (the s3:TestEvent S3 sends when a
// notification is configured).
func (w *world) purge(ctx context.Context) error {
	for {
		out, err := w.sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return err
		}
		if len(out.Messages) == 0 {
			return nil
		}
		for _, m := range out.Messages {
			if _, err := w.sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(w.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return err
			}
		}
	}
}

// backlog returns the queue's visible and in-flight message counts.
func (w *world) backlog(ctx context.Context) (visible, inFlight int, err error) {
	out, err := w.sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(w.queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, err
	}
	visible, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight, nil
}

// poll runs o.Pollers `logrouter poll` processes through the proxy until the queue is empty, then stops
// them as an orchestrator would (SIGTERM) and waits for them to exit. It returns their log file.
func (w *world) poll(ctx context.Context, o Options, proxyURL string) (string, error) {
	logf, err := os.CreateTemp("", "logrouter-cost-poll-*.log")
	if err != nil {
		return "", err
	}
	defer logf.Close()
	var procs []*exec.Cmd
	exited := make(chan error, o.Pollers)
	for range o.Pollers {
		cmd := exec.Command(o.Exe, "poll", "--metrics-addr=")
		cmd.Env = append([]string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
			"AWS_REGION=" + region, "AWS_ACCESS_KEY_ID=cost", "AWS_SECRET_ACCESS_KEY=cost",
			"AWS_ENDPOINT_URL=" + proxyURL, "AWS_EC2_METADATA_DISABLED=true",
			"LOGROUTER_QUEUE_URL=" + w.queueURL,
			"LOGROUTER_TENANT_TABLE=" + w.tenantTable,
			"LOGROUTER_PROGRESS_TABLE=" + w.progTable,
			"LOGROUTER_STATUS_TABLE=" + w.statusTable,
			"LOGROUTER_CENTRAL_ROLE_ARN=arn:aws:iam::" + centralAccount + ":role/cost-central",
			"LOGROUTER_SOURCE_BUCKETS=" + w.central,
		}, o.Env...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			stopAll(procs, exited)
			return logf.Name(), fmt.Errorf("start %s poll: %w", o.Exe, err)
		}
		procs = append(procs, cmd)
		go func() { exited <- cmd.Wait() }()
	}
	for {
		select {
		case err := <-exited:
			exited <- err // stopAll counts it
			stopAll(procs, exited)
			return logf.Name(), fmt.Errorf("poll exited before the queue was empty: %v", err)
		case <-ctx.Done():
			stopAll(procs, exited)
			return logf.Name(), fmt.Errorf("queue not drained: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		visible, inFlight, err := w.backlog(ctx)
		if err != nil {
			stopAll(procs, exited)
			return logf.Name(), err
		}
		if visible+inFlight == 0 {
			if err := stopAll(procs, exited); err != nil {
				return logf.Name(), fmt.Errorf("poll: %w", err)
			}
			return logf.Name(), nil
		}
	}
}

// stopAll sends SIGTERM to every process and waits for them all to exit (SIGKILL after 60 s).
func stopAll(procs []*exec.Cmd, exited chan error) error {
	for _, c := range procs {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	deadline := time.After(60 * time.Second)
	for range procs {
		select {
		case err := <-exited:
			if err != nil {
				errs = append(errs, err)
			}
		case <-deadline:
			for _, c := range procs {
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			}
			return errors.New("poll did not stop within 60s of SIGTERM")
		}
	}
	return errors.Join(errs...)
}

// verify checks that every stream holds exactly its objects' events and every destination bucket a copy of
// each of its tenant's objects: calls counted for an incomplete (or duplicated) delivery would flatter it.
func (w *world) verify(ctx context.Context) error {
	var errs []error
	clients := map[string]*cloudwatchlogs.Client{}
	for gs, want := range w.streams {
		group, stream, _ := strings.Cut(gs, "\x00")
		cwl := clients[group]
		if cwl == nil {
			// The log groups are in the tenants' accounts: read them with the customer role's credentials.
			c, err := w.customerLogs(ctx, w.roles[group])
			if err != nil {
				return err
			}
			clients[group], cwl = c, c
		}
		var got int64
		var token *string
		for {
			out, err := cwl.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
				LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", group, stream, err))
				break
			}
			got += int64(len(out.Events))
			if len(out.Events) == 0 || aws.ToString(out.NextForwardToken) == aws.ToString(token) {
				break
			}
			token = out.NextForwardToken
		}
		if got != want {
			errs = append(errs, fmt.Errorf("%s %s: %d events, want %d", group, stream, got, want))
		}
	}
	perBucket := map[string]int{}
	for _, ob := range w.objects {
		perBucket[w.destBuckets[ob.tenant]]++
	}
	for b, want := range perBucket {
		n := 0
		p := s3.NewListObjectsV2Paginator(w.s3c, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				errs = append(errs, fmt.Errorf("list %s: %w", b, err))
				break
			}
			n += len(out.Contents)
		}
		if n != want {
			errs = append(errs, fmt.Errorf("bucket %s: %d copies, want %d", b, n, want))
		}
	}
	if len(errs) > 5 {
		errs = append(errs[:5], fmt.Errorf("and %d more", len(errs)-5))
	}
	return errors.Join(errs...)
}

// customerLogs returns a CloudWatch Logs client with role's credentials (the emulator keeps each account's
// log groups apart, as AWS does).
func (w *world) customerLogs(ctx context.Context, role string) (*cloudwatchlogs.Client, error) {
	out, err := sts.NewFromConfig(w.base).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("cost-verify")})
	if err != nil {
		return nil, fmt.Errorf("assume %s: %w", role, err)
	}
	cfg := w.base.Copy()
	c := out.Credentials
	cfg.Credentials = awscreds.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cloudwatchlogs.NewFromConfig(cfg), nil
}

// result relates the counts to the run's shape.
func (w *world) result(o Options, counts map[Call]Tally, took time.Duration) *Result {
	r := &Result{
		Label: o.Label, Env: o.Env, Pollers: o.Pollers, Objects: len(w.objects), Tenants: o.Tenants, Streams: len(w.streams),
		Groups: len(w.groups), Events: w.eventsTotal, UncompressedBytes: w.raw, CompressedBytes: w.gzTot,
		Seconds: math.Round(took.Seconds()*10) / 10, Counts: map[string]Tally{},
	}
	for c, t := range counts {
		r.Counts[c.String()] = t
	}
	r.Evaluate()
	return r
}
