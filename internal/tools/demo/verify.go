package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// verifyAndSummarise reads back every destination, prints a per-tenant summary and returns the checks that
// failed.
func (d *demo) verifyAndSummarise(ctx context.Context, exp *expectation, m samples) []string {
	var failures []string
	fail := func(format string, a ...any) { failures = append(failures, fmt.Sprintf(format, a...)) }

	for _, c := range cloudwatchDests {
		fmt.Fprintf(d.out, "\n  %s — CloudWatch Logs %s (account %s)\n", c.tenant, c.logGroup, accountOf(c.roleARN))
		want := map[string]int64{}
		for _, o := range exp.objects {
			if o.key.TenantID == c.tenant && admits(c.desired, c.groups, o.key.Application) {
				want[o.key.PodName] += o.events
			}
		}
		got, samplesByStream, err := d.readLogGroup(ctx, c.roleARN, c.logGroup)
		if err != nil {
			fail("%s: read %s: %v", c.tenant, c.logGroup, err)
			continue
		}
		for _, stream := range sortedStreamNames(want, got) {
			status := "✓"
			if got[stream].events != want[stream] {
				status = "✗"
				fail("%s: stream %s holds %d events, want %d", c.tenant, stream, got[stream].events, want[stream])
			}
			if got[stream].outOfOrder > 0 {
				status = "✗"
				fail("%s: stream %s has %d events out of timestamp order", c.tenant, stream, got[stream].outOfOrder)
			}
			fmt.Fprintf(d.out, "    %s stream %-28s %7d events (expected %d)\n", status, stream, got[stream].events, want[stream])
		}
		for _, s := range samplesByStream {
			fmt.Fprintf(d.out, "      %s  %s\n", s.ts.Format("2006-01-02T15:04:05.000Z07:00"), s.msg)
		}
	}

	for _, s := range s3Dests {
		if s.missing {
			continue // shown by the delivery status below
		}
		fmt.Fprintf(d.out, "\n  %s — S3 s3://%s/%s\n", s.tenant, s.bucket, s.prefix)
		want := map[string]bool{}
		for _, o := range exp.objects {
			if o.key.TenantID == s.tenant && admits(s.desired, s.groups, o.key.Application) {
				want[o.key.DestinationKey(s.prefix)] = true
			}
		}
		keys, meta, err := d.listBucket(ctx, s.bucket)
		if err != nil {
			fail("%s: list %s: %v", s.tenant, s.bucket, err)
			continue
		}
		for _, k := range keys {
			status := "✓"
			if !want[k] {
				status = "✗"
				fail("%s: unexpected object s3://%s/%s", s.tenant, s.bucket, k)
			}
			delete(want, k)
			fmt.Fprintf(d.out, "    %s %s\n", status, k)
		}
		for k := range want {
			fail("%s: object s3://%s/%s was not copied", s.tenant, s.bucket, k)
			fmt.Fprintf(d.out, "    ✗ missing %s\n", k)
		}
		if len(meta) > 0 {
			fmt.Fprintf(d.out, "      metadata: %s\n", formatMeta(meta))
		}
	}

	fmt.Fprintln(d.out, "\n  not delivered, and why")
	var filtered []string
	for _, o := range exp.objects {
		if !anyDestinationAdmits(o) && o.key.TenantID != "umbrella" {
			filtered = append(filtered, o.key.TenantID+"/"+o.key.Application)
		}
	}
	fmt.Fprintf(d.out, "    filtered by their tenant's application filter: %s (%d config matches skipped)\n",
		strings.Join(filtered, ", "), int(m.sum("logrouter_deliveries_filtered_total", nil)))
	dropped := m.by("logrouter_messages_dropped_total", "reason")
	for _, r := range sortedKeys(dropped) {
		fmt.Fprintf(d.out, "    messages dropped (%s): %d\n", r, int(dropped[r]))
	}
	if dropped["no_tenant_config"] < 1 {
		fail("the message for tenant umbrella (no configuration) was not dropped as no_tenant_config")
	}
	if retried := m.sum("logrouter_messages_retried_total", nil); retried > 0 {
		fail("%d message(s) needed a retry", int(retried))
	}
	if failed := m.sum("logrouter_deliveries_total", map[string]string{"outcome": "failed"}); failed > 0 {
		fail("%d deliveries failed", int(failed))
	}

	fmt.Fprintln(d.out, "\n  key metrics")
	fmt.Fprintf(d.out, "    objects %d, events read %s, uncompressed bytes %s\n",
		int(m.sum("logrouter_objects_total", nil)), thousands(m.sum("logrouter_events_read_total", nil)),
		thousands(m.sum("logrouter_object_bytes_decoded_total", nil)))
	deliveries := m.by("logrouter_deliveries_total", "outcome")
	for _, k := range sortedKeys(deliveries) {
		fmt.Fprintf(d.out, "    deliveries %s: %d\n", k, int(deliveries[k]))
	}
	reqs := m.sum("logrouter_putlogevents_requests_total", nil)
	fmt.Fprintf(d.out, "    PutLogEvents requests %d", int(reqs))
	if n := m.sum("logrouter_putlogevents_batch_fill_ratio_count", nil); n > 0 {
		fmt.Fprintf(d.out, ", mean batch fill %.0f%%", 100*m.sum("logrouter_putlogevents_batch_fill_ratio_sum", nil)/n)
	}
	fmt.Fprintln(d.out)
	calls := m.by("logrouter_credentials_assume_role_calls_total", "hop")
	for _, h := range sortedKeys(calls) {
		fmt.Fprintf(d.out, "    AssumeRole calls (%s hop): %d\n", h, int(calls[h]))
	}
	hits, misses := m.sum("logrouter_credentials_cache_hits_total", nil), m.sum("logrouter_credentials_cache_misses_total", nil)
	if hits+misses > 0 {
		fmt.Fprintf(d.out, "    credential cache hit ratio %.0f%%\n", 100*hits/(hits+misses))
	}
	if n := m.sum("logrouter_delivery_latency_seconds_count", nil); n > 0 {
		fmt.Fprintf(d.out, "    mean end-to-end latency %.1fs over %d deliveries\n", m.sum("logrouter_delivery_latency_seconds_sum", nil)/n, int(n))
	}
	return failures
}

