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

// versionLister is implemented by listers that can list object versions (an *s3.Client): in a versioned
// bucket the replay names each object's current version, as S3's notification did, so that the processor
// finds the original delivery's progress.
type versionLister interface {
	GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, optFns ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// Object is one listed object of the window.
type Object struct {
	Key          string    `json:"key"`
	VersionID    string    `json:"version_id,omitempty"` // versioned buckets: the current version
	Size         int64     `json:"size"`
	ETag         string    `json:"etag,omitempty"` // unquoted
	LastModified time.Time `json:"last_modified"`
	// TooOld: written more than 14 days ago; CloudWatch accepts none of its events.
	TooOld bool `json:"out_of_cloudwatch_window"`
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
	var versions versionLister
	if vl, ok := c.(versionLister); ok {
		out, err := vl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(spec.Bucket)})
		if err != nil {
			return fmt.Errorf("read the versioning of s3://%s (s3:GetBucketVersioning; a versioned bucket is listed by version): %w", spec.Bucket, err)
		}
		if out.Status != "" { // Enabled or Suspended: objects have version ids
			versions = vl
		}
	}
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
			var err error
			if versions != nil {
				err = listVersions(ctx, versions, spec, p, after, oldest, st, fn)
			} else {
				err = listPrefix(ctx, c, spec, p, after, oldest, st, fn)
			}
			if err != nil {
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
			obj := Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag), LastModified: aws.ToTime(o.LastModified)}
			if err := consider(spec, obj, oldest, st, fn); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// listVersions lists the current versions under prefix (after the key after), in key order.
func listVersions(ctx context.Context, c versionLister, spec *Spec, prefix, after string, oldest time.Time, st *ListStats, fn func(Object) error) error {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(spec.Bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(listPage)}
	if after != "" {
		in.KeyMarker = aws.String(after)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			return fmt.Errorf("list the versions of s3://%s/%s: %w", spec.Bucket, prefix, err)
		}
		for _, v := range out.Versions {
			if !aws.ToBool(v.IsLatest) {
				continue // older versions were notified, and delivered, in their time
			}
			obj := Object{Key: aws.ToString(v.Key), Size: aws.ToInt64(v.Size), ETag: aws.ToString(v.ETag), LastModified: aws.ToTime(v.LastModified)}
			if id := aws.ToString(v.VersionId); id != "null" {
				obj.VersionID = id
			}
			if err := consider(spec, obj, oldest, st, fn); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

// consider counts one listed object and hands it to fn when it is in the window.
func consider(spec *Spec, obj Object, oldest time.Time, st *ListStats, fn func(Object) error) error {
	st.Listed.Add(1)
	if _, err := engine.ParseObjectKey(obj.Key); err != nil {
		st.BadKeys.Add(1)
		return nil
	}
	lm := obj.LastModified
	switch {
	case !spec.Since.IsZero() && lm.Before(spec.Since):
		st.BeforeWindow.Add(1)
		return nil
	case !spec.Until.IsZero() && !lm.Before(spec.Until):
		st.AfterWindow.Add(1)
		return nil
	}
	obj.ETag, obj.LastModified, obj.TooOld = strings.Trim(obj.ETag, `"`), lm.UTC(), lm.Before(oldest)
	st.Matched.Add(1)
	st.MatchedBytes.Add(obj.Size)
	if obj.TooOld {
		st.TooOld.Add(1)
	}
	return fn(obj)
}
