// Command demo runs the whole logrouter pipeline on this machine against a private AWS emulator (moto):
//
//	make demo        (= go run ./internal/tools/demo --bin bin/logrouter)
//
// It deploys deploy/cloudformation/central.yaml into moto, creates two customers' buckets, starts
// `logrouter api` and registers delivery configs through `logrouter configs`, uploads generated Vector objects
// (bench/corpus) for configured tenants, filtered applications and a tenant with no configuration, runs
// `logrouter poll` until the queue drains with a live progress display, then reads back what each tenant
// received from CloudWatch Logs and S3 and checks it against what the objects hold. It stops everything it
// started and removes its files, also on Ctrl-C or failure, and exits non-zero when anything is not as
// expected. With --keep-running (make demo KEEP=1) the stack stays up after the checks, until Ctrl-C.
//
//	make dev         (= go run ./internal/tools/demo --dev --bin bin/logrouter)
//
// starts the same stack without the demo's tenants and objects — moto, the central stack, the API with a
// generated key, `logrouter poll` — prints the settings to use it from another shell and the first steps
// to try, and keeps it running until Ctrl-C, which stops everything and removes its files.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/logrouter/logrouter/internal/motoserver"
)

const (
	region    = "us-east-1"
	clusterID = "demo-cluster"
)

type options struct {
	bin        string
	template   string
	objectSize int64
	timeout    time.Duration
	keep       bool
	// dev starts the stack and serves it until ctx ends, without the demo's scenario (make dev).
	dev bool
	// keepRunning serves the stack after the demo's checks, until ctx ends (make demo KEEP=1).
	keepRunning bool
	// examples is the examples/ directory the printed next steps use.
	examples string
	// envFile is where a kept stack writes its export lines (default: in its temp dir); removed at the end.
	envFile string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/logrouter", "the logrouter binary to run")
	flag.StringVar(&o.template, "template", "deploy/cloudformation/central.yaml", "CloudFormation template of the central side")
	flag.Int64Var(&o.objectSize, "object-bytes", 1<<20, "uncompressed size of each generated object")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this long")
	flag.BoolVar(&o.keep, "keep-logs", false, "keep the processes' log files (their folder is printed)")
	flag.BoolVar(&o.dev, "dev", false, "start the local stack and keep it running until Ctrl-C, without the demo's scenario (make dev)")
	flag.BoolVar(&o.keepRunning, "keep-running", false, "keep the stack running after the demo's checks, until Ctrl-C (make demo KEEP=1)")
	flag.StringVar(&o.examples, "examples", "examples", "the examples/ directory the printed next steps use")
	flag.StringVar(&o.envFile, "env-file", "", "with --dev or --keep-running: write the export lines here too (removed on exit)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o, os.Stdout, os.Stderr)
	if err == nil && (o.dev || o.keepRunning) {
		fmt.Fprintln(os.Stderr, "stopped: everything the stack started was stopped and its files removed")
		return
	}
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		fmt.Fprintln(os.Stderr, "\ndemo interrupted: everything it started was stopped and its files removed")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo FAILED: %v\n", err)
		os.Exit(1)
	}
}

// demo holds what the run started, so that cleanup can stop it.
type demo struct {
	o       options
	out     io.Writer
	status  io.Writer
	dir     string
	moto    *motoserver.Server
	cfg     aws.Config
	baseEnv []string
	procs   []*proc
	stack   map[string]string
	api     apiClient // the running API, once started
	envFile string    // the export lines, once written

	replayKeysFile string // the replay keys shared by the API, poll and `logrouter replay`, once written
}

// replayKeys writes, once, the replay keys file the API's replay jobs and `logrouter replay` sign with and
// poll checks replay notifications with.
func (d *demo) replayKeys() (string, error) {
	if d.replayKeysFile != "" {
		return d.replayKeysFile, nil
	}
	f := filepath.Join(d.dir, "replay-keys")
	if err := os.WriteFile(f, []byte("demo-replay="+randomHex(32)+"\n"), 0o600); err != nil {
		return "", err
	}
	d.replayKeysFile = f
	return f, nil
}