func anyDestinationAdmits(o object) bool {
	for _, c := range cloudwatchDests {
		if c.tenant == o.key.TenantID && admits(c.desired, c.groups, o.key.Application) {
			return true
		}
	}
	for _, s := range s3Dests {
		if s.tenant == o.key.TenantID && admits(s.desired, s.groups, o.key.Application) {
			return true
		}
	}
	return false
}

type streamStats struct {
	events     int64
	outOfOrder int64
}

type sampleLine struct {
	ts  time.Time
	msg string
}

// readLogGroup reads a customer's log group with the customer role's credentials, as the customer would.
func (d *demo) readLogGroup(ctx context.Context, roleARN, group string) (map[string]streamStats, []sampleLine, error) {
	stsClient := sts.NewFromConfig(d.cfg)
	out, err := stsClient.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("demo-readback")})
	if err != nil {
		return nil, nil, err
	}
	cfg := d.cfg.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(out.Credentials.AccessKeyId),
		aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
	logs := cloudwatchlogs.NewFromConfig(cfg)
	streams := map[string]streamStats{}
	var samples []sampleLine
	pager := cloudwatchlogs.NewDescribeLogStreamsPaginator(logs, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(group)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range page.LogStreams {
			name := aws.ToString(s.LogStreamName)
			st, sample, err := readStream(ctx, logs, group, name)
			if err != nil {
				return nil, nil, err
			}
			streams[name] = st
			if len(samples) == 0 {
				samples = sample
			}
		}
	}
	return streams, samples, nil
}

func readStream(ctx context.Context, logs *cloudwatchlogs.Client, group, stream string) (streamStats, []sampleLine, error) {
	var st streamStats
	var samples []sampleLine
	var token *string
	var prevTS int64
	for {
		out, err := logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			return st, nil, err
		}
		for _, e := range out.Events {
			ts := aws.ToInt64(e.Timestamp)
			if ts < prevTS {
				st.outOfOrder++
			}
			prevTS = ts
			st.events++
			if len(samples) < 3 {
				msg := strings.ReplaceAll(aws.ToString(e.Message), "\n", " ")
				if len(msg) > 110 {
					msg = msg[:110] + "…"
				}
				samples = append(samples, sampleLine{ts: time.UnixMilli(ts).UTC(), msg: msg})
			}
		}
		if len(out.Events) == 0 || aws.ToString(out.NextForwardToken) == aws.ToString(token) {
			return st, samples, nil
		}
		token = out.NextForwardToken
	}
}

func (d *demo) listBucket(ctx context.Context, bucket string) ([]string, map[string]string, error) {
	client := s3.NewFromConfig(d.cfg, func(o *s3.Options) { o.UsePathStyle = true })
	var keys []string
	pager := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return keys, nil, nil
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[0])})
	if err != nil {
		return keys, nil, err
	}
	return keys, head.Metadata, nil
}

func formatMeta(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func sortedStreamNames(a map[string]int64, b map[string]streamStats) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
