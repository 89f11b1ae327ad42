package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The sample object's place in the key layout, used by the printed next steps: its cluster, namespace
// (tenant), application and pod.
const (
	devCluster = "dev-cluster"
	devTenant  = "acme-corp"
	devApp     = "kube-apiserver"
	devPod     = "kube-apiserver-0"
)

// readyLine starts the line printed once the stack serves; scripts (and the dev stack's test) wait for it.
const readyLine = "ready:"

// serveDev starts what the demo starts besides its scenario — the API with a generated key and `logrouter
// poll` — and serves the stack until ctx ends. setup bounds the starting.
func (d *demo) serveDev(ctx, setup context.Context) error {
	d.step("starting `logrouter api` with a generated key")
	if _, err := d.startAPI(setup, "dev"); err != nil {
		return err
	}
	return d.serve(ctx, setup)
}

// serve creates the buckets the examples' S3 configs name, starts `logrouter poll` (reporting each object
// it handles), prints the settings and next steps, then blocks until ctx ends. The API must be running;
// a poll the demo stopped is started again.
func (d *demo) serve(ctx, setup context.Context) error {
	d.step("creating the buckets the examples' S3 configs name")
	buckets, err := d.exampleBuckets()
	if err != nil {
		return err
	}
	client := s3.NewFromConfig(d.cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range buckets {
		if _, err := client.CreateBucket(setup, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
		fmt.Fprintf(d.out, "  s3://%s\n", b)
	}
	d.step("starting `logrouter poll` (each object it handles is reported here)")
	// Configs are re-read after 1s, so a config created in another shell applies to the next object, and
	// delivery status is written every second, so `configs status` shows a delivery at once.
	if _, _, err := d.startPoll(setup, d.reportObject, "LOGROUTER_CONFIG_CACHE_TTL=1s", "LOGROUTER_TENANT_METRICS=false",
		"LOGROUTER_STATUS_FLUSH_INTERVAL=1s"); err != nil {
		return err
	}
	if err := d.printUsage(); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\n%s the local stack runs until Ctrl-C, which stops it and removes everything it started\n\n", readyLine)
	<-ctx.Done()
	fmt.Fprintln(d.out, "\nstopping the local stack")
	return nil
}

// reportObject prints a line for each "object processed" log line of poll.
func (d *demo) reportObject(line []byte) {
	var l struct {
		Msg          string   `json:"msg"`
		Tenant       string   `json:"tenant"`
		Key          string   `json:"key"`
		Outcome      string   `json:"outcome"`
		Reason       string   `json:"reason"`
		EventsRead   int64    `json:"events_read"`
		Destinations []string `json:"destinations"`
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "object processed" {
		return
	}
	fmt.Fprintf(d.out, "  [poll] object %s: %s", l.Key, l.Outcome)
	if l.Reason != "" {
		fmt.Fprintf(d.out, " (%s)", l.Reason)
	}
	fmt.Fprintf(d.out, ", %d events read\n", l.EventsRead)
	for _, dest := range l.Destinations {
		fmt.Fprintf(d.out, "         → %s\n", dest)
	}
}

// exampleConfig reads one of the examples' delivery configs.
func (d *demo) exampleConfig(rel string) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(d.o.examples, rel))
	if err != nil {
		return nil, fmt.Errorf("read example config: %w (run from the repository root, or give --examples)", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("example config %s: %w", rel, err)
	}
	return c, nil
}

// exampleBuckets lists the buckets the examples' S3 configs deliver to.
func (d *demo) exampleBuckets() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(d.o.examples, "configs", "*.json"))
	if err != nil {
		return nil, err
	}
	more, err := filepath.Glob(filepath.Join(d.o.examples, "configs", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range append(files, more...) {
		rel, _ := filepath.Rel(d.o.examples, f)
		c, err := d.exampleConfig(rel)
		if err != nil {
			return nil, err
		}
		if b, ok := c["bucket_name"].(string); ok && !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no S3 config under %s/configs", d.o.examples)
	}
	return out, nil
}

// printUsage prints the export lines (also written to DIR/env) and three next steps.
func (d *demo) printUsage() error {
	examples, err := filepath.Abs(d.o.examples)
	if err != nil {
		return err
	}
	objects, err := filepath.Glob(filepath.Join(examples, "objects", "*.log.gz"))
	if err != nil || len(objects) == 0 {
		return fmt.Errorf("no sample object in %s/objects", examples)
	}
	object := objects[0]
	cfgFile := filepath.Join(examples, "configs", "cloudwatch-groups.json")
	cfg, err := d.exampleConfig(filepath.Join("configs", "cloudwatch-groups.json"))
	if err != nil {
		return err
	}
	role, _ := cfg["log_distribution_role_arn"].(string)
	group, _ := cfg["log_group_name"].(string)
	if role == "" || group == "" {
		return fmt.Errorf("%s has no log_distribution_role_arn or log_group_name", cfgFile)
	}
	exports := []string{
		"export AWS_ENDPOINT_URL=" + d.moto.URL,
		"export AWS_REGION=" + region + " AWS_DEFAULT_REGION=" + region + " AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo",
		"export AWS_EC2_METADATA_DISABLED=true",
		"export LOGROUTER_API_URL=" + d.api.url + " LOGROUTER_API_KEY_ID=" + d.api.keyID,
		"export LOGROUTER_API_SECRET_FILE=" + d.api.secretFile,
		"export LOGROUTER_CENTRAL_BUCKET=" + d.stack["CentralBucketName"],
		"export LOGROUTER_SOURCE_BUCKETS=" + d.stack["CentralBucketName"] + " LOGROUTER_QUEUE_URL=" + d.stack["QueueUrl"],
		"export LOGROUTER_REPLAY_KEYS_FILE=" + d.replayKeysFile,
		"export PATH=" + filepath.Dir(d.o.bin) + ":$PATH",
	}
	envFile := d.o.envFile
	if envFile == "" {
		envFile = filepath.Join(d.dir, "env")
	}
	if err := os.WriteFile(envFile, []byte(strings.Join(exports, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	d.envFile = envFile
	key := strings.Join([]string{devCluster, devTenant, devApp, devPod, filepath.Base(object)}, "/")

	out := d.out
	fmt.Fprintf(out, "\nIn another shell, use the stack with these settings (or: source %s):\n\n", envFile)
	for _, e := range exports {
		fmt.Fprintf(out, "  %s\n", e)
	}
	fmt.Fprintf(out, "\nNext steps (each numbered line explains, the indented lines are the commands):\n\n")
	fmt.Fprintf(out, "  1. Create a delivery config for tenant %s from an example (CloudWatch Logs, %s):\n", devTenant, group)
	fmt.Fprintf(out, "     logrouter configs create %s %s\n\n", devTenant, cfgFile)
	fmt.Fprintf(out, "  2. Upload the sample Vector object where Vector would write it; this window reports its delivery:\n")
	fmt.Fprintf(out, "     aws s3 cp %s s3://$LOGROUTER_CENTRAL_BUCKET/%s\n\n", object, key)
	fmt.Fprintf(out, "  3. Read the logs back as the customer: moto keeps accounts apart, so assume the customer's role first:\n")
	for _, l := range readBackScript(role, group) {
		fmt.Fprintf(out, "     %s\n", l)
	}
	fmt.Fprintf(out, "\n  More: logrouter configs status %s (delivery status); logrouter help; examples/README.md;\n", devTenant)
	fmt.Fprintf(out, "  the S3 examples name the buckets created above.\n")
	return nil
}

// readBackScript is the shell that reads group's events with role's credentials.
func readBackScript(role, group string) []string {
	return []string{
		"( read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN < <(aws sts assume-role \\",
		"    --role-arn " + role + " --role-session-name dev \\",
		"    --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)",
		"  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN",
		"  aws logs filter-log-events --log-group-name " + group + " --query 'events[].[message]' --output text )",
	}
}
