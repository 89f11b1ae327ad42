package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/logrouter/logrouter/tenant"
)

// Metadata keys set on every S3 copy (x-amz-meta-*), for traceability. Values that are not printable
// ASCII are percent-encoded (source-key always is).
const (
	MetaSourceBucket = "logrouter-source-bucket"
	MetaSourceKey    = "logrouter-source-key"
	MetaTenant       = "logrouter-tenant-id"
	MetaCluster      = "logrouter-cluster-id"
	MetaApplication  = "logrouter-application"
	MetaPod          = "logrouter-pod-name"
	MetaDeliveredAt  = "logrouter-delivered-at"
)

// copySource renders bucket/key for x-amz-copy-source: every byte but unreserved characters and the "/"
// separators percent-encoded, so spaces, "+", "%" and non-ASCII keys reach S3 unambiguously.
func copySource(bucket, key string, versionID string) string {
	s := escapePath(bucket) + "/" + escapePath(key)
	if versionID != "" {
		s += "?versionId=" + escapePath(versionID)
	}
	return s
}

func escapePath(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// metaValue keeps printable ASCII as is and percent-encodes anything else (HTTP headers carry ASCII only).
func metaValue(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '%' {
			return escapePath(s)
		}
	}
	return s
}

// S3Encryption is the server-side encryption (and KMS key, nil for none) that copies into c's bucket
// request; validation writes its marker object with the same settings.
func S3Encryption(c tenant.Config) (types.ServerSideEncryption, *string) { return sseOf(c) }

func sseOf(c tenant.Config) (types.ServerSideEncryption, *string) {
	switch strings.ToLower(c.SSE) {
	case "aes256", "sse-s3":
		return types.ServerSideEncryptionAes256, nil
	case "aws:kms", "sse-kms", "kms":
		return types.ServerSideEncryptionAwsKms, nonEmpty(c.KMSKeyID)
	case "":
		if c.KMSKeyID != "" {
			return types.ServerSideEncryptionAwsKms, &c.KMSKeyID
		}
	}
	return "", nil
}

// copyObject copies the object server-side into the tenant's bucket with central-role credentials.
func (p *Processor) copyObject(ctx context.Context, obj ObjectRef, key ObjectKey, etag string, lastModified time.Time, d *delivery) {
	client, err := p.clients.S3(ctx, d.res.Region)
	if err != nil {
		d.res.set(classifyCopy(ctx, fmt.Errorf("S3 client for %s: %w", d.res.Region, err)))
		return
	}
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(d.cfg.BucketName),
		Key:               aws.String(d.res.Key),
		CopySource:        aws.String(copySource(obj.Bucket, obj.Key, obj.VersionID)),
		ACL:               types.ObjectCannedACLBucketOwnerFullControl,
		MetadataDirective: types.MetadataDirectiveReplace,
		Metadata: map[string]string{
			MetaSourceBucket: metaValue(obj.Bucket),
			MetaSourceKey:    escapePath(obj.Key),
			MetaTenant:       metaValue(key.TenantID),
			MetaCluster:      metaValue(key.ClusterID),
			MetaApplication:  metaValue(key.Application),
			MetaPod:          metaValue(key.PodName),
			MetaDeliveredAt:  p.o.Now().UTC().Format(time.RFC3339),
		},
	}
	if strings.HasSuffix(obj.Key, ".gz") || strings.HasSuffix(obj.Key, ".gzip") {
		in.ContentType = aws.String("application/gzip")
	} else {
		in.ContentType = aws.String("application/x-ndjson")
	}
	if etag != "" {
		in.CopySourceIfMatch = aws.String(`"` + etag + `"`)
	}
	in.ServerSideEncryption, in.SSEKMSKeyId = sseOf(d.cfg)
	if _, err := client.CopyObject(ctx, in); err != nil {
		st := classifyCopy(ctx, fmt.Errorf("copy to s3://%s/%s: %w", d.cfg.BucketName, d.res.Key, err))
		if apiCode(err) == "PreconditionFailed" {
			st = status{OutcomeDropped, ReasonSourceSuperseded, err}
		}
		d.res.set(st)
		return
	}
	d.res.Bytes = obj.Size
	p.count(func(m *Metrics) { m.CopiedBytes.Add(float64(obj.Size)) })
	// Recorded by the object's final write, with its other destinations' outcomes: a crash before it repeats
	// the copy (the same object to the same key).
	d.final = &Progress{Done: true}
	if lastModified.IsZero() {
		lastModified = obj.EventTime
	}
	p.observeLatency(tenant.TypeS3, obj, lastModified)
}
