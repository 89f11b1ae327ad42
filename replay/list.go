package replay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/engine"
)

// S3Lister is the subset of *s3.Client a listing calls.
type S3Lister interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Object is one listed object of the window.
type Object struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag,omitempty"` // unquoted
	LastModified time.Time `json:"last_modified"`
	// TooOld: written more than 14 days ago; CloudWatch accepts none of its events.
	TooOld bool `json:"out_of_cloudwatch_window,omitempty"`
}

// ListStats count what a listing saw. Fields are updated atomically while it runs.
type ListStats struct {
	Clusters     atomic.Int64 // cluster prefixes listed
	Listed       atomic.Int64 // tenant objects listed (before the time window)
	Matched      atomic.Int64 // in the window
	MatchedBytes atomic.Int64
	BeforeWindow atomic.Int64
	AfterWindow  atomic.Int64
	TooOld       atomic.Int64 // matched, written more than 14 days ago
	BadKeys      atomic.Int64 // keys outside the layout (never deliverable)
	Done         atomic.Bool  // the listing reached its end
}

// listPage is the page size asked of S3 (its maximum); tests lower it to cross page boundaries.
var listPage int32 = 1000

// List calls fn with each object of the spec's tenant whose time is in the window, in key order, reading
// one page at a time. It stops at fn's first error (returned) and when ctx ends. now decides which objects
// are too old for CloudWatch.
func List(ctx context.Context, c S3Lister, spec *Spec, now time.Time, st *ListStats, fn func(Object) error) error {
	oldest := now.Add(-batcher.MaxAge)
	visit := func(cluster string) error {
		st.Clusters.Add(1)
		base := cluster + "/" + spec.Tenant + "/"
		prefixes := []string{base}
		if len(spec.Applications) > 0 {
			prefixes = prefixes[:0]
			for _, a := range spec.Applications {
				prefixes = append(prefixes, base+a+"/")
			}
			slices.Sort(prefixes) // "/"-terminated prefixes do not nest: sorted prefixes list keys in order
			prefixes = slices.Compact(prefixes)
		}
		for _, p := range prefixes {
			after, skip := startAfter(spec.StartAfter, p)
			if skip {
				continue
			}
			if err := listPrefix(ctx, c, spec, p, after, oldest, st, fn); err != nil {
				return err
			}
		}
		return nil
	}
	if len(spec.Clusters) > 0 {
		cs := slices.Clone(spec.Clusters)
		slices.SortFunc(cs, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
		for _, cl := range slices.Compact(cs) {
			if _, skip := startAfter(spec.StartAfter, cl+"/"); skip {
				continue
			}
			if err := visit(cl); err != nil {
				return err
			}
		}
		st.Done.Store(true)
		return nil
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(spec.Bucket), Delimiter: aws.String("/"), MaxKeys: aws.Int32(listPage)}
	if k := spec.StartAfter; k != "" {
		in.StartAfter = aws.String(k[:strings.IndexByte(k, '/')]) // its cluster's prefix and every later one
	}
	for {
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("list the clusters of s3://%s: %w", spec.Bucket, err)
		}
		for _, cp := range out.CommonPrefixes {
			cl := strings.TrimSuffix(aws.ToString(cp.Prefix), "/")
			if segment(cl) != nil {
				continue
			}
			if _, skip := startAfter(spec.StartAfter, cl+"/"); skip {
				continue
			}
			if err := visit(cl); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			st.Done.Store(true)
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// startAfter says how a prefix is listed when continuing after key: skipped (all its keys are <= key),
// from after key (key is inside it), or whole.
func startAfter(key, prefix string) (after string, skip bool) {
	switch {
	case key == "" || key < prefix:
		return "", false
	case strings.HasPrefix(key, prefix):
		return key, false
	}
	return "", true
}

func listPrefix(ctx context.Context, c S3Lister, spec *Spec, prefix, after string, oldest time.Time, st *ListStats, fn func(Object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(spec.Bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(listPage)}
	if after != "" {
		in.StartAfter = aws.String(after)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", spec.Bucket, prefix, err)
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			st.Listed.Add(1)
			if _, err := engine.ParseObjectKey(key); err != nil {
				st.BadKeys.Add(1)
				continue
			}
			lm := aws.ToTime(o.LastModified)
			switch {
			case !spec.Since.IsZero() && lm.Before(spec.Since):
				st.BeforeWindow.Add(1)
				continue
			case !spec.Until.IsZero() && !lm.Before(spec.Until):
				st.AfterWindow.Add(1)
				continue
			}
			obj := Object{Key: key, Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`), LastModified: lm.UTC(),
				TooOld: lm.Before(oldest)}
			st.Matched.Add(1)
			st.MatchedBytes.Add(obj.Size)
			if obj.TooOld {
				st.TooOld.Add(1)
			}
			if err := fn(obj); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}