func run(ctx context.Context, o options, out, status io.Writer) (err error) {
	started := time.Now()
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("logrouter binary: %w (run `make build` first)", err)
	}
	o.bin = bin
	dir, err := os.MkdirTemp("", "logrouter-demo-")
	if err != nil {
		return err
	}
	out = &syncWriter{w: out} // poll's reports are printed from another goroutine
	d := &demo{o: o, out: out, status: status, dir: dir}
	defer d.cleanup(&err)
	// The timeout bounds the setup and the demo's scenario; a kept stack then runs until ctx ends.
	serveCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	if err := d.startStack(ctx); err != nil {
		return err
	}
	if o.dev {
		return d.serveDev(serveCtx, ctx)
	}

	d.step("starting `logrouter api` and registering delivery configs with `logrouter configs create`")
	if err := d.startAPIAndRegister(ctx); err != nil {
		return err
	}

	d.step("uploading generated Vector objects to the central bucket")
	expect, err := d.uploadObjects(ctx)
	if err != nil {
		return err
	}

	d.step("running `logrouter poll` until the queue drains")
	final, err := d.pollUntilDrained(ctx, expect)
	if err != nil {
		return err
	}

	d.step("reading back what each tenant received")
	failures := d.verifyAndSummarise(ctx, expect, final)

	d.step("delivery status, usage and validation as `logrouter configs` reports them")
	failures = append(failures, d.showStatus(ctx)...)
	fmt.Fprintf(out, "\ndemo finished in %s\n", time.Since(started).Round(100*time.Millisecond))
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Fprintf(out, "  ✗ %s\n", f)
		}
		return fmt.Errorf("%d check(s) failed", len(failures))
	}
	fmt.Fprintln(out, "all checks passed ✓")
	if o.keepRunning {
		return d.serve(serveCtx, ctx)
	}
	return nil
}

// startStack starts moto and deploys the central side and the customers' side into it: what both the demo
// and the dev stack need.
func (d *demo) startStack(ctx context.Context) (err error) {
	out, o := d.out, d.o
	dir := d.dir
	d.step("starting the AWS emulator (moto)")
	if d.moto, err = motoserver.Start(ctx, "", 60*time.Second); err != nil {
		return err
	}
	d.cfg = aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider("demo", "demo", ""),
		BaseEndpoint:     aws.String(d.moto.URL),
		RetryMaxAttempts: 5,
	}
	d.baseEnv = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"AWS_REGION=" + region, "AWS_ACCESS_KEY_ID=demo", "AWS_SECRET_ACCESS_KEY=demo",
		"AWS_ENDPOINT_URL=" + d.moto.URL, "AWS_EC2_METADATA_DISABLED=true",
	}
	fmt.Fprintf(out, "  moto at %s\n", d.moto.URL)

	d.step("deploying " + o.template + " into the emulator")
	if err := d.deployCentral(ctx); err != nil {
		return err
	}
	for _, k := range []string{"CentralBucketName", "QueueUrl", "TenantTableName", "ProgressTableName", "StatusTableName", "CentralLogDistributionRoleArn"} {
		fmt.Fprintf(out, "  %-30s %s\n", k, d.stack[k])
	}

	d.step("creating the customers' side: S3 buckets " + joinBuckets())
	return d.createCustomerSide(ctx)
}

func (d *demo) step(msg string) {
	fmt.Fprintf(d.out, "\n==> %s\n", msg)
}

// cleanup stops every process the demo started and removes its files; on failure it shows the processes'
// last log lines first.
func (d *demo) cleanup(errp *error) {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		if *errp != nil {
			fmt.Fprintf(d.status, "\n--- last lines of %s ---\n%s\n", p.name, p.tail(15))
		}
		_ = p.stop(10 * time.Second)
	}
	if d.moto != nil {
		d.moto.Stop()
	}
	if d.envFile != "" {
		os.Remove(d.envFile)
	}
	if d.o.keep {
		fmt.Fprintf(d.status, "logs kept in %s\n", d.dir)
		return
	}
	os.RemoveAll(d.dir)
}

func (d *demo) env(extra ...string) []string {
	return append(append([]string(nil), d.baseEnv...), extra...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// runCLI runs the logrouter binary once and returns its stdout.
func (d *demo) runCLI(ctx context.Context, env []string, stdin []byte, args ...string) ([]byte, error) {
	p, err := startProcCapture(ctx, d.o.bin, env, stdin, args...)
	if err != nil {
		return p.stdout, fmt.Errorf("logrouter %v: %w\n%s", args, err, bytes.TrimSpace(p.stderr))
	}
	return p.stdout, nil
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

var errDrainTimeout = errors.New("the queue did not drain in time")
