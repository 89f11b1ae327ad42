package replay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pagedLister serves n objects of one tenant, two per page; before the page starting at pauseAt it moves the
// clock by pause (a slow listing).
type pagedLister struct {
	n, pauseAt int
	pause      time.Duration
	clock      *time.Time
}

func (l *pagedLister) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if aws.ToString(in.Delimiter) == "/" {
		return &s3.ListObjectsV2Output{CommonPrefixes: []s3types.CommonPrefix{{Prefix: aws.String("c1/")}}}, nil
	}
	from := 0
	if in.ContinuationToken != nil {
		fmt.Sscan(*in.ContinuationToken, &from)
	}
	if from == l.pauseAt {
		*l.clock = l.clock.Add(l.pause)
	}
	out := &s3.ListObjectsV2Output{}
	for i := from; i < min(from+2, l.n); i++ {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(fmt.Sprintf("c1/acme/app/pod/f%03d", i)), Size: aws.Int64(1),
			LastModified: aws.Time(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))})
	}
	if from+2 < l.n {
		out.IsTruncated, out.NextContinuationToken = aws.Bool(true), aws.String(fmt.Sprint(from+2))
	}
	return out, nil
}

// sentAt records when (on the fake clock) each batch was sent.
type sentAt struct {
	clock *time.Time
	at    []time.Time
	sizes []int
}

func (s *sentAt) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.at = append(s.at, *s.clock)
	s.sizes = append(s.sizes, len(in.Entries))
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// The rate bounds every batch's spacing; time a slow listing lost is not made up with a burst.
func TestEnqueuePacing(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clock := start
	q := &sentAt{clock: &clock}
	o := Options{Lister: &pagedLister{n: 12, pauseAt: 6, pause: 10 * time.Second, clock: &clock}, Queue: q, QueueURL: "q", KeyID: "k",
		Secret: []byte("0123456789abcdef"), Rate: 2,
		Now:  func() time.Time { return clock },
		Wait: func(ctx context.Context, d time.Duration) error { clock = clock.Add(d); return nil }}
	spec := Spec{ID: "r-1", Tenant: "acme", Bucket: "central"}
	sum, err := Run(context.Background(), &spec, o, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 12, sum.Messages)
	require.Equal(t, []int{2, 2, 2, 2, 2, 2}, q.sizes, "batches of 2 at 2/s")
	var offsets []time.Duration
	for _, at := range q.at {
		offsets = append(offsets, at.Sub(start))
	}
	// f000-f001 at 0s, f002-f003 at 1s, f004-f005 at 2s; the listing then stalls 10s (page from f006):
	// the next batch leaves at once (12s) and the following ones a second apart again.
	assert.Equal(t, []time.Duration{0, time.Second, 2 * time.Second, 12 * time.Second, 13 * time.Second, 14 * time.Second}, offsets)
}
