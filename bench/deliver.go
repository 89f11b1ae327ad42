package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/parser"
)

func init() {
	scenarioSetups[Deliver] = setupDeliver
}

// cloudWatchClient is a real SDK client aimed at the strict endpoint; the fake checks only that requests are
// signed, so any static credentials do.
func cloudWatchClient(endpoint string) (*cloudwatchlogs.Client, error) {
	if endpoint == "" {
		return nil, errors.New("no CloudWatch Logs endpoint")
	}
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
	}
	return cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}), nil
}

// objectShapes decodes an object once (untimed) to learn its events' timestamps and message sizes, and its
// uncompressed size.
func objectShapes(path string) ([]EventShape, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := parser.NewReader(f, parseFallback)
	defer r.Close()
	var out []EventShape
	var msg []byte
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r.Stats().BytesOut, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if msg, err = ev.AppendMessage(msg[:0]); err != nil {
			return nil, 0, err
		}
		out = append(out, EventShape{Timestamp: ev.Timestamp, Bytes: len(msg)})
	}
}

// setupDeliver parses the object and hands every event to one batcher that sends to the strict endpoint in
// another process; one iteration is one object delivered and acknowledged (Close).
func setupDeliver(_ context.Context, cs ChildSpec, info *ChildResult) (iteration, func(), error) {
	client, err := cloudWatchClient(cs.Endpoint)
	if err != nil {
		return nil, nil, err
	}
	shapes, _, err := objectShapes(cs.Objects[0])
	if err != nil {
		return nil, nil, err
	}
	info.MinRequestsPerIteration = MinRequests(shapes, 0)
	existence := batcher.NewExistenceCache(16)
	dest := batcher.Destination{LogGroup: "/logrouter/bench", LogStream: "deliver"}
	run := func(ctx context.Context) (iterStats, error) {
		f, err := os.Open(cs.Objects[0])
		if err != nil {
			return iterStats{}, err
		}
		defer f.Close()
		r := parser.NewReader(f, parseFallback, func(o *parser.Options) { o.Pipeline = cs.Pipeline })
		defer r.Close()
		b := batcher.New(ctx, client, "bench", dest, func(o *batcher.Options) { o.Existence = existence })
		var st iterStats
		for {
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_, _ = b.Close()
				return st, err
			}
			st.events++
			be := batcher.Event{Timestamp: ev.Timestamp, Message: ev.Message, Escaped: ev.Escaped}
			if ev.Escaped && !ev.UnicodeEscapes {
				be.TextLen = ev.TextLen // as the engine hands events over
			}
			if err := b.Add(be); err != nil {
				_, _ = b.Close()
				return st, fmt.Errorf("add: %w", err)
			}
		}
		res, err := b.Close()
		if err != nil {
			return st, fmt.Errorf("deliver: %w", err)
		}
		if res.Acked != st.events {
			return st, fmt.Errorf("deliver: %d of %d events acknowledged", res.Acked, st.events)
		}
		st.bytes = r.Stats().BytesOut
		st.requests = res.Stats.Requests
		st.fillSum = res.Stats.FillSum
		return st, nil
	}
	return run, func() {}, nil
}
