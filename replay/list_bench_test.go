package replay

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// synthLister serves clusters × perCluster keys of one tenant in pages of 1,000, generating each page on
// demand (nothing is kept between pages).
type synthLister struct{ clusters, perCluster int }

func (l synthLister) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if aws.ToString(in.Delimiter) == "/" {
		out := &s3.ListObjectsV2Output{}
		for c := range l.clusters {
			out.CommonPrefixes = append(out.CommonPrefixes, s3types.CommonPrefix{Prefix: aws.String(fmt.Sprintf("c%03d/", c))})
		}
		return out, nil
	}
	from := 0
	if in.ContinuationToken != nil {
		from, _ = strconv.Atoi(*in.ContinuationToken)
	}
	prefix := aws.ToString(in.Prefix)
	out := &s3.ListObjectsV2Output{Contents: make([]s3types.Object, 0, listPage)}
	lm := aws.Time(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	for i := from; i < min(from+int(listPage), l.perCluster); i++ {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(fmt.Sprintf("%sapp/pod-%d/%08d.json.gz", prefix, i%50, i)),
			Size: aws.Int64(4096), ETag: aws.String(`"abc"`), LastModified: lm})
	}
	if end := from + int(listPage); end < l.perCluster {
		out.IsTruncated, out.NextContinuationToken = aws.Bool(true), aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// BenchmarkList lists a tenant's keys over 4 clusters; heap-KiB (heap in use, sampled during the listing)
// stays about that of a few pages whatever the number of keys: compare keys=20000 with keys=400000.
func BenchmarkList(b *testing.B) {
	for _, perCluster := range []int{5_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", 4*perCluster), func(b *testing.B) {
			l := synthLister{clusters: 4, perCluster: perCluster}
			spec := Spec{ID: "r-1", Tenant: "acme", Bucket: "central"}
			var peak uint64
			b.ReportAllocs()
			for b.Loop() {
				var st ListStats
				n := 0
				err := List(context.Background(), l, &spec, time.Now(), &st, func(o Object) error {
					n++
					if n%5_000 == 0 {
						var m runtime.MemStats
						runtime.ReadMemStats(&m)
						peak = max(peak, m.HeapInuse)
					}
					return nil
				})
				if err != nil || n != 4*perCluster {
					b.Fatalf("listed %d: %v", n, err)
				}
			}
			b.ReportMetric(float64(peak)/1024, "heap-KiB")
		})
	}
}
